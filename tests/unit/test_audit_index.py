"""The audit index's pure parts: retention from topics.yaml, changes from fetched records, the CLI's text."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from dancu_bus.audit.indexer import changes_of
from dancu_bus.cli.audit_index import query_of, record_fields, write_page
from dancu_bus.cli.main import build_parser
from dancu_bus.cli.moments import parse_day, parse_moment, parse_period
from dancu_bus.cli.topics import audit_retention
from dancu_bus.errors import ConfigError
from dancu_bus.inspection import Period
from dancu_bus.operations import platform_codec
from dancu_bus.settings import KafkaSettings, Settings
from dancu_bus.store.audit_index import AuditPage, AuditQuery, expiry_cutoff
from dancu_bus.store.audit_index.query import After, decode_cursor, encode_cursor
from dancu_bus.store.audit_index.rows import positions_of
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics import TopicsFile, packaged_topics, time_retention
from dancu_bus.transport.records import Incoming, Unreadable
from tests.unit.samples import AUDIT

CODEC = platform_codec()


def test_the_packaged_audit_retention_is_five_years() -> None:
    """topics.yaml keeps the audit 157,852,800,000 ms (1827 days), and the index follows it."""
    assert time_retention(packaged_topics(), "ndxp.dancu.audit", "ndxp.dancu") == timedelta(days=1827)


def _with_audit_configs(configs: dict[str, str]) -> TopicsFile:
    file = packaged_topics()
    topics = tuple(
        t.model_copy(update={"configs": configs}) if t.name == f"{file.prefix}.audit" else t
        for t in file.topics
    )
    return file.model_copy(update={"topics": topics})


@pytest.mark.parametrize(
    ("configs", "expected"),
    [
        ({"cleanup.policy": "compact"}, None),
        ({"cleanup.policy": "compact,delete", "retention.ms": "-1"}, None),
        ({"cleanup.policy": "delete,compact", "retention.ms": "3600000"}, timedelta(hours=1)),
        ({"cleanup.policy": "delete"}, timedelta(days=7)),
    ],
)
def test_retention_follows_the_audit_topics_policy(
    configs: dict[str, str], expected: timedelta | None
) -> None:
    """Compaction only, or -1, keeps records forever; delete without retention.ms is Kafka's 7 days."""
    assert time_retention(_with_audit_configs(configs), "ndxp.dancu.audit", "ndxp.dancu") == expected


def test_the_deployments_prefix_names_the_audit_topic_of_the_file() -> None:
    """Under another prefix (as `topics apply` creates them) the audit topic is still the file's audit one."""
    file = _with_audit_configs({"retention.ms": "3600000"})
    names = TopicNames("test.run-7")
    assert time_retention(file, names.audit, names.prefix) == timedelta(hours=1)
    with pytest.raises(ConfigError, match=r"declares no topic test\.run-7\.audit"):
        time_retention(file, names.audit, "ndxp.dancu")  # a name not under the prefix it is said to be


def test_a_topics_file_without_an_audit_topic_is_a_config_error() -> None:
    """The index cannot guess a retention: ConfigError naming the topic and --topics."""
    file = packaged_topics()
    topics = tuple(t for t in file.topics if t.name != f"{file.prefix}.audit")
    with pytest.raises(ConfigError, match=r"declares no topic ndxp\.dancu\.audit .*--topics FILE"):
        time_retention(file.model_copy(update={"topics": topics}), "ndxp.dancu.audit", "ndxp.dancu")


def test_audit_index_and_audit_archive_read_retention_from_the_same_topics_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both take --topics FILE and read it as `topics plan` does, under the deployment's prefix."""
    file = _with_audit_configs({"cleanup.policy": "delete", "retention.ms": "86400000"})
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(file.model_dump(mode="json", exclude_defaults=True)), encoding="utf-8")
    settings = Settings(kafka=KafkaSettings(topic_prefix="test.other"))
    parser = build_parser()
    index = parser.parse_args(["audit", "index", "--once", "--topics", str(path)])
    archive = parser.parse_args(
        ["audit", "archive", "--before", "2026-06-01", "--out", "a", "--topics", str(path)]
    )
    assert index.topics == archive.topics == path
    assert audit_retention(archive.topics, settings) == timedelta(days=1)
    monkeypatch.chdir(tmp_path)
    assert audit_retention(None, settings) == timedelta(days=1)  # no file given: ./topics.yaml
    path.unlink()
    assert audit_retention(None, settings) == timedelta(days=1827)  # and without one, the packaged file


