"""``dancu-bus audit index|query``: the queryable copy of the audit topic, and inspectors' queries of it.

``audit query`` prints one page: ``--format table`` (aligned text, every cell shown safely), ``csv``
(a header, then one row per record; lists joined with ``;``) or ``json`` (JSON lines: one object per
record, so pages concatenate). The cursor of the next page goes after the table, and to stderr for
csv and json so that stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TextIO

from dancu_bus.admin.diagnosis import wait_for_cluster
from dancu_bus.audit.indexer import IndexOptions, IndexProgress, run_index
from dancu_bus.cli.moments import MOMENT_HELP, parse_period
from dancu_bus.cli.services import serve
from dancu_bus.cli.topics import add_topics_option, audit_retention
from dancu_bus.contracts import AuditRecord
from dancu_bus.errors import ConfigError
from dancu_bus.lifecycle import stop_on_signals
from dancu_bus.operations import platform_codec
from dancu_bus.personal_id import PersonalIdError
from dancu_bus.personal_id import parse as parse_personal_id
from dancu_bus.settings import Settings
from dancu_bus.store.audit_index import AuditPage, AuditQuery, open_audit_index
from dancu_bus.text import printable, quoted, spreadsheet_safe

__all__ = ["record_fields", "register_verbs", "run_index_command", "run_query", "write_page"]

FORMATS = ("table", "csv", "json")
_TABLE = ("received_at", "agency", "operation", "purpose_code", "personal_id", "status", "reason_code",
          "fields_disclosed", "exchange_id")  # fmt: skip
_CELL = 48  # characters of a table cell


def register_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit index`` and ``audit query``."""
    index = verbs.add_parser(
        "index",
        help="keep the audit index (DANCU_AUDIT_INDEX__*: SQLite by default, or PostgreSQL) a copy of the"
        " audit topic, following it",
    )
    index.add_argument(
        "--rebuild", action="store_true", help="empty the index and read the topic from its start"
    )
    index.add_argument("--once", action="store_true", help="catch up to the topic's end, then exit")
    add_topics_option(index, "whose audit retention the index applies")
    index.add_argument("--timeout", type=float, default=300.0, help="--once: seconds allowed to catch up")
    index.set_defaults(run=lambda args, settings: run_index_command(args, settings, sys.stdout))
    _add_query(verbs)


def _add_query(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    query = verbs.add_parser("query", help="audit records from the audit index, one page at a time")
    query.add_argument("--agency")
    query.add_argument(
        "--from",
        dest="start",
        metavar="D",
        help=f"received at or after: {MOMENT_HELP}",
    )
    query.add_argument(
        "--to",
        dest="end",
        metavar="D",
        help=f"received before this moment, or up to the end of this day (included): {MOMENT_HELP}",
    )
    query.add_argument("--personal-id")
    query.add_argument("--purpose", help="purpose code")
    query.add_argument("--operation", help="VERIFY, LOOKUP, SEARCH, …")
    query.add_argument("--outcome", help="status: OK, REJECTED, UNANSWERED")
    query.add_argument("--reason", help="reason code of a refusal, e.g. SUSPENDED")
    query.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table, csv, or json (JSON lines: one object per record)",
    )
    query.add_argument("--limit", type=int, default=50, help="records per page (default 50)")
    query.add_argument("--cursor", help="the next page of the same query, as the previous page printed")
    query.set_defaults(run=lambda args, settings: run_query(args, settings, sys.stdout, sys.stderr))


