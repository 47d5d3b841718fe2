"""``dancu-bus audit report``: one agency's inspection report over a period, as HTML, PDF, CSV or JSON.

What it reads: the agency's record from the registry topic (its history of changes); its audit
records in the period from the audit index (``dancu_bus.store.audit_index``); and the audit topic's
hash chains (``verify_log``) and, with ``--public-key``, its signed checkpoints
(``check_checkpoints``): their verdict is the report's chain statement. Without a public key the
statement says the checkpoints were not checked.

The index is caught up first (what ``audit index --once`` does), so a report counts every exchange
the audit topic holds when it is made, even where no indexer follows the topic; ``--no-catch-up``
reads the index as it stands (a read-only PostgreSQL role, or an index a running ``audit index``
keeps current). Several formats in one run come from one snapshot, so their numbers agree.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dancu_bus.admin.reader import partition_count, read_to_end
from dancu_bus.admin.registry import RegistryClient
from dancu_bus.agencies import Agency
from dancu_bus.audit import audit_partition, verify_log
from dancu_bus.audit.checkpoints import check_checkpoints
from dancu_bus.audit.indexer import IndexOptions, run_index
from dancu_bus.cli import audit_checkpoints
from dancu_bus.cli.audit import describe_check
from dancu_bus.cli.moments import DATE_HELP, parse_day
from dancu_bus.codec import Codec
from dancu_bus.errors import ConfigError
from dancu_bus.inspection import (
    ChainStatement,
    Period,
    Report,
    ReportBuilder,
    csv_text,
    find_chromium,
    html_text,
    json_text,
    print_pdf,
)
from dancu_bus.operations import platform_codec
from dancu_bus.registry import RegistryCodec
from dancu_bus.settings import Settings
from dancu_bus.store.audit_index import AuditQuery, open_audit_index
from dancu_bus.topic_names import TopicNames

__all__ = ["register_report", "run_report"]

FORMATS = ("html", "pdf", "csv", "json")


def register_report(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit report``."""
    report = verbs.add_parser(
        "report",
        help="an agency's inspection report over a period (Art. 10): html, pdf, csv or json",
        description="Volumes by operation and outcome per day, refusals by reason, fields disclosed by "
        "purpose, activity out of hours or far above the agency's usual, quota hits, registry changes, "
        "usage reports, and whether the audit chain verified. Days are Vietnam time (UTC+7).",
    )
    report.add_argument("--agency", required=True, help="the agency's id")
    report.add_argument("--from", dest="first", required=True, help=f"first day: {DATE_HELP}")
    report.add_argument("--to", dest="last", required=True, help=f"last day, included: {DATE_HELP}")
    report.add_argument(
        "--format",
        default="html",
        help="html, pdf, csv or json, or several comma-separated (one snapshot, so their numbers agree)",
    )
    report.add_argument(
        "--out",
        type=Path,
        help="file to write (default: standard output; pdf needs it); with several formats, each is "
        "written to this path with its format's suffix (report → report.html, report.pdf, …)",
    )
    report.add_argument(
        "--expired-head",
        action="store_true",
        help="accept that retention deleted a partition's oldest records (as `audit verify --expired-head`)",
    )
    report.add_argument(
        "--no-catch-up",
        dest="catch_up",
        action="store_false",
        help="read the audit index as it stands instead of bringing it up to the topic first",
    )
    report.add_argument("--timeout", type=float, default=300.0, help="seconds allowed to read each topic")
    audit_checkpoints.add_public_key_option(report)
    report.set_defaults(run=lambda args, settings: run_report(args, settings, sys.stdout))