def test_the_cutoff_is_now_less_the_retention_or_none() -> None:
    """Rows older than now − retention expire; without a time retention nothing does."""
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert expiry_cutoff(now, timedelta(days=1)) == datetime(2026, 5, 31, tzinfo=UTC)
    assert expiry_cutoff(now, None) is None


def fetched(offset: int, key: bytes | None, value: bytes | None, unreadable: bool = False) -> Incoming:
    """A record of audit partition 1 as the reader returns it."""
    broken = Unreadable(offset, offset, "corrupt batch") if unreadable else None
    return Incoming("ndxp.dancu.audit", 1, offset, 0, key, value, (), unreadable=broken)


def test_fetched_records_become_rows_or_skips(caplog: pytest.LogCaptureFixture) -> None:
    """A decodable record keyed by its exchange id is a row; the rest, a tombstone among them, are counted.

    The audit writes no tombstones and ``verify`` reports one as a deletion: the index keeps the row
    (no change for it) and says so once, as an error.
    """
    key = AUDIT.exchange_id.encode()
    records = [
        fetched(0, key, CODEC.encode_audit(AUDIT)),
        fetched(1, key, b"\xc3\x01 not avro"),
        fetched(2, b"another-key", CODEC.encode_audit(AUDIT)),
        fetched(3, None, CODEC.encode_audit(AUDIT)),
        fetched(4, b"\xff\xfe", None),
        fetched(5, key, None, unreadable=True),
        fetched(6, key, None),
    ]
    with caplog.at_level(logging.ERROR, logger="dancu_bus.audit.indexer"):
        changes, skipped = changes_of(records, CODEC)
    assert skipped == 6
    ((exchange_id, row),) = changes
    assert exchange_id == AUDIT.exchange_id and row is not None
    assert (row.record, row.partition, row.offset) == (AUDIT, 1, 0)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [f"audit index: tombstone for {AUDIT.exchange_id!r}: kept; the audit writes none"]


def test_positions_are_read_only_from_rows_of_the_followed_topic() -> None:
    """Both backends check positions alike: rows of another topic name it, --rebuild and the setting."""
    rows = [("ndxp.dancu.audit", 0, 7), ("ndxp.dancu.audit", 2, 3)]
    assert positions_of(rows, "ndxp.dancu.audit", "at x.sqlite3", "DANCU_AUDIT_INDEX__PATH") == {0: 7, 2: 3}
    assert positions_of([], "ndxp.dancu.audit", "at x.sqlite3", "DANCU_AUDIT_INDEX__PATH") == {}
    with pytest.raises(ConfigError) as caught:
        positions_of(
            [*rows, ("test.dancu.audit", 1, 1)], "ndxp.dancu.audit", "in PostgreSQL", "DANCU_AUDIT_INDEX__DSN"
        )
    assert str(caught.value) == (
        "the audit index in PostgreSQL was filled from test.dancu.audit, not ndxp.dancu.audit:"
        " rebuild it with `dancu-bus audit index --rebuild` (or set DANCU_AUDIT_INDEX__DSN)"
    )


def test_a_cursor_round_trips_only_for_its_query() -> None:
    """A cursor decodes to where it points for its own query, and is refused by another."""
    q = AuditQuery(agency="demo-bank", start=datetime(2026, 1, 1, tzinfo=UTC))
    cursor = encode_cursor(q, After(1_767_225_600_000, AUDIT.exchange_id))
    assert decode_cursor(q, cursor) == After(1_767_225_600_000, AUDIT.exchange_id)
    with pytest.raises(ConfigError, match="another query"):
        decode_cursor(dataclasses.replace(q, agency="demo-telecom"), cursor)


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("2026-03-01", False, datetime(2026, 2, 28, 17, tzinfo=UTC)),
        ("2026-03-01", True, datetime(2026, 3, 1, 17, tzinfo=UTC)),
        ("20260301", False, datetime(2026, 2, 28, 17, tzinfo=UTC)),
        ("2026-03-01T08:30:00", True, datetime(2026, 3, 1, 8, 30, tzinfo=UTC)),
        ("2026-03-01 08:30", False, datetime(2026, 3, 1, 8, 30, tzinfo=UTC)),
        ("20260301T0830", False, datetime(2026, 3, 1, 8, 30, tzinfo=UTC)),
        ("2026-03-01T15:30:00+07:00", False, datetime(2026, 3, 1, 8, 30, tzinfo=UTC)),
    ],
)
def test_a_date_is_a_vietnam_day_and_a_datetime_utc(text: str, end: bool, expected: datetime) -> None:
    """A date starts its Vietnam day (with ``end``, the next: the day is included); a naive time is UTC."""
    assert parse_moment(text, "--to", end=end) == expected


