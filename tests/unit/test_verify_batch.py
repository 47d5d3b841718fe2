"""VERIFY_BATCH's pure parts: checks, per-item answers and quota, wire form, the audit's items, the SDK's
window, verify-file's rows and journal."""

from __future__ import annotations

import concurrent.futures
import dataclasses
from datetime import date, timedelta
from pathlib import Path

import pytest

from dancu_bus.agencies import Purpose, Quota
from dancu_bus.audit import Pairing, SeenRequest, exchange_ids, request_half, request_items, response_half
from dancu_bus.catalogues import packaged_view
from dancu_bus.cli.verify_file import Journal, query_of, result_cells
from dancu_bus.contracts import (
    Address,
    Citizen,
    ItemStatus,
    Request,
    Response,
    ResponseStatus,
    VerifyQuery,
)
from dancu_bus.exchanges import item_exchange_id
from dancu_bus.operations import Asking, platform_codec
from dancu_bus.operations.verify import verify
from dancu_bus.operations.verify_batch import MAX_ITEMS, VERIFY_BATCH, VerifyBatchQuery, VerifyBatchResult
from dancu_bus.reasons import Reason, Rejection
from dancu_bus.resolver.quota import QuotaBook
from dancu_bus.sdk.batches import BatchWindow, chunked
from dancu_bus.transport import TopicPartition
from tests.unit import samples

CODEC = platform_codec()
PURPOSE = Purpose(legal_basis="x", operations=frozenset({"VERIFY"}), fields=frozenset({"full_name"}))
GOOD = VerifyQuery("001090012345", full_name="Nguyễn Văn An")
EXCHANGE = samples.VERIFY_EXCHANGE
CITIZEN = Citizen(
    "001090012345", "Nguyễn Văn An", date(1990, 1, 2), "1", "01", "00", "VN", samples.ADDRESS, "H1", "01",
    None, "ALIVE",
)  # fmt: skip
QUOTA_5 = Quota(per_second=5, per_day=1000)
DAY = date(2026, 11, 27)


def _request(*items: VerifyQuery) -> Request:
    return dataclasses.replace(samples.VERIFY_REQUEST, operation="VERIFY_BATCH", body=VerifyBatchQuery(items))


@pytest.mark.parametrize(
    ("count", "reason"),
    [(0, Reason.MALFORMED_REQUEST), (1, None), (MAX_ITEMS, None), (MAX_ITEMS + 1, Reason.BATCH_TOO_LARGE)],
)
def test_the_whole_batch_is_refused_only_for_its_count(count: int, reason: Reason | None) -> None:
    """No items or more than the cap refuse the batch; any count between is the items' business."""
    refusal = VERIFY_BATCH.check(VerifyBatchQuery((GOOD,) * count), PURPOSE, packaged_view())
    assert (refusal.reason if refusal else None) is reason


async def test_each_item_is_answered_as_verify_answers_it() -> None:
    """A good item gets VERIFY's flags; a garbage id, a field out of scope, nothing to compare: reasons."""
    citizen = CITIZEN
    items = (
        VerifyQuery(citizen.personal_id, full_name=citizen.full_name),
        VerifyQuery("12; DROP", full_name="A"),
        VerifyQuery(citizen.personal_id, phone="0900000000"),
        VerifyQuery(citizen.personal_id),
    )
    asking = Asking(PURPOSE, packaged_view(), {citizen.personal_id: citizen}, None)  # type: ignore[arg-type]
    result = await VERIFY_BATCH.answer(VerifyBatchQuery(items), asking)
    assert result.items[0] == verify(items[0], citizen)
    assert [o.reason for o in result.items[1:] if isinstance(o, Rejection)] == [
        Reason.INVALID_PERSONAL_ID,
        Reason.FIELD_OUT_OF_SCOPE,
        Reason.NOTHING_TO_VERIFY,
    ]
    assert VERIFY_BATCH.spent(result) == 1
    assert [s.status for s in result.item_statuses] == ["OK", "REJECTED", "REJECTED", "REJECTED"]


def test_the_quota_refuses_the_answered_items_beyond_what_it_grants() -> None:
    """Of three answered items and a refused one, a grant of two keeps the first two answers."""
    answered = verify(GOOD, None)
    refused = Rejection(Reason.INVALID_PERSONAL_ID, "x")
    over = Rejection(Reason.QUOTA_EXCEEDED, "5 requests per second")
    result = VERIFY_BATCH.within_quota(VerifyBatchResult((answered, refused, answered, answered)), 2, over)
    assert result == VerifyBatchResult((answered, refused, answered, over))


