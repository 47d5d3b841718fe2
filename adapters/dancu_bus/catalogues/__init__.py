"""The shared catalogues of Art. 6: entries, schemes, loaders, conversion, validation (pure, no Kafka).

Administrative codes are read in their scheme: ``DVHC-2004`` (63 provinces, 696 districts, 10,035
communes, until 2025-06-30) or ``DVHC-2025`` (34 provinces, 3,321 communes, no districts, from
2025-07-01). Commune ``00004`` is Trúc Bạch in the first and Ba Đình in the second.
"""

from dancu_bus.catalogues.conversion import (
    AddressConversion,
    Candidate,
    CommuneConversion,
    convert_address,
    convert_commune,
    unconvertible_communes,
)
from dancu_bus.catalogues.data import load_entries
from dancu_bus.catalogues.model import (
    ADDRESS_SCHEMES,
    DEFAULT_SCHEME,
    DVHC_2004,
    DVHC_2025,
    Catalogue,
    CatalogueEntry,
    Label,
    Relation,
    Successor,
    entry_key,
)
from dancu_bus.catalogues.remap import Remap, apply_remaps, parse_remaps
from dancu_bus.catalogues.validation import (
    CITIZEN_CODES,
    CodeProblem,
    check_address,
    check_citizen,
    check_code,
)
from dancu_bus.catalogues.view import CatalogueSource, CatalogueView, catalogue_named, packaged_view
from dancu_bus.catalogues.wire import CATALOGUE_ENTRY, decode_entry, encode_entry

__all__ = [
    "ADDRESS_SCHEMES",
    "CATALOGUE_ENTRY",
    "CITIZEN_CODES",
    "DEFAULT_SCHEME",
    "DVHC_2004",
    "DVHC_2025",
    "AddressConversion",
    "Candidate",
    "Catalogue",
    "CatalogueEntry",
    "CatalogueSource",
    "CatalogueView",
    "CodeProblem",
    "CommuneConversion",
    "Label",
    "Relation",
    "Remap",
    "Successor",
    "apply_remaps",
    "catalogue_named",
    "check_address",
    "check_citizen",
    "check_code",
    "convert_address",
    "convert_commune",
    "decode_entry",
    "encode_entry",
    "entry_key",
    "load_entries",
    "packaged_view",
    "parse_remaps",
    "unconvertible_communes",
]
