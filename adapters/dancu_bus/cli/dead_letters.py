"""``dancu-bus dead-letters show``: what the dead-letter topic holds, opened with the operators' key.

Without ``--keys`` only what dead letters keep in clear is shown: where each record was, its sizes and
hash, and why it could not be used. With the operators' private key the sealed original is opened:
its key, headers and value (as much as was kept) and the failing service's own words, shown escaped
and bounded, since a hostile sender chose them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from dancu_bus.admin.reader import read_to_end
from dancu_bus.codec import Codec
from dancu_bus.contracts import DeadLetter
from dancu_bus.errors import CodecError
from dancu_bus.keys import PrivateKeys
from dancu_bus.operations import platform_codec
from dancu_bus.settings import Settings
from dancu_bus.text import shown
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport.dead_letters import open_original

__all__ = ["register", "run_show"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dead-letters show``."""
    letters = commands.add_parser("dead-letters", help="records that could not be used (operators)")
    verbs = letters.add_subparsers(dest="dead_letters_command", required=True)
    show = verbs.add_parser("show", help="the dead letters, newest last; --keys opens what they sealed")
    show.add_argument("--keys", type=Path, help="the operators' private dead-letter keys (a JWK Set file)")
    show.add_argument("--last", type=int, default=20, metavar="N", help="only the last N (default 20)")
    show.set_defaults(run=lambda args, settings: run_show(args, settings, sys.stdout))


def run_show(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Print the last ``--last`` dead letters, one block each."""
    codec = platform_codec()
    keys = PrivateKeys.from_file(args.keys) if args.keys is not None else None
    topic = TopicNames(settings.kafka.topic_prefix).dead_letters
    records = read_to_end(settings.kafka, topic)
    for record in records[-args.last :] if args.last > 0 else []:
        try:
            letter = codec.decode_dead_letter(record.value)
        except CodecError as exc:
            print(f"{record.partition}/{record.offset}: not a dead letter ({exc})", file=out)
            continue
        print(_summary(letter), file=out)
        if keys is not None:
            print(_original(letter, keys, codec), file=out)
    print(f"{len(records)} dead letters on {topic}", file=out)
    return 0


def _summary(letter: DeadLetter) -> str:
    where = f"{letter.topic}/{letter.partition}/{letter.offset}"
    if letter.last_offset != letter.offset:
        where += f"–{letter.last_offset}"
    sizes = f"key {letter.key_size} B, value {letter.value_size} B, {letter.headers_dropped} headers"
    sealed = f"sealed to {letter.sealed.key_id}" if letter.sealed else "redacted"
    when = f"{letter.failed_at:%Y-%m-%d %H:%M:%S}"
    return (
        f"{when} {where} {letter.error_code} by {letter.failed_by}: {letter.error}"
        f"\n    {sizes}; sha256 {letter.value_sha256}; {sealed}"
    )


def _original(letter: DeadLetter, keys: PrivateKeys, codec: Codec) -> str:
    try:
        original = open_original(letter, keys, codec)
    except ValueError as exc:
        return f"    cannot open: {exc}"
    if original is None:
        return "    nothing kept (no operator key was configured when it was written)"
    key = "none" if original.key is None else shown(original.key.decode("utf-8", "replace"), 64)
    headers = ", ".join(shown(name, 32) for name, _ in original.headers) or "none"
    kept = "none" if original.value is None else f"{len(original.value)} B kept"
    return f"    key {key}; headers {headers}; value {kept}\n    error: {shown(original.error, 300)}"
