"""``dancu-bus audit archive`` and ``audit verify --archive``: records about to expire, checked offline."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from dancu_bus.admin.reader import read_to_end
from dancu_bus.audit.archive import (
    CHECKPOINTS_FILE,
    MANIFEST_FILE,
    RECORDS_FILE,
    build_archive,
    check_archive,
)
from dancu_bus.audit.verify import PartitionCheck
from dancu_bus.cli.audit_checkpoints import describe_checkpoints, public_keys, read_checkpoints
from dancu_bus.cli.moments import MOMENT_HELP, parse_moment
from dancu_bus.cli.topics import add_topics_option, audit_retention
from dancu_bus.errors import ConfigError
from dancu_bus.operations import platform_codec
from dancu_bus.settings import Settings
from dancu_bus.topic_names import TopicNames

__all__ = ["add_archive", "add_archive_option", "run_archive", "run_verify_archive"]

_FILES = (RECORDS_FILE, CHECKPOINTS_FILE, MANIFEST_FILE)


def add_archive(verbs: Any) -> None:
    """Add ``audit archive``."""
    archive = verbs.add_parser(
        "archive",
        help="export the audit records logged before a date (retention deletes those first)",
    )
    archive.add_argument(
        "--before",
        required=True,
        metavar="D",
        help=f"the records logged before this: {MOMENT_HELP}; a date means before its 00:00",
    )
    archive.add_argument(
        "--out", type=Path, required=True, help="a new or empty folder for the archive's files"
    )
    add_topics_option(archive, "whose audit retention the archive reports")
    archive.add_argument("--timeout", type=float, default=300.0, help="seconds allowed to read the topics")
    archive.set_defaults(run=lambda args, settings: run_archive(args, settings, sys.stdout))


def add_archive_option(verify: argparse.ArgumentParser) -> None:
    """Add ``--archive`` to ``audit verify``."""
    verify.add_argument(
        "--archive",
        type=Path,
        help="check an archive folder offline instead of the topics (its digests, chains and, with"
        " --public-key, its checkpoints)",
    )


def run_archive(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Archive the records logged before ``--before`` into ``--out``; say what retention reaches."""
    target: Path = args.out
    before = parse_moment(args.before, "--before", end=False)
    retention = audit_retention(args.topics, settings)  # first: a bad topics file fails before any work
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"{target} is not empty: archive into a new folder")
    names, codec = TopicNames(settings.kafka.topic_prefix), platform_codec()
    signed = read_checkpoints(settings, args.timeout)  # first: every head they sign is read next
    records = read_to_end(settings.kafka, names.audit, args.timeout)
    now = datetime.now(UTC)
    files = build_archive(records, signed, codec, topic=names.audit, before=before, now=now)
    if not files:
        print(f"{names.audit}: no record logged before {before.isoformat()}: nothing to archive", file=out)
        return 0
    target.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (target / name).write_bytes(data)
    manifest = json.loads(files[MANIFEST_FILE])
    _report(manifest, retention, now, out)
    print(f"archive written to {target}: {', '.join(files)}", file=out)
    return 0


def _report(manifest: dict[str, Any], retention: timedelta | None, now: datetime, out: TextIO) -> None:
    partitions = manifest["partitions"]
    count = sum(p["records"] for p in partitions.values())
    signed = sum(p["checkpoints"] for p in partitions.values())
    print(
        f"{manifest['topic']}: {count} records of {len(partitions)} partitions logged before"
        f" {manifest['before']} (to the next signed head), with {signed} signed checkpoints",
        file=out,
    )
    for number, partition in sorted(partitions.items(), key=lambda p: int(p[0])):
        signed_to = partition.get("last_signed_offset")
        ending = (
            "ends at a signed head"
            if signed_to == partition["last_offset"]
            else "NOT covered by a signed head to its end: `audit verify --archive --public-key` will"
            " fail; archive again once the audit consumer signed a head after these records"
        )
        print(
            f"partition {number}: {partition['records']} records, offsets {partition['first_offset']}"
            f"–{partition['last_offset']}, {partition['checkpoints']} checkpoints; {ending}",
            file=out,
        )
    if retention is None:
        print("the audit topic keeps its records forever (topics.yaml sets no retention.ms)", file=out)
        return
    reach = (now - retention).isoformat(timespec="seconds")
    print(
        f"the audit topic's retention ({retention.days} days, topics.yaml) reaches records logged"
        f" before {reach}; records logged before {manifest['before']} are deleted from"
        f" {(datetime.fromisoformat(manifest['before']) + retention).date().isoformat()} on",
        file=out,
    )


def run_verify_archive(args: argparse.Namespace, out: TextIO) -> int:
    """Check the archive folder ``--archive`` offline; 0 when its files, chains and checkpoints hold."""
    folder: Path = args.archive
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder: give the folder `audit archive --out` wrote")
    keys = public_keys(args)
    files = {name: (folder / name).read_bytes() for name in _FILES if (folder / name).is_file()}
    check = check_archive(files, platform_codec(), keys)
    for problem in check.problems:
        print(f"{folder}: {problem}", file=out)
    stated = check.manifest.get("partitions", {})
    for chain in check.chains:
        print(_describe_chain(chain, stated.get(str(chain.partition), {})), file=out)
    if check.checkpoints is None:
        print("checkpoints: not checked (give --public-key to check their signatures)", file=out)
    else:
        for signed in check.checkpoints:
            print(describe_checkpoints(signed), file=out)
            if signed.ok and (signed.last is None or signed.unsigned):
                print(
                    f"partition {signed.partition}: {signed.unsigned} archived records are covered by no"
                    " signed head: an archive must end at one (it was cut before a checkpoint covered"
                    " them; archive again)",
                    file=out,
                )
    print(f"{folder}: {'verified' if check.ok else 'NOT verified'}", file=out)
    return 0 if check.ok else 1


def _describe_chain(check: PartitionCheck, stated: dict[str, Any]) -> str:
    finding = check.finding
    if finding is not None:
        return (
            f"partition {finding.partition}: {finding.problem.value} at offset {finding.offset}"
            f" (exchange {finding.exchange_id}): {finding.detail}"
        )
    return (
        f"partition {check.partition}: intact, {check.records} records, chaining from"
        f" {stated.get('chains_from')} to last hash {check.head.hash}"
    )