def run_report(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Make the report and write it; 0 when written (whatever the chain's verdict, which it states)."""
    period = _period(args.first, args.last)
    targets = _targets(_formats(args.format), args.out)
    keys = audit_checkpoints.public_keys(args)  # read first: a bad key file fails before any work
    codec = platform_codec()
    agency = _agency(settings, codec, args.agency, args.timeout)
    builder = asyncio.run(_counted(settings, codec, ReportBuilder.of(agency, period), args))
    statement = _statement(settings, codec, keys, args)
    _write(builder.report(agency, statement, datetime.now(UTC)), targets, settings, out)
    return 0


async def _counted(
    settings: Settings, codec: Codec, builder: ReportBuilder, args: argparse.Namespace
) -> ReportBuilder:
    """The builder after every record of the agency in the period, read from the (caught-up) index."""
    if args.catch_up:
        await run_index(settings, codec, IndexOptions(once=True, timeout_s=args.timeout))
    period = builder.period
    query = AuditQuery(agency=builder.agency, start=period.start, end=period.end)
    async with open_audit_index(settings) as index:
        async for record in index.records(query):
            builder.add(record)
    return builder


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(f"--format {text!r}: each format is one of {', '.join(FORMATS)}")
    return formats


def _targets(formats: tuple[str, ...], out: Path | None) -> dict[str, Path | None]:
    """Where each format goes: ``out`` for one, ``out`` with each suffix for several, None for stdout."""
    if out is None and (len(formats) > 1 or formats == ("pdf",)):
        raise ConfigError(
            f"--format {','.join(formats)} needs --out FILE (standard output takes one text format)"
        )
    if len(formats) == 1:
        return {formats[0]: out}
    assert out is not None
    return {f: out.with_suffix(f".{f}") for f in formats}


def _period(first: str, last: str) -> Period:
    """The days from ``--from`` to ``--to``, read as every audit command reads a date (a Vietnam day)."""
    try:
        return Period(parse_day(first, "--from"), parse_day(last, "--to"))
    except ValueError as exc:
        raise ConfigError(f"--from {first} --to {last}: {exc}") from exc


def _agency(settings: Settings, codec: Codec, agency_id: str, timeout_s: float) -> Agency:
    registry = RegistryClient(settings.kafka, RegistryCodec(codec.schemas)).read(timeout_s)
    agency = registry.record(agency_id)
    if agency is None:
        raise ConfigError(f"no agency {agency_id!r} in the registry; `dancu-bus agency list` shows them")
    return agency


def _statement(
    settings: Settings, codec: Codec, keys: dict[str, Ed25519PublicKey] | None, args: argparse.Namespace
) -> ChainStatement:
    """Whether the chain of the agency's audit partition verifies now (and its signed heads, with keys).

    Every exchange of an agency is in one audit partition (``audit_partition``), so that chain is the
    one the report rests on; the others need not be read (``audit verify`` checks them all).
    """
    names = TopicNames(settings.kafka.topic_prefix)
    partition = audit_partition(args.agency, partition_count(settings.kafka, names.audit, args.timeout))
    # Checkpoints before the audit topic: every head they sign is then in what is read next. A
    # checkpoint has its audit partition's number.
    signed = (
        read_to_end(settings.kafka, names.audit_checkpoints, args.timeout, partitions={partition})
        if keys is not None
        else []
    )
    audit = read_to_end(settings.kafka, names.audit, args.timeout, partitions={partition})
    checks = [
        c for c in verify_log(audit, codec, expired_head_ok=args.expired_head) if c.partition == partition
    ]
    intact = all(check.finding is None for check in checks)
    verdict = f"audit partition {partition} (the agency's): {len(audit)} records, " + (
        "its chain intact" if intact else "its chain is broken"
    )
    lines = [verdict, *(describe_check(check) for check in checks)]
    if keys is None:
        return ChainStatement(intact, (*lines, "signed checkpoints: not checked (no --public-key)"), None)
    heads = [
        h
        for h in check_checkpoints(audit, signed, codec, keys, expired_head_ok=args.expired_head)
        if h.partition == partition
    ]
    held = all(head.ok for head in heads)
    summary = f"signed checkpoints: {len(signed)} records, " + (
        "every one verified" if held else "a check failed"
    )
    lines += [summary, *(audit_checkpoints.describe_checkpoints(head) for head in heads)]
    return ChainStatement(intact, tuple(lines), held)


def _write(report: Report, targets: dict[str, Path | None], settings: Settings, out: TextIO) -> None:
    """Each format to its target (the HTML drawn once, for the PDF too); a line per file written."""
    page = html_text(report) if {"html", "pdf"} & targets.keys() else ""
    texts = {"html": lambda: page, "csv": lambda: csv_text(report), "json": lambda: json_text(report)}
    for form, target in targets.items():
        if form == "pdf":
            assert target is not None
            _print(page, target, find_chromium(settings.chromium))
        elif target is None:
            out.write(texts[form]())
        else:
            target.write_text(texts[form](), encoding="utf-8")
        if target is not None:
            verdict = "verified" if report.chain.verified else "NOT VERIFIED"
            print(f"{report.agency.id}: {report.total} exchanges, chain {verdict} -> {target}", file=out)


def _print(page: str, pdf: Path, chromium: str) -> None:
    with tempfile.TemporaryDirectory(prefix="dancu-report-") as folder:
        html = Path(folder) / "report.html"
        html.write_text(page, encoding="utf-8")
        print_pdf(html, pdf, chromium)