def run_index_command(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """``audit index``: catch up (and exit with ``--once``) or follow; print what was done."""
    options = IndexOptions(args.rebuild, args.once, audit_retention(args.topics, settings), args.timeout)
    progress = asyncio.run(_index(settings, options))
    if progress is None:
        return 0
    total = asyncio.run(_count(settings))
    kept = "no time retention" if options.retention is None else f"older than {_days(options.retention)}"
    print(
        f"audit index {_where(settings)}: {progress.indexed} records indexed,"
        f" {progress.skipped} skipped (not audit records, or tombstones), {progress.expired}"
        f" expired ({kept});"
        f" it holds {total} records",
        file=out,
    )
    return 0


async def _index(settings: Settings, options: IndexOptions) -> IndexProgress | None:
    """One pass with ``--once``; else follow until a stop signal (None: stopped before the cluster was up)."""
    codec = platform_codec()
    if options.once:
        return await run_index(settings, codec, options)
    stop = stop_on_signals()
    if not await wait_for_cluster(settings.kafka, stop, "the audit indexer"):
        return None
    done: list[IndexProgress] = []

    async def follow() -> None:
        done.append(await run_index(settings, codec, options, stop))

    await serve(follow(), stop, "the audit indexer")
    return done[0] if done else None


async def _count(settings: Settings) -> int:
    async with open_audit_index(settings) as index:
        return await index.count(AuditQuery())


def _days(retention: timedelta) -> str:
    return f"{retention.days} days" if retention.days else f"{retention.total_seconds():g} s"


def _where(settings: Settings) -> str:
    """Where the index is, without the DSN's password."""
    index = settings.audit_index
    return str(index.path) if index.backend == "sqlite" else "in PostgreSQL (DANCU_AUDIT_INDEX__DSN)"


def run_query(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    """``audit query``: one page of matching records in the chosen format, then the next page's cursor."""
    q = query_of(args)
    found = asyncio.run(_page(settings, q, args.limit, args.cursor))
    write_page(found, args.format, out)
    if found.next_cursor is not None:
        print(f"next page: --cursor {found.next_cursor}", file=out if args.format == "table" else err)
    elif args.format == "table":
        print(f"{len(found.records)} records, last page", file=out)
    return 0


async def _page(settings: Settings, q: AuditQuery, limit: int, cursor: str | None) -> AuditPage:
    async with open_audit_index(settings) as index:
        return await index.query(q, limit=limit, cursor=cursor)


def query_of(args: argparse.Namespace) -> AuditQuery:
    """The query the options ask; ConfigError for a bad date or personal id, or an empty period."""
    if args.personal_id is not None:
        try:
            parse_personal_id(args.personal_id)
        except PersonalIdError as exc:
            raise ConfigError(
                f"--personal-id {quoted(args.personal_id)} is not a personal id: {exc.reason}"
            ) from None
    start, end = parse_period(args.start, args.end)
    return AuditQuery(
        agency=args.agency,
        start=start,
        end=end,
        personal_id=args.personal_id,
        purpose=args.purpose,
        operation=args.operation,
        status=args.outcome,
        reason=args.reason,
    )


def record_fields(record: AuditRecord) -> dict[str, object]:
    """Every field of a record, times in ISO 8601 (UTC, milliseconds), lists as lists: JSON or a CSV row."""
    return {name: _plain(getattr(record, name)) for name in AuditRecord.__dataclass_fields__}


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    return list(value) if isinstance(value, tuple) else value


def write_page(found: AuditPage, form: str, out: TextIO) -> None:
    """The records of a page in ``form``: table, csv or json (JSON lines)."""
    rows = [record_fields(r) for r in found.records]
    if form == "json":
        for row in rows:
            print(json.dumps(row, ensure_ascii=False), file=out)
    elif form == "csv":
        _write_csv(rows, out)
    elif form == "table":
        _write_table(rows, out)
    else:
        raise ConfigError(f"unknown format {form!r}: one of {', '.join(FORMATS)}")


def _write_csv(rows: Sequence[dict[str, object]], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(AuditRecord.__dataclass_fields__)
    for row in rows:
        writer.writerow(_csv_cell(value) for value in row.values())


def _csv_cell(value: object) -> object:
    """A value as a CSV cell: lists joined with ``;``, none empty, text that looks like a formula quoted."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(value)
    return spreadsheet_safe(value) if isinstance(value, str) else value


def _write_table(rows: Sequence[dict[str, object]], out: TextIO) -> None:
    cells = [[_table_cell(row[column]) for column in _TABLE] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(_TABLE)]
    for line in [list(_TABLE), *cells]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip(), file=out
        )


def _table_cell(value: object) -> str:
    """A value as a table cell: printable text cut to a width, anything else quoted (controls visible)."""
    if value is None or value == []:
        return "-"
    text = ",".join(value) if isinstance(value, list) else str(value)
    if not printable(text):
        return quoted(text, _CELL)
    return text if len(text) <= _CELL else f"{text[: _CELL - 1]}…"