def test_audit_query_and_audit_report_read_the_same_dates_as_the_same_period() -> None:
    """`audit query --from D1 --to D2` selects exactly what `audit report --from D1 --to D2` counts."""
    q = query_of(query_args(start="2026-03-01", end="20260331"))
    period = Period(parse_day("2026-03-01", "--from"), parse_day("20260331", "--to"))
    assert (q.start, q.end) == (period.start, period.end)
    assert parse_day("20260331", "--to") == date(2026, 3, 31)


@pytest.mark.parametrize("text", ["1/3/2026", "2026-W09-1", "2026-060", "2026-02-30", "2026-03-01T25:00", ""])
def test_a_date_that_is_none_is_a_config_error(text: str) -> None:
    """Not a date (week and ordinal dates are none either): one line naming the option and both forms."""
    with pytest.raises(
        ConfigError, match=r"^--from '.*' is not a date \(YYYY-MM-DD or YYYYMMDD, a day in Vietnam"
    ):
        parse_moment(text, "--from", end=False)
    with pytest.raises(ConfigError, match=r"^--to '.*' is not a day: give YYYY-MM-DD"):
        parse_day(text, "--to")


@pytest.mark.parametrize(
    ("start", "end"), [("2026-03-02", "2026-03-01"), ("2026-03-01T10:00", "2026-03-01T10:00")]
)
def test_an_empty_period_is_refused(start: str, end: str) -> None:
    """--from at or after --to could match nothing: a clear error instead of an empty page."""
    with pytest.raises(ConfigError, match=rf"^--from '{start}' is not before --to '{end}'"):
        query_of(query_args(start=start, end=end))
    assert parse_period("2026-03-01", "2026-03-01") == (  # one day: --to includes its day
        datetime(2026, 2, 28, 17, tzinfo=UTC),
        datetime(2026, 3, 1, 17, tzinfo=UTC),
    )


def query_args(**given: object) -> argparse.Namespace:
    """The options of `audit query`, none given unless named."""
    names = ("agency", "start", "end", "personal_id", "purpose", "operation", "outcome", "reason")
    return argparse.Namespace(**{name: given.get(name) for name in names})


def test_a_malformed_personal_id_is_refused_before_querying() -> None:
    """--personal-id is checked with dancu_bus.personal_id: a clear error, not an empty answer."""
    with pytest.raises(ConfigError, match="is not a personal id: has 5 characters"):
        query_of(query_args(personal_id="12345"))
    q = query_of(query_args(personal_id="001090012345", outcome="REJECTED", end="2026-03-01"))
    assert (q.personal_id, q.status, q.end) == (
        "001090012345",
        "REJECTED",
        datetime(2026, 3, 1, 17, tzinfo=UTC),
    )


def test_the_three_formats_hold_the_same_records() -> None:
    """JSON lines and CSV carry every field of each record; the table shows the same exchange ids."""
    records = [AUDIT, dataclasses.replace(AUDIT, exchange_id="e-2", fields_disclosed=("full_name", "sex"))]
    outputs = {}
    for form in ("json", "csv", "table"):
        out = io.StringIO()
        write_page(AuditPage(records, None), form, out)
        outputs[form] = out.getvalue()
    lines = [json.loads(line) for line in outputs["json"].splitlines()]
    assert lines == [record_fields(r) for r in records]
    rows = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert [r["exchange_id"] for r in rows] == [r["exchange_id"] for r in lines]
    assert rows[1]["fields_disclosed"] == "full_name;sex" and rows[0]["reason_code"] == ""
    table = outputs["table"].splitlines()
    assert table[0].split()[0] == "received_at"
    assert [line.split()[-1] for line in table[1:]] == [AUDIT.exchange_id, "e-2"]


def test_hostile_text_cannot_become_a_formula_or_a_terminal_control() -> None:
    """A CSV cell starting like a formula is quoted; a table cell with controls is shown escaped."""
    odd = dataclasses.replace(AUDIT, officer_id='=HYPERLINK("x")', purpose_code="K\x1b[2JYC")
    csv_out, table_out = io.StringIO(), io.StringIO()
    write_page(AuditPage([odd], None), "csv", csv_out)
    write_page(AuditPage([odd], None), "table", table_out)
    (row,) = csv.DictReader(io.StringIO(csv_out.getvalue()))
    assert row["officer_id"] == '\'=HYPERLINK("x")'
    assert "\x1b" not in table_out.getvalue() and "\\x1b" in table_out.getvalue()
