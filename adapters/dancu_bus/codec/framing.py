"""Avro single-object encoding: ``C3 01``, the writer schema's CRC-64-AVRO fingerprint, the body.

Any Avro implementation can decode these bytes with the schema files alone, which is why the
fingerprint is taken over each schema made standalone (named types from other files inlined).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, TypeVar

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from dancu_bus.codec.operations import OperationSet, OperationWire
from dancu_bus.errors import CodecError

__all__ = ["HEADER_SIZE", "MAGIC", "SchemaSet", "WireSchema", "load_schemas", "schema_directory"]

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8
REQUEST_SCHEMA = "vn.dancu.Request"
RESPONSE_SCHEMA = "vn.dancu.Response"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WireSchema:
    """One top-level schema: its full name, parsed form and 10-byte single-object header."""

    name: str
    parsed: Any
    header: bytes
    standalone: Mapping[str, Any]
    # The same schema parsed with fastavro's "already parsed" marker: without it fastavro parses the
    # schema again on every encode and decode, which took three quarters of the time of each.
    compiled: Any


class SchemaSet:
    """Every schema of the contract, by full name and by fingerprint header.

    ``earlier`` are released versions of them: bytes written with one are read into the current
    schema of the same name by Avro's schema resolution, so a record an agency wrote with the last
    published contract is still read after the contract evolved (compatibly: tests/unit/test_contract.py).
    """

    def __init__(
        self,
        schemas: Mapping[str, WireSchema],
        operations: OperationSet,
        earlier: Iterable[WireSchema] = (),
    ) -> None:
        self.operations = operations
        self._by_name = dict(schemas)
        self._by_header = {s.header: s for s in schemas.values()}
        self._earlier = {s.header: s for s in earlier if s.header not in self._by_header}

    def by_name(self, name: str) -> WireSchema:
        """The schema with this full name (e.g. ``vn.dancu.Request``)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise CodecError("UNKNOWN_SCHEMA", f"no schema named {name}") from None

    def names(self) -> tuple[str, ...]:
        """Full names of all top-level schemas."""
        return tuple(self._by_name)

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        """Frame ``record`` as a single object of schema ``name``."""
        schema = self.by_name(name)
        buffer = io.BytesIO()
        buffer.write(schema.header)
        try:
            fastavro.schemaless_writer(buffer, schema.compiled, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise CodecError("DOES_NOT_FIT_SCHEMA", f"{name}: {exc}") from exc
        return buffer.getvalue()

    def decode(self, data: bytes | None) -> tuple[str, dict[str, Any]]:
        """Read a single object; return its schema name and record."""
        writer, schema = self._schemas_of(data)
        assert data is not None
        stream = io.BytesIO(data)
        stream.seek(HEADER_SIZE)
        reader = None if writer is schema else schema.compiled
        try:
            record = fastavro.schemaless_reader(
                stream, writer.compiled, reader, return_record_name=True, return_record_name_override=True
            )
        except (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError, OverflowError) as exc:
            raise CodecError("BAD_BODY", f"{schema.name}: {type(exc).__name__}: {exc}") from exc
        if stream.tell() != len(data):
            raise CodecError(
                "TRAILING_BYTES", f"{schema.name}: {len(data) - stream.tell()} bytes after the body"
            )
        if not isinstance(record, dict):
            raise CodecError("BAD_BODY", f"{schema.name}: not a record")
        return schema.name, record

    def decode_as(self, name: str, data: bytes | None, build: Callable[[dict[str, Any]], T]) -> T:
        """Read a single object of schema ``name`` and ``build`` the value it is; CodecError otherwise.

        Avro guarantees the record's shape; what ``build`` may still refuse are values its types do
        not take (a bad UUID string, an unknown enum symbol): BAD_VALUE.
        """
        found, record = self.decode(data)
        if found != name:
            raise CodecError("WRONG_SCHEMA", f"expected {name}, got {found}")
        try:
            return build(record)
        except (KeyError, TypeError, ValueError) as exc:
            raise CodecError("BAD_VALUE", f"{name}: {type(exc).__name__}: {exc}") from exc

    def _schemas_of(self, data: bytes | None) -> tuple[WireSchema, WireSchema]:
        """The schema the bytes were written with, and the current one they are read into."""
        if not data:
            raise CodecError("EMPTY", "no bytes")
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise CodecError(
                "NOT_SINGLE_OBJECT", f"does not start with C3 01 and a fingerprint: {data[:12].hex()}"
            )
        header = bytes(data[:HEADER_SIZE])
        schema = self._by_header.get(header)
        if schema is not None:
            return schema, schema
        earlier = self._earlier.get(header)
        if earlier is None or earlier.name not in self._by_name:
            raise CodecError("UNKNOWN_FINGERPRINT", f"no schema has fingerprint {header[2:].hex()}")
        return earlier, self._by_name[earlier.name]

    def standalone(self) -> dict[str, Mapping[str, Any]]:
        """Each current schema made standalone (named types of other files inlined), by full name."""
        return {name: schema.standalone for name, schema in sorted(self._by_name.items())}


def schema_directory() -> Traversable:
    """The Avro schemas shipped in the package (in a checkout, the repository's ``schemas/``)."""
    return files("dancu_bus") / "schemas"


def load_schemas(operations: OperationSet, directory: Traversable | None = None) -> SchemaSet:
    """Parse every ``*.avsc`` in ``directory`` once and compute its fingerprint; earlier versions too.

    ``Request.body`` and ``Response.result`` are unions of the ``operations``' branches, in their order
    (``dancu_bus.operations.OPERATIONS`` are the platform's). Earlier versions are the standalone schemas
    under ``released/<version>/``, read as writers only. Without ``directory``, the packaged schemas: an
    installed wheel needs no source checkout.
    """
    folder = directory if directory is not None else schema_directory()
    current = _current(folder, operations.wires())
    earlier = [_wire(_full_name(source), source) for source in _released(folder)]
    return SchemaSet(current, operations, earlier)


def _current(folder: Traversable, operations: Sequence[OperationWire]) -> dict[str, WireSchema]:
    sources = _read_sources(folder)
    _compose(sources, REQUEST_SCHEMA, "body", [dict(op.body_schema) for op in operations])
    results = [dict(op.result_schema) for op in operations if op.result_schema is not None]
    _compose(sources, RESPONSE_SCHEMA, "result", results)
    defined: dict[str, dict[str, Any]] = {}
    for source in sources.values():
        defined.update(_named_types(source, ""))
    return {name: _wire(name, _inline_foreign(source, defined, own=name)) for name, source in sources.items()}


def _compose(
    sources: dict[str, dict[str, Any]], schema: str, field: str, branches: list[dict[str, Any]]
) -> None:
    """Make ``field`` of ``schema`` the union of null and ``branches`` (the operations' records)."""
    if schema not in sources:
        raise CodecError("BAD_SCHEMA", f"no schema named {schema}")
    fields = sources[schema]["fields"]
    matching = [f for f in fields if f["name"] == field]
    if len(matching) != 1:
        raise CodecError("BAD_SCHEMA", f"{schema} has no field {field!r} to hold the operations' records")
    names = [_full_name(b) if "namespace" in b else f"vn.dancu.{b['name']}" for b in branches]
    if len(set(names)) != len(names):
        raise CodecError("BAD_SCHEMA", f"two operations name the same record in {schema}.{field}: {names}")
    composed = {**matching[0], "type": ["null", *branches]}
    sources[schema] = {**sources[schema], "fields": [composed if f is matching[0] else f for f in fields]}


def _wire(name: str, standalone: dict[str, Any]) -> WireSchema:
    """One standalone schema, parsed, with its single-object header."""
    try:
        parsed = fastavro.parse_schema(standalone, _write_hint=False, named_schemas={})
    except Exception as exc:  # fastavro raises several unrelated types for a bad schema
        raise CodecError("BAD_SCHEMA", f"{name}: {exc}") from exc
    canonical = to_parsing_canonical_form(parsed)
    header = MAGIC + bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    compiled = fastavro.parse_schema(standalone, named_schemas={})
    return WireSchema(name, parsed, header, standalone, compiled)


def _released(folder: Traversable) -> list[dict[str, Any]]:
    """The standalone schemas of every released version (``released/<version>/*.avsc``)."""
    released = folder / "released"
    if not released.is_dir():
        return []
    versions = sorted((v for v in released.iterdir() if v.is_dir()), key=lambda v: v.name)
    return [json.loads(p.read_text(encoding="utf-8")) for version in versions for p in _avsc_files(version)]


def _read_sources(directory: Traversable) -> dict[str, dict[str, Any]]:
    found = _avsc_files(directory)
    if not found:
        raise CodecError("BAD_SCHEMA", f"no *.avsc files in {directory}")
    sources: dict[str, dict[str, Any]] = {}
    for path in found:
        source = json.loads(path.read_text(encoding="utf-8"))
        sources[_full_name(source)] = source
    return sources


def _avsc_files(folder: Traversable) -> list[Traversable]:
    """The ``*.avsc`` files directly in ``folder``, by name."""
    return sorted(
        (f for f in folder.iterdir() if f.is_file() and f.name.endswith(".avsc")), key=lambda f: f.name
    )


def _full_name(schema: Mapping[str, Any]) -> str:
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _named_types(node: Any, namespace: str) -> dict[str, dict[str, Any]]:
    """Every named type defined in ``node``, by full name, each carrying its namespace explicitly."""
    found: dict[str, dict[str, Any]] = {}
    if isinstance(node, list):
        for item in node:
            found.update(_named_types(item, namespace))
    elif isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed") and "name" in node:
            namespace = node.get("namespace", namespace)
            full = _qualify(node["name"], f"{namespace}.x" if namespace else "x")
            found[full] = {**node, "namespace": full.rpartition(".")[0]} if "." in full else node
        for key in ("type", "items", "values", "fields"):
            if key in node:
                found.update(_named_types(node[key], namespace))
    return found


def _inline_foreign(
    source: dict[str, Any], defined: Mapping[str, dict[str, Any]], own: str
) -> dict[str, Any]:
    """Replace the first reference to each type of another file by its definition (Avro's rule)."""
    seen: set[str] = {own}

    def walk(node: Any) -> Any:
        if isinstance(node, str) and node in defined and node not in seen:
            seen.add(node)
            return walk(defined[node])
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            if "name" in node and node.get("type") in ("record", "enum", "fixed"):
                seen.add(_full_name(node) if "namespace" in node else _qualify(node["name"], own))
            return {
                key: walk(value) if key in ("type", "items", "values", "fields") else value
                for key, value in node.items()
            }
        return node

    result = walk(source)
    assert isinstance(result, dict)
    return result


def _qualify(name: str, enclosing: str) -> str:
    if "." in name:
        return name
    namespace = enclosing.rpartition(".")[0]
    return f"{namespace}.{name}" if namespace else name