def test_take_many_grants_what_fits_and_names_the_limit() -> None:
    """A bucket of 5 a second grants 5 of 12, then 0 until it refills; the day's ceiling likewise."""
    book = QuotaBook()
    assert book.take_many("a", QUOTA_5, 0.0, DAY, 12) == (5, "5 requests per second")
    assert book.take_many("a", QUOTA_5, 0.0, DAY, 1) == (0, "5 requests per second")
    assert book.take_many("a", QUOTA_5, 1.0, DAY, 3) == (3, None)


def test_a_batch_round_trips_the_codec_with_refusals_and_verdicts() -> None:
    """Request and response of a batch decode to what was encoded, each item in its place."""
    request = _request(GOOD, VerifyQuery("x", sex="9", permanent_address=Address("DVHC-2025", "01", "00004")))
    assert CODEC.decode_request(CODEC.encode_request(request)) == request
    result = VerifyBatchResult((verify(GOOD, CITIZEN), Rejection(Reason.INVALID_PERSONAL_ID, "bad")))
    response = dataclasses.replace(samples.OK_RESPONSE, operation="VERIFY_BATCH", result=result)
    assert CODEC.decode_response(CODEC.encode_response(response)) == response


def test_item_exchange_ids_are_distinct_stable_and_not_the_records() -> None:
    """Each position has its own id, the same every time, none equal to the record's or another record's."""
    ids = [item_exchange_id(EXCHANGE, i) for i in range(MAX_ITEMS)]
    assert len(set(ids)) == MAX_ITEMS and EXCHANGE not in ids
    assert ids[7] == item_exchange_id(EXCHANGE, 7)
    assert item_exchange_id(samples.LOOKUP_EXCHANGE, 0) not in ids


def _seen(request: Request) -> SeenRequest:
    return SeenRequest("demo-bank", EXCHANGE, request, TopicPartition("t", 0), 5, samples.SENT)


def test_the_audit_records_each_item_with_its_own_status() -> None:
    """Two items, the second refused: two records, each its item's id, person and status."""
    request = _request(GOOD, VerifyQuery("bad-id", full_name="B"))
    result = VerifyBatchResult((verify(GOOD, None), Rejection(Reason.INVALID_PERSONAL_ID)))
    response = dataclasses.replace(samples.OK_RESPONSE, operation="VERIFY_BATCH", result=result)
    pairing = Pairing()
    assert pairing.add_response(EXCHANGE, response_half("demo-bank", response), samples.SENT) == []
    records = pairing.add_request(request_half(_seen(request)), samples.SENT, request_items(request))
    assert [(r.exchange_id, r.personal_id, r.status, r.reason_code) for r in records] == [
        (item_exchange_id(EXCHANGE, 0), GOOD.personal_id, "OK", None),
        (item_exchange_id(EXCHANGE, 1), "bad-id", "REJECTED", "INVALID_PERSONAL_ID"),
    ]
    assert exchange_ids(EXCHANGE, request) == tuple(r.exchange_id for r in records)


def test_a_whole_refusal_and_an_unanswered_batch_give_every_item_a_record() -> None:
    """A refused batch within the cap: each item REJECTED with the reason; unanswered: each UNANSWERED."""
    request = _request(GOOD, GOOD, GOOD)
    refused = dataclasses.replace(
        samples.OK_RESPONSE, status=ResponseStatus.REJECTED, reason_code="EXPIRED", result=None
    )
    pairing = Pairing()
    pairing.add_request(request_half(_seen(request)), samples.SENT, request_items(request))
    late = samples.SENT + timedelta(seconds=301)
    assert [r.status for r in pairing.expire(late, 300, 86_400)] == ["UNANSWERED"] * 3
    records = pairing.add_response(EXCHANGE, response_half("demo-bank", refused), late)
    assert [(r.status, r.reason_code) for r in records] == [("REJECTED", "EXPIRED")] * 3


def test_a_batch_over_the_cap_is_one_exchange() -> None:
    """Over the cap (or empty) the record is one exchange, with no personal id: the audit stays bounded."""
    for request in (_request(*(GOOD,) * (MAX_ITEMS + 1)), _request()):
        assert request_items(request) == () and exchange_ids(EXCHANGE, request) == (EXCHANGE,)


def test_waiting_halves_keep_their_items_through_the_state_topic() -> None:
    """A request half and a response half of a batch encode and decode with their items."""
    request = _request(GOOD, VerifyQuery("x"))
    pairing = Pairing()
    pairing.add_request(request_half(_seen(request)), samples.SENT, request_items(request))
    (half,) = pairing.changes()[0]
    assert CODEC.decode_pending(CODEC.encode_pending(half)) == half and half.items == (GOOD.personal_id, "x")
    answer = dataclasses.replace(response_half("demo-bank", samples.OK_RESPONSE), items=(ItemStatus("OK"),))
    alone = dataclasses.replace(half, request=None, response=answer, items=())
    assert CODEC.decode_pending(CODEC.encode_pending(alone)) == alone


