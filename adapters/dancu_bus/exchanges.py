"""The identity of an exchange: where its request record arrived, never an id the agency chose. Pure.

Every request record is one exchange, duplicates and refusals included. Its id is a name-based
UUID (RFC 9562, version 5) of the request topic, partition, offset and the record's timestamp,
which the resolver puts in the response and the audit uses as the key of the exchange's record.
Both derive it from the same stored record, so they agree without trusting each other or the agency;
a record read again (a replay after a restart) has the same id, and no two records have one. The
timestamp is the broker's (request topics use ``LogAppendTime``), so a topic deleted and created
again, which starts its offsets over, still gives new ids.

Any language recomputes it: UUIDv5 with namespace ``EXCHANGE_NAMESPACE`` over the UTF-8 text
``<topic>/<partition>/<offset>/<timestamp in epoch milliseconds>``.

A record of several items (VERIFY_BATCH) is one exchange per item: item ``i`` is the UUIDv5 with
namespace ``ITEM_NAMESPACE`` over ``<the record's exchange id>/<i>``. The record's exchange id is the
platform's and ``i`` is bounded by the batch cap, so no agency can choose an item's id either; the
namespaces differ, so no item id is ever a record's.
"""

from __future__ import annotations

import uuid

__all__ = ["EXCHANGE_NAMESPACE", "ITEM_NAMESPACE", "exchange_id", "item_exchange_id"]

EXCHANGE_NAMESPACE = uuid.UUID("6f1d4d0e-8a4b-5c3e-9b1a-4e0f6d2c7a11")
ITEM_NAMESPACE = uuid.UUID("0c9b7d52-3f1e-5a8c-8e24-71d5b6a9e3f0")


def exchange_id(topic: str, partition: int, offset: int, timestamp_ms: int) -> str:
    """The exchange id of the request record at ``offset`` of ``topic``'s ``partition``."""
    return str(uuid.uuid5(EXCHANGE_NAMESPACE, f"{topic}/{partition}/{offset}/{timestamp_ms}"))


def item_exchange_id(exchange: str, index: int) -> str:
    """The exchange id of item ``index`` (from 0) of the record whose exchange id is ``exchange``."""
    return str(uuid.uuid5(ITEM_NAMESPACE, f"{exchange}/{index}"))
