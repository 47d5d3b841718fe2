"""Catalogue codes checked on both sides: the pure checks, the resolver's INVALID_CODE, the SDK's refusal."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from dancu_bus.agencies import Agency, FileAgencyDirectory, Purpose
from dancu_bus.catalogues import DVHC_2004, DVHC_2025, CatalogueView, CodeProblem, packaged_view
from dancu_bus.contracts import (
    DISCLOSABLE_FIELDS,
    Address,
    Citizen,
    LookupQuery,
    Operation,
    Provenance,
    Request,
    VerifyQuery,
)
from dancu_bus.errors import InvalidCode
from dancu_bus.operations import OPERATIONS, platform_codec
from dancu_bus.operations.lookup import lookup
from dancu_bus.reasons import Reason
from dancu_bus.resolver import Admission, Admitted, Rejection, reject, respond
from dancu_bus.sdk import Client, ClientConfig, Context
from dancu_bus.sdk.exchange import Exchange
from tests.keys import keyed
from tests.unit import samples

pytestmark = pytest.mark.catalogues

VIEW = packaged_view()
NOW = samples.SENT + timedelta(seconds=1)
ID = "001090012345"
EXCHANGE = samples.VERIFY_EXCHANGE
EVERYTHING = Purpose(
    legal_basis=samples.VERIFY_REQUEST.legal_basis,
    operations=frozenset({Operation.VERIFY, Operation.LOOKUP}),
    fields=frozenset(DISCLOSABLE_FIELDS),
)
DIRECTORY = FileAgencyDirectory(
    {
        "demo-province": keyed(
            Agency(
                id="demo-province",
                name="Province",
                operations=frozenset({Operation.VERIFY, Operation.LOOKUP}),
                purposes={"PUBLIC-SERVICE": EVERYTHING},
            )
        )
    }
)
TRUC_BACH = Address(DVHC_2004, "01", "00004", "001")
BA_DINH = Address(DVHC_2025, "01", "00004")

INVALID = [
    (
        VerifyQuery(ID, ethnic_group="99"),
        "ethnic_group: 99 is not a TCTK-1979 code of the ethnic group catalogue",
    ),
    (VerifyQuery(ID, sex="M"), "sex: M is not a BHYT code of the gender catalogue"),
    (
        VerifyQuery(ID, permanent_address=Address(DVHC_2025, "01", "99999")),
        "permanent_address.commune_code: 99999 is not a DVHC-2025 commune",
    ),
    (
        VerifyQuery(ID, permanent_address=Address(DVHC_2025, "01", "00004", "001")),
        "permanent_address.district_code: DVHC-2025 has no districts",
    ),
    (
        VerifyQuery(ID, permanent_address=Address("DVHC-1999", "01", "00004")),
        "permanent_address.scheme: 'DVHC-1999' is not an address scheme (DVHC-2025 or DVHC-2004)",
    ),
    (
        VerifyQuery(ID, permanent_address=Address(DVHC_2025, "65", "00004")),
        "permanent_address.province_code: 65 is not a DVHC-2025 province",
    ),
    (
        VerifyQuery(ID, permanent_address=Address(DVHC_2025, "79", "00004")),
        "permanent_address.commune_code: 00004 is a DVHC-2025 commune of province 01, not of province 79",
    ),
    (
        VerifyQuery(ID, permanent_address=Address(DVHC_2004, "01", "00004", "002")),
        "permanent_address.commune_code: 00004 is a DVHC-2004 commune of district 001, not of district 002",
    ),
    (
        VerifyQuery(ID, permanent_address=Address(DVHC_2004, "79", "00004", "001")),
        "permanent_address.district_code: 001 is a DVHC-2004 district of province 01, not of province 79",
    ),
    (
        VerifyQuery(ID, permanent_address=Address(DVHC_2004, "01", "00004", "999")),
        "permanent_address.district_code: 999 is not a DVHC-2004 district",
    ),
    (
        VerifyQuery(ID, permanent_address=Address(DVHC_2004, "01", "26732")),
        "permanent_address.commune_code: 26732 is not a DVHC-2004 commune",
    ),
    (LookupQuery(ID, address_scheme="VN-2030"), "address_scheme: 'VN-2030' is not an address scheme"),
]
VALID = [
    VerifyQuery(ID, sex="2", ethnic_group="55", permanent_address=BA_DINH),
    VerifyQuery(ID, permanent_address=TRUC_BACH),
    VerifyQuery(ID, permanent_address=Address(DVHC_2004, "01", "00004")),  # the commune implies its district
    VerifyQuery(ID, permanent_address=Address(DVHC_2025, "79", "26732")),  # Côn Đảo special zone
    LookupQuery(ID, address_scheme=DVHC_2004),
    LookupQuery(ID),
]


@pytest.mark.parametrize(
    ("query", "message"), INVALID, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(INVALID)]
)
def test_each_bad_code_is_named_with_its_field_and_scheme(
    query: VerifyQuery | LookupQuery, message: str
) -> None:
    """The first code its catalogue lacks is reported with the field's path and the scheme read in."""
    problem = check_query(query, VIEW)
    assert problem is not None and problem.message.startswith(message)


