"""The contract for other languages: standalone schemas, their fingerprints, and compatible evolution.

``schemas/standalone/`` must be what the code exports (so agencies get the schemas the platform
uses), and every schema must stay fully compatible with each released version (``schemas/released``):
new readers read what old writers wrote, old readers read what new writers write. The reference
Apache Avro implementation's checker decides.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from dancu_bus.cli.schemas import FINGERPRINTS, export
from dancu_bus.codec import Codec, load_schemas
from dancu_bus.operations import OPERATIONS
from tests.unit import samples

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
RELEASED = sorted(p for p in (SCHEMAS / "released").iterdir() if p.is_dir())


# (released version, schema) whose current version adds enum symbols or union branches that version
# cannot read: MATCH_WITHOUT_DIACRITICS (verdict, outcome) and the SEARCH body and result, in version 3;
# the VERIFY_BATCH body and result, after version 3; the SELF body and result, after version 4.
FORWARD_ADDITIONS = frozenset(
    (version, schema)
    for version in ("1", "2", "3", "4")
    for schema in ("vn.dancu.Response", "vn.dancu.Request")
)


def incompatibilities(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` is not fully compatible with ``old``: each direction a reader fails, with the reason."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    older, newer = avro.schema.parse(json.dumps(old)), avro.schema.parse(json.dumps(new))
    found = []
    for reader, writer, direction in ((newer, older, "new reads old"), (older, newer, "old reads new")):
        result = checker.get_compatibility(reader, writer)
        if result.compatibility is not SchemaCompatibilityType.compatible:
            found.append(f"{direction}: {', '.join(str(m) for m in result.messages)}")
    return found


def test_the_standalone_schemas_are_what_the_code_exports(tmp_path: Path) -> None:
    """Committed schemas/standalone equals a fresh export: run `dancu-bus schemas export` after a change."""
    export(load_schemas(OPERATIONS), tmp_path)
    for fresh in sorted(tmp_path.iterdir()):
        committed = SCHEMAS / "standalone" / fresh.name
        assert committed.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), fresh.name


def test_each_standalone_schema_parses_alone_in_the_reference_implementation() -> None:
    """What failed in Java (request.avsc without address.avsc) works with the standalone file alone."""
    for path in sorted((SCHEMAS / "standalone").glob("*.avsc")):
        parsed = avro.schema.parse(path.read_text(encoding="utf-8"))
        assert isinstance(parsed, avro.schema.NamedSchema) and parsed.fullname == path.stem


def test_the_fingerprints_file_names_each_schemas_header() -> None:
    """fingerprints.txt gives the 10-byte single-object header of every schema."""
    schemas = load_schemas(OPERATIONS)
    lines = (SCHEMAS / "standalone" / FINGERPRINTS).read_text(encoding="utf-8").splitlines()[1:]
    assert dict(line.split() for line in lines) == {
        n: schemas.by_name(n).header.hex() for n in schemas.names()
    }


@pytest.mark.parametrize("released", RELEASED, ids=[p.name for p in RELEASED])
def test_every_schema_is_fully_compatible_with_each_released_version(released: Path) -> None:
    """Each current schema reads its released version; the released one reads it, but for listed additions.

    The listed schemas gained values an older reader's enums or unions lack (docs/CONTRACT.md, version 3):
    an agency on that version reads every answer but those that carry the new value.
    """
    current = load_schemas(OPERATIONS).standalone()
    for path in sorted(released.glob("*.avsc")):
        old = json.loads(path.read_text(encoding="utf-8"))
        problems = incompatibilities(old, dict(current[path.stem]))
        if (released.name, path.stem) in FORWARD_ADDITIONS:
            problems = [p for p in problems if not p.startswith("old reads new")]
        assert problems == [], path.name


def test_an_incompatible_change_is_caught() -> None:
    """A copy of the request schema with a field retyped (string to int) or a new required field fails."""
    request = dict(load_schemas(OPERATIONS).standalone()["vn.dancu.Request"])
    retyped = copy.deepcopy(request)
    next(f for f in retyped["fields"] if f["name"] == "officer_id")["type"] = "int"
    required = copy.deepcopy(request)
    required["fields"].append({"name": "branch_office", "type": "string"})
    assert any(
        "new reads old" in problem or "old reads new" in problem
        for problem in incompatibilities(request, retyped)
    )
    assert any("new reads old" in problem for problem in incompatibilities(request, required))
    optional = copy.deepcopy(request)
    optional["fields"].append({"name": "branch_office", "type": ["null", "string"], "default": None})
    assert incompatibilities(request, optional) == []


def test_a_record_written_with_a_released_schema_is_read_into_the_current_one(tmp_path: Path) -> None:
    """A request written by an agency on the previous contract version decodes after the contract grew."""
    folder = tmp_path / "schemas"
    folder.mkdir()
    for path in SCHEMAS.glob("*.avsc"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "released" / "1").mkdir(parents=True)
    old = load_schemas(OPERATIONS, folder)
    for name, schema in old.standalone().items():
        (folder / "released" / "1" / f"{name}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    request = json.loads((folder / "request.avsc").read_text(encoding="utf-8"))
    request["fields"].append({"name": "branch_office", "type": ["null", "string"], "default": None})
    (folder / "request.avsc").write_text(json.dumps(request), encoding="utf-8")
    written_before = Codec(old).encode_request(samples.VERIFY_REQUEST)
    assert Codec(load_schemas(OPERATIONS, folder)).decode_request(written_before) == samples.VERIFY_REQUEST
