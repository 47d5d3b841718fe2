"""The wire codec: Avro single-object encoding of the schemas in ``schemas/``, each parsed once."""

from dancu_bus.codec.framing import MAGIC, SchemaSet, load_schemas
from dancu_bus.codec.messages import Codec

__all__ = ["MAGIC", "Codec", "SchemaSet", "load_schemas"]
