"""Registry records on the wire: Avro single objects of ``vn.dancu.Agency`` and ``vn.dancu.Platform``."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from dancu_bus.agencies import Agency
from dancu_bus.codec import SchemaSet
from dancu_bus.errors import CodecError
from dancu_bus.registry.platform import Platform

__all__ = ["RegistryCodec"]

_AGENCY = "vn.dancu.Agency"
_PLATFORM = "vn.dancu.Platform"
_M = TypeVar("_M", bound=BaseModel)


class RegistryCodec:
    """Encodes and decodes registry records; the models' JSON form is the Avro record's shape."""

    def __init__(self, schemas: SchemaSet) -> None:
        self._schemas = schemas

    def encode_agency(self, agency: Agency) -> bytes:
        """Agency → bytes."""
        return self._schemas.encode(_AGENCY, agency.model_dump(mode="json"))

    def decode_agency(self, data: bytes | None) -> Agency:
        """Bytes → Agency, or CodecError."""
        return _model(self._schemas, data, _AGENCY, Agency)

    def encode_platform(self, platform: Platform) -> bytes:
        """Platform → bytes."""
        return self._schemas.encode(_PLATFORM, platform.model_dump(mode="json"))

    def decode_platform(self, data: bytes | None) -> Platform:
        """Bytes → Platform, or CodecError."""
        return _model(self._schemas, data, _PLATFORM, Platform)


def _model(schemas: SchemaSet, data: bytes | None, name: str, model: type[_M]) -> _M:
    found, record = schemas.decode(data)
    if found != name:
        raise CodecError("WRONG_SCHEMA", f"expected {name}, got {found}")
    try:
        return model.model_validate(record)
    except ValidationError as exc:
        raise CodecError("BAD_VALUE", f"{name}: {exc}") from exc
