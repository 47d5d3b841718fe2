"""Codec CPU per verification: one VERIFY request and its response, against a 1,000-item VERIFY_BATCH.

Each round encodes the request, decodes it (as the resolver does), encodes the response and decodes
it (as the SDK does). Prints a table, the ratio, and as its last line one JSON object.

    .venv/bin/python bench/codec_batch.py [--items 1000] [--rounds 2000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "adapters"))

from dancu_bus.contracts import Request, Response, ResponseStatus, VerifyQuery
from dancu_bus.operations import platform_codec
from dancu_bus.operations.verify import verify
from dancu_bus.operations.verify_batch import VerifyBatchQuery, VerifyBatchResult

CODEC = platform_codec()
NOW = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
QUERY = VerifyQuery("001090012345", "Nguyễn Văn An", date(1990, 1, 2), "1")


def _pair(body: object, result: object, operation: str) -> tuple[Request, Response]:
    request = Request(
        "5f0f8f0e-8a4b-4c3e-9b1a-4e0f6d2c7a11", "demo-telecom", "can-bo-9", "SIM-2026", "SIM-OWNER",
        "Nghị định 163/2024/NĐ-CP, Điều 17", operation, NOW, NOW + timedelta(seconds=60), body,  # type: ignore[arg-type]
    )  # fmt: skip
    response = Response(
        request.request_id, "7d1f0e3a-2c4b-5a6d-9e8f-1a2b3c4d5e6f", "demo-telecom", operation,
        ResponseStatus.OK, NOW, result=result,
    )  # fmt: skip
    return request, response


def _seconds_per_round(request: Request, response: Response, rounds: int) -> float:
    started = time.process_time()
    for _ in range(rounds):
        CODEC.decode_request(CODEC.encode_request(request))
        CODEC.decode_response(CODEC.encode_response(response))
    return (time.process_time() - started) / rounds


def main() -> None:
    """Measure both, print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    items = tuple(dataclasses.replace(QUERY, personal_id=f"001090{i:06d}") for i in range(args.items))
    single = _seconds_per_round(*_pair(QUERY, verify(QUERY, None), "VERIFY"), args.rounds)
    batch_result = VerifyBatchResult(tuple(verify(q, None) for q in items))
    batch_rounds = max(1, args.rounds * 10 // args.items)
    batch = _seconds_per_round(*_pair(VerifyBatchQuery(items), batch_result, "VERIFY_BATCH"), batch_rounds)
    per_item = batch / args.items
    print(f"{'codec, encode+decode of request and response':<48} {'µs per verification':>20}")
    print(f"{'VERIFY, one request':<48} {single * 1e6:>20.1f}")
    print(f"{f'VERIFY_BATCH, {args.items} items':<48} {per_item * 1e6:>20.1f}")
    print(f"{'ratio (single / batch item)':<48} {single / per_item:>20.1f}")
    print(json.dumps({"single_us": round(single * 1e6, 2), "batch_item_us": round(per_item * 1e6, 2),
                      "items": args.items, "ratio": round(single / per_item, 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
