"""``dancu-bus schemas export``: each schema made standalone, with its fingerprint, for other languages.

``schemas/*.avsc`` name each other's types (``vn.dancu.Address``), so a file alone does not parse in
Java or Go; the standalone forms inline them where Avro says (at first use) and are exactly what the
fingerprints are computed over. ``schemas/standalone/`` is the exported copy, checked in CI against
the code; ``schemas/released/<version>/`` keeps each published version, which the codec still reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from dancu_bus.codec import SchemaSet, load_schemas
from dancu_bus.operations import OPERATIONS

__all__ = ["export", "register", "run_export"]

FINGERPRINTS = "fingerprints.txt"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``schemas export``."""
    schemas = commands.add_parser("schemas", help="the Avro contract, for agencies in other languages")
    verbs = schemas.add_subparsers(dest="schemas_command", required=True)
    out = verbs.add_parser("export", help="write every schema standalone, and their fingerprints")
    out.add_argument(
        "--out", type=Path, default=Path("schemas/standalone"), help="folder (default schemas/standalone)"
    )
    out.set_defaults(run=lambda args, _settings: run_export(args, sys.stdout))


def export(schemas: SchemaSet, folder: Path) -> list[Path]:
    """Write ``<full name>.avsc`` for each schema and ``fingerprints.txt``; the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    lines = ["# schema  single-object header (C3 01 + CRC-64-AVRO fingerprint, little-endian), in hex"]
    for name, standalone in schemas.standalone().items():
        path = folder / f"{name}.avsc"
        path.write_text(json.dumps(standalone, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
        lines.append(f"{name}  {schemas.by_name(name).header.hex()}")
    (folder / FINGERPRINTS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [*written, folder / FINGERPRINTS]


def run_export(args: argparse.Namespace, out: TextIO) -> int:
    """Export into ``--out``; say what was written."""
    for path in export(load_schemas(OPERATIONS), args.out):
        print(path, file=out)
    return 0