class _Exchange:
    """Answers the second batch as it is sent, then the first: newest first; later ones at once."""

    def __init__(self) -> None:
        self.futures: list[tuple[Request, concurrent.futures.Future[Response]]] = []
        self.yielded = 0
        self.most_held = 0

    def submit(self, request: Request) -> concurrent.futures.Future[Response]:
        future: concurrent.futures.Future[Response] = concurrent.futures.Future()
        self.futures.append((request, future))
        self.most_held = max(self.most_held, len(self.futures) - self.yielded)
        if len(self.futures) == 2:
            for asked, waiting in reversed(self.futures):
                waiting.set_result(_answer(asked))
        elif len(self.futures) > 2:
            future.set_result(_answer(request))
        return future

    def forget(self, request_id: str) -> None:
        raise AssertionError(f"{request_id} forgotten")


def _answer(request: Request) -> Response:
    assert isinstance(request.body, VerifyBatchQuery)
    result = VerifyBatchResult(tuple(verify(q, None) for q in request.body.items))
    return dataclasses.replace(samples.OK_RESPONSE, request_id=request.request_id, result=result)


def test_the_window_yields_in_order_holds_at_most_in_flight_and_passes_empty_batches() -> None:
    """Batches answered newest first still come out in input order; no more than two are ever held."""
    exchange = _Exchange()
    journal: list[tuple[int, str]] = []

    def build(query: VerifyBatchQuery) -> Request:
        return dataclasses.replace(_request(*query.items), request_id=f"r{len(exchange.futures)}")

    batches = [(0, [GOOD]), (1, [GOOD, GOOD]), (2, []), (3, [GOOD]), (4, [GOOD])]
    window: BatchWindow[int] = BatchWindow(
        exchange, build, 2, 5.0, lambda t, r: journal.append((t, r.request_id))
    )
    out = []
    for tag, answers in window.run(batches):
        exchange.yielded += 1 if answers else 0
        out.append((tag, len(answers)))
    assert out == [(0, 1), (1, 2), (2, 0), (3, 1), (4, 1)]
    assert journal == [(0, "r0"), (1, "r1"), (3, "r2"), (4, "r3")]  # the empty batch asked nothing
    assert exchange.most_held <= 2


def test_chunked_bounds_the_batch_size() -> None:
    """Rows come in batches of the size asked; a size outside 1 to the cap is refused."""
    assert [len(b) for b in chunked([GOOD] * 5, 2)] == [2, 2, 1]
    with pytest.raises(ValueError, match="1 to 1000"):
        next(chunked([GOOD], MAX_ITEMS + 1))


@pytest.mark.parametrize(
    ("cells", "detail"),
    [
        ({"personal_id": ""}, "personal_id is empty"),
        ({"personal_id": "1", "birth_date": "1990-02-30"}, "not a date"),
        ({"personal_id": "1", "full_name": "x" * 201}, "longer than 200"),
        ({"personal_id": "1", "province_code": "01"}, "an address needs"),
    ],
)
def test_a_row_that_is_no_verification_is_refused_with_what_is_wrong(
    cells: dict[str, str], detail: str
) -> None:
    """verify-file answers such a row itself (MALFORMED_REQUEST), saying why."""
    refusal = query_of(cells)
    assert isinstance(refusal, Rejection) and refusal.reason is Reason.MALFORMED_REQUEST
    assert detail in refusal.detail
    assert result_cells(refusal)[:2] == ["", "MALFORMED_REQUEST"]


def test_a_row_becomes_its_verification() -> None:
    """Cells are trimmed, empty ones not supplied, the address assembled."""
    row = {"personal_id": " 001090012345 ", "full_name": "An", "birth_date": "1990-01-02", "sex": "",
           "address_scheme": "DVHC-2025", "province_code": "01", "commune_code": "00004"}  # fmt: skip
    query = query_of(row)
    assert query == VerifyQuery(
        "001090012345", "An", date(1990, 1, 2), permanent_address=Address("DVHC-2025", "01", "00004")
    )


def test_the_journal_ignores_a_torn_line_and_forgets_batches_done(tmp_path: Path) -> None:
    """Sent batches before the last durable one are dropped; a batch sent again replaces the first send."""
    path = tmp_path / "out.csv.progress"
    path.write_text(
        '{"input": {"size": 1}}\n{"done": 0, "offset": 10}\n'
        '{"sent": "a", "first": 0, "rows": 5, "at": "x"}\n{"sent": "b", "first": 5, "rows": 5, "at": "x"}\n'
        '{"done": 5, "offset": 99}\n{"sent": "c", "first": 5, "rows": 5, "at": "y"}\n{"done": 1',
        encoding="utf-8",
    )
    journal = Journal.read(path)
    assert (journal.done, journal.offset) == (5, 99)
    assert [s["sent"] for s in journal.sent.values()] == ["c"]