@pytest.mark.parametrize("query", VALID)
def test_valid_codes_pass(query: VerifyQuery | LookupQuery) -> None:
    """Known codes in their scheme, including the flagged ethnic extension and a special zone, pass."""
    assert check_query(query, VIEW) is None


def check_query(query: VerifyQuery | LookupQuery, view: CatalogueView) -> CodeProblem | None:
    """The code problem the query's operation finds (what the SDK checks before sending)."""
    return OPERATIONS.for_query(query).code_problem(query, view)


def request(body: VerifyQuery | LookupQuery) -> Request:
    """A province request of the operation its body implies."""
    operation = "LOOKUP" if isinstance(body, LookupQuery) else "VERIFY"
    return dataclasses.replace(
        samples.VERIFY_REQUEST,
        agency="demo-province",
        purpose_code="PUBLIC-SERVICE",
        operation=operation,
        body=body,
    )


@pytest.mark.parametrize(("query", "message"), INVALID[:4])
def test_resolver_rejects_with_invalid_code(query: VerifyQuery, message: str) -> None:
    """Admission refuses an unknown code with INVALID_CODE, the detail naming field and scheme."""
    decision = Admission(DIRECTORY).check(request(query), "demo-province", NOW, VIEW)
    assert isinstance(decision, Rejection) and decision.reason is Reason.INVALID_CODE
    response = reject(request(query), decision, NOW, exchange_id=EXCHANGE, agency="demo-province")
    assert response.message_en == f"A catalogue code is not valid. ({message})"


def test_scheme_tells_the_two_communes_00004_apart() -> None:
    """Old 00004 needs district 001 of province 01; new 00004 must have no district."""
    assert isinstance(
        Admission(DIRECTORY).check(
            request(VerifyQuery(ID, permanent_address=TRUC_BACH)), "demo-province", NOW
        ),
        Admitted,
    )
    assert isinstance(
        Admission(DIRECTORY).check(request(VerifyQuery(ID, permanent_address=BA_DINH)), "demo-province", NOW),
        Admitted,
    )
    swapped = dataclasses.replace(BA_DINH, district_code="001")
    decision = Admission(DIRECTORY).check(
        request(VerifyQuery(ID, permanent_address=swapped)), "demo-province", NOW
    )
    assert isinstance(decision, Rejection) and "DVHC-2025 has no districts" in decision.detail


def test_an_empty_catalogue_view_rejects_every_code() -> None:
    """The resolver validates against the view it is given, not against the packaged data behind it."""
    decision = Admission(DIRECTORY).check(
        request(VerifyQuery(ID, sex="1")), "demo-province", NOW, CatalogueView(())
    )
    assert isinstance(decision, Rejection) and decision.reason is Reason.INVALID_CODE


