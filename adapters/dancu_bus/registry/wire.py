"""Registry records on the wire: Avro single objects of ``vn.dancu.Agency`` and ``vn.dancu.Platform``."""

from __future__ import annotations

from dancu_bus.agencies import Agency
from dancu_bus.codec import SchemaSet
from dancu_bus.registry.platform import Platform

__all__ = ["RegistryCodec"]

_AGENCY = "vn.dancu.Agency"
_PLATFORM = "vn.dancu.Platform"


class RegistryCodec:
    """Encodes and decodes registry records; the models' JSON form is the Avro record's shape."""

    def __init__(self, schemas: SchemaSet) -> None:
        self._schemas = schemas

    def encode_agency(self, agency: Agency) -> bytes:
        """Agency → bytes."""
        return self._schemas.encode(_AGENCY, agency.model_dump(mode="json"))

    def decode_agency(self, data: bytes | None) -> Agency:
        """Bytes → Agency, or CodecError."""
        return self._schemas.decode_as(_AGENCY, data, Agency.model_validate)

    def encode_platform(self, platform: Platform) -> bytes:
        """Platform → bytes."""
        return self._schemas.encode(_PLATFORM, platform.model_dump(mode="json"))

    def decode_platform(self, data: bytes | None) -> Platform:
        """Bytes → Platform, or CodecError."""
        return self._schemas.decode_as(_PLATFORM, data, Platform.model_validate)
