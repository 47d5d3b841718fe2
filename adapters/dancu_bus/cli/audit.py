"""``dancu-bus audit run|verify|trail``: the audit consumer, the hash-chain check, an agency's trail.

Both are verbs of ``audit``, like ``topics plan|apply``: the audit area now has two, and a bare
``dancu-bus audit`` asks which one rather than guessing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from dancu_bus.admin.reader import read_to_end
from dancu_bus.admin.registry import RegistryClient
from dancu_bus.audit import PartitionCheck, run_audit, verify_log
from dancu_bus.audit.trail import trail
from dancu_bus.cli.services import stop_on_signals
from dancu_bus.codec import Codec, load_schemas
from dancu_bus.errors import ConfigError
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
    verify.add_argument("--timeout", type=float, default=300.0, help="seconds allowed to read the topic")
    verify.set_defaults(run=lambda args, settings: run_verify(args, settings, sys.stdout))
    history = verbs.add_parser("trail", help="one agency's registry changes and exchanges, in time order")
    history.add_argument("agency")
    history.add_argument("--timeout", type=float, default=300.0, help="seconds allowed to read the topics")
    history.set_defaults(run=lambda args, settings: run_trail(args, settings, sys.stdout))


async def _run(settings: Settings) -> None:
    await run_audit(settings, Codec(load_schemas()), stop_on_signals())


def run_verify(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Read the audit topic to its end and check it: 0 when every chain is intact, else 1."""
    topic = TopicNames(settings.kafka.topic_prefix).audit
    records = read_to_end(settings.kafka, topic, args.timeout)
    checks = verify_log(records, Codec(load_schemas()), expired_head_ok=args.expired_head)
    for check in checks:
        print(describe_check(check), file=out)
    broken = [c for c in checks if c.finding is not None]
    verdict = f"{len(broken)} broken" if broken else "intact"
    print(f"{topic}: {len(records)} records in {len(checks)} partitions: {verdict}", file=out)
    return 1 if broken else 0


def run_trail(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Print an agency's registry history merged with its audited exchanges."""
    codec = Codec(load_schemas())
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
        f"(request {finding.request_id}): {finding.detail}"
    )