CITIZEN = Citizen(
    personal_id=ID,
    full_name="Nguyễn Thị Ánh",
    birth_date=date(1990, 5, 17),
    sex="2",
    ethnic_group="01",
    religion="00",
    nationality="VN",
    permanent_address=dataclasses.replace(BA_DINH, detail="Số 12, phố Quán Thánh"),
    household_id="HH-1",
    household_relation="01",
    phone=None,
    status="ALIVE",
    provenance={f: Provenance("BO-CONG-AN-CU-TRU", date(2025, 7, 1)) for f in DISCLOSABLE_FIELDS},
)


def disclosed_address(scheme: str | None) -> tuple[object, ...]:
    """The permanent address a LOOKUP in ``scheme`` discloses: value, origin, alternatives."""
    body = LookupQuery(ID, ("permanent_address",), scheme)
    decision = Admission(DIRECTORY).check(request(body), "demo-province", NOW, VIEW)
    assert isinstance(decision, Admitted)
    result = lookup(decision.query, decision.purpose, CITIZEN, VIEW)
    response = respond(request(body), result, NOW, exchange_id=EXCHANGE, agency="demo-province")
    assert response.lookup is not None
    (field,) = response.lookup.fields
    return field.value, field.converted_from, field.alternatives


def test_lookup_in_dvhc_2025_is_the_stored_address() -> None:
    """By default addresses come in DVHC-2025, as stored, not converted."""
    assert disclosed_address(None) == (CITIZEN.permanent_address, None, ())


def test_lookup_in_dvhc_2004_says_it_was_converted_and_lists_the_alternatives() -> None:
    """Asked for DVHC-2004, Ba Đình becomes Trúc Bạch (the commune that kept 00004), marked converted."""
    value, origin, alternatives = disclosed_address(DVHC_2004)
    assert value == Address(DVHC_2004, "01", "00004", "001", "Số 12, phố Quán Thánh")
    assert origin == CITIZEN.permanent_address
    assert isinstance(alternatives, tuple) and len(alternatives) == 9


def test_lookup_response_with_conversion_survives_the_wire() -> None:
    """The converted address, its origin and alternatives round-trip through the Response schema."""
    codec = platform_codec()
    body = LookupQuery(ID, ("permanent_address",), DVHC_2004)
    decision = Admission(DIRECTORY).check(request(body), "demo-province", NOW, VIEW)
    assert isinstance(decision, Admitted)
    result = lookup(decision.query, decision.purpose, CITIZEN, VIEW)
    response = respond(request(body), result, NOW, exchange_id=EXCHANGE, agency="demo-province")
    assert codec.decode_response(codec.encode_response(response)) == response


def test_sdk_refuses_an_unknown_code_before_producing() -> None:
    """The client raises InvalidCode naming the field and scheme; nothing is sent or awaited."""
    config = ClientConfig("demo-province")
    client = Client(config)  # never opened: the check comes before any Kafka call
    context = Context("can-bo-1", "HS-1", "PUBLIC-SERVICE", "Nghị định 45/2020/NĐ-CP, Điều 11")
    with pytest.raises(InvalidCode) as caught:
        client.verify(VerifyQuery(ID, ethnic_group="99"), context)
    assert (caught.value.field, caught.value.scheme) == ("ethnic_group", "TCTK-1979")
    with pytest.raises(InvalidCode, match=r"permanent_address\.district_code: DVHC-2025 has no districts"):
        client.verify(
            VerifyQuery(ID, permanent_address=dataclasses.replace(BA_DINH, district_code="001")), context
        )
    exchange = Exchange(config, platform_codec())
    with pytest.raises(InvalidCode, match="address_scheme"):
        exchange.submit(request(LookupQuery(ID, address_scheme="VN-2030")))
    assert exchange.in_flight == 0
