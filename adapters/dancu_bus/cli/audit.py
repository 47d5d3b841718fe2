"""``dancu-bus audit run|verify|trail|keygen|archive|report``: consumer, checks, trail, archives, reports.

Both are verbs of ``audit``, like ``topics plan|apply``: the audit area now has two, and a bare
``dancu-bus audit`` asks which one rather than guessing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TextIO

from dancu_bus.admin import describe
from dancu_bus.admin.diagnosis import wait_for_cluster
from dancu_bus.admin.reader import TopicRecord, read_to_end
from dancu_bus.admin.registry import RegistryClient
from dancu_bus.audit import PartitionCheck, Unaudited, run_audit, unaudited, verify_log
from dancu_bus.audit.trail import trail
from dancu_bus.cli import audit_archive, audit_checkpoints, audit_index
from dancu_bus.cli.services import serve
from dancu_bus.codec import Codec
from dancu_bus.errors import ConfigError
from dancu_bus.lifecycle import stop_on_signals
from dancu_bus.operations import platform_codec
from dancu_bus.registry import RegistryCodec
from dancu_bus.settings import Settings
from dancu_bus.topic_names import TopicNames

__all__ = ["describe_check", "register", "run_trail", "run_verify"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit run`` and ``audit verify``."""
    audit = commands.add_parser("audit", help="the audit log of every exchange (Art. 13)")
    verbs = audit.add_subparsers(dest="audit_command", required=True)
    run = verbs.add_parser("run", help="record every exchange in the audit topic, hash-chained")
    run.set_defaults(run=lambda _args, settings: asyncio.run(_run(settings)) or 0)
    verify = verbs.add_parser(
        "verify", help="check every partition's hash chain; exit 1 when a record is changed, missing or moved"
    )
    verify.add_argument(
        "--expired-head",
        action="store_true",
        help="accept that retention deleted a partition's oldest records (its first record then "
        "chains from one no longer there)",
    )
    verify.add_argument(
        "--chain-only",
        action="store_true",
        help="check only the hash chains, not that every request record on the request topics is audited",
    )
    verify.add_argument(
        "--settle",
        type=float,
        help="seconds a request record may wait for its audit record before it counts as missing"
        " (default: the audit's UNANSWERED bound plus a minute)",
    )
    verify.add_argument("--timeout", type=float, default=300.0, help="seconds allowed to read the topic")
    audit_checkpoints.add_public_key_option(verify)
    audit_archive.add_archive_option(verify)
    verify.set_defaults(run=lambda args, settings: run_verify(args, settings, sys.stdout))
    audit_checkpoints.add_keygen(verbs)
    audit_archive.add_archive(verbs)
    history = verbs.add_parser("trail", help="one agency's registry changes and exchanges, in time order")
    history.add_argument("agency")
    history.add_argument("--timeout", type=float, default=300.0, help="seconds allowed to read the topics")
    history.set_defaults(run=lambda args, settings: run_trail(args, settings, sys.stdout))
    audit_index.register_verbs(verbs)
    # Imported here: the report module uses this one's describe_check.
    from dancu_bus.cli.audit_report import register_report

    register_report(verbs)


async def _run(settings: Settings) -> None:
    stop = stop_on_signals()
    if not await wait_for_cluster(settings.kafka, stop, "the audit consumer"):
        return
    await serve(run_audit(settings, platform_codec(), stop), stop, "the audit consumer")


def run_verify(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Check every chain of the audit topic, then that every request record has its audit record.

    0 when every chain is intact, every signed checkpoint holds (with ``--public-key``), and no
    request record older than ``--settle`` (the audit's UNANSWERED bound and a minute) lacks its
    record; else 1. With ``--archive``, the archive folder instead, offline.
    """
    if getattr(args, "archive", None) is not None:
        return audit_archive.run_verify_archive(args, out)
    names, codec = TopicNames(settings.kafka.topic_prefix), platform_codec()
    keys = audit_checkpoints.public_keys(args)
    signed = audit_checkpoints.read_checkpoints(settings, args.timeout) if keys is not None else []
    records = read_to_end(settings.kafka, names.audit, args.timeout)
    checks = verify_log(records, codec, expired_head_ok=args.expired_head)
    for check in checks:
        print(describe_check(check), file=out)
    broken = [c for c in checks if c.finding is not None]
    verdict = f"{len(broken)} broken" if broken else "intact"
    print(f"{names.audit}: {len(records)} records in {len(checks)} partitions: {verdict}", file=out)
    signed_broken = keys is not None and audit_checkpoints.report_checkpoints(
        records, signed, codec, keys, expired_head_ok=args.expired_head, out=out
    )
    failed = bool(broken) or signed_broken
    if args.chain_only:
        return 1 if failed else 0
    settle_s = settings.audit.unanswered_after_s + 60 if args.settle is None else args.settle
    missing = _unaudited(settings, records, codec, (args.timeout, settle_s), out)
    return 1 if failed or missing else 0


def _unaudited(
    settings: Settings,
    audit: Sequence[TopicRecord],
    codec: Codec,
    seconds: tuple[float, float],
    out: TextIO,
) -> list[Unaudited]:
    """The request records with no audit record, each printed; those younger than ``settle_s`` are not."""
    timeout_s, settle_s = seconds
    names = TopicNames(settings.kafka.topic_prefix)
    audited = {r.key.decode("utf-8", errors="replace") for r in audit if r.key is not None and r.value}
    topics = sorted(describe(settings.kafka, f"{names.prefix}.req."))
    requests = [r for topic in topics for r in read_to_end(settings.kafka, topic, timeout_s)]
    missing = unaudited(requests, audited, codec, datetime.now(UTC) - timedelta(seconds=settle_s))
    for gone in missing:
        print(
            f"{gone.topic}[{gone.partition}] offset {gone.offset}: MISSING, no audit record of exchange "
            f"{gone.exchange_id} (received {gone.received_at.isoformat()})",
            file=out,
        )
    verdict = f"{len(missing)} not audited" if missing else "every one audited"
    print(f"request topics: {len(requests)} records in {len(topics)} topics: {verdict}", file=out)
    return missing


def run_trail(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Print an agency's registry history merged with its audited exchanges."""
    codec = platform_codec()
    agency = (
        RegistryClient(settings.kafka, RegistryCodec(codec.schemas)).read(args.timeout).record(args.agency)
    )
    if agency is None:
        raise ConfigError(f"no agency {args.agency!r} in the registry")
    records = read_to_end(settings.kafka, TopicNames(settings.kafka.topic_prefix).audit, args.timeout)
    exchanges = [codec.decode_audit(r.value) for r in records if r.value is not None]
    for line in trail(agency.history, exchanges, args.agency):
        print(f"{line.at.isoformat()}  {line.kind:<8}  {line.text}", file=out)
    return 0


def describe_check(check: PartitionCheck) -> str:
    """One line per partition: its head hash when intact (to anchor elsewhere), else what is wrong."""
    finding = check.finding
    if finding is None:
        return f"partition {check.partition}: intact, {check.records} records, last hash {check.head.hash}"
    return (
        f"partition {finding.partition}: {finding.problem.value} at offset {finding.offset} "
        f"(exchange {finding.exchange_id}): {finding.detail}"
    )
