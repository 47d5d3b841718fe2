"""The catalogues on a real broker: `catalogue load`, the live view, and the resolver's INVALID_CODE."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from dancu_bus.admin.catalogues import catalogue_topic, load_catalogues
from dancu_bus.admin.reader import read_to_end
from dancu_bus.admin.topics import apply_topics
from dancu_bus.catalogues import (
    DVHC_2004,
    DVHC_2025,
    Catalogue,
    Remap,
    apply_remaps,
    decode_entry,
    load_entries,
)
from dancu_bus.cli.main import main
from dancu_bus.contracts import Address, Citizen, LookupQuery, VerifyQuery
from dancu_bus.errors import InvalidCode
from dancu_bus.operations import platform_codec
from dancu_bus.resolver.catalogues import catalogue_source
from dancu_bus.sdk import Client, ClientConfig, MatchOutcome
from dancu_bus.settings import KafkaSettings, ResolverSettings, Settings, kafka_environment
from dancu_bus.store import open_store
from tests.contexts import PUBLIC_SERVICE as SERVICE
from tests.integration.exchange_env import Deployment, running_deployment
from tests.keys import sdk_keys

pytestmark = [pytest.mark.catalogues, pytest.mark.timeout(300)]

CODEC = platform_codec()
# Rows of the data per catalogue and scheme (the acceptance numbers of issue 4).
EXPECTED: dict[Catalogue, dict[str, int]] = {
    Catalogue.PROVINCE: {DVHC_2004: 63, DVHC_2025: 34},
    Catalogue.DISTRICT: {DVHC_2004: 696},
    Catalogue.COMMUNE: {DVHC_2004: 10_035, DVHC_2025: 3_321},
    Catalogue.COUNTRY: {"ISO-3166-1": 250},
    Catalogue.NATIONALITY: {"ISO-3166-1": 252},
    Catalogue.ETHNIC_GROUP: {"TCTK-1979": 55},
    Catalogue.RELIGION: {"DANCU-PROVISIONAL": 17},
    Catalogue.GENDER: {"BHYT": 3},
    Catalogue.MARITAL_STATUS: {"DANCU-PROVISIONAL": 5},
    Catalogue.BLOOD_GROUP: {"DANCU-PROVISIONAL": 12},
    Catalogue.HOUSEHOLD_RELATION: {"DANCU-PROVISIONAL": 44},
}


@pytest.fixture
def kafka(
    kafka_settings: KafkaSettings, unique_prefix: str, cleanup_topics: None, monkeypatch: pytest.MonkeyPatch
) -> KafkaSettings:
    """Topics under this test's own prefix, applied; the CLI reads the same cluster and prefix."""
    kafka = kafka_settings.model_copy(update={"topic_prefix": unique_prefix})
    apply_topics(kafka, [], replication_factor=1)
    for name, value in kafka_environment(kafka).items():
        monkeypatch.setenv(name, value)
    return kafka


def on_topics(kafka: KafkaSettings) -> dict[Catalogue, tuple[int, Counter[str]]]:
    """Per catalogue topic: how many records it holds, and how many distinct keys per scheme."""
    found = {}
    for catalogue in Catalogue:
        records = read_to_end(kafka, catalogue_topic(kafka, catalogue), 60)
        latest = {r.key: r.value for r in records}
        schemes = Counter(decode_entry(CODEC, value).scheme for value in latest.values())
        found[catalogue] = (len(records), schemes)
    return found


def test_load_gives_the_datas_row_counts_and_a_second_load_adds_nothing(
    kafka: KafkaSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dancu-bus catalogue load` puts exactly the data's rows on each topic; loading again produces none."""
    started = time.perf_counter()
    assert main(["catalogue", "load"]) == 0
    first_s = time.perf_counter() - started
    first = capsys.readouterr().out
    assert "14,787 entries, 14,787 produced, 0 unchanged" in first
    counts = on_topics(kafka)
    for catalogue, schemes in EXPECTED.items():
        records, keys = counts[catalogue]
        assert dict(keys) == schemes, catalogue
        assert records == sum(schemes.values()), catalogue  # one record per key: no duplicates
    started = time.perf_counter()
    assert main(["catalogue", "load"]) == 0
    second_s = time.perf_counter() - started
    assert "14,787 entries, 0 produced, 14,787 unchanged" in capsys.readouterr().out
    assert on_topics(kafka) == counts
    print(f"catalogue load: first {first_s:.1f} s, second {second_s:.1f} s")


def test_a_remap_produces_only_the_changed_and_new_entries(kafka: KafkaSettings, tmp_path: Path) -> None:
    """After a remap only the closed provisional entry and its national entry are produced."""
    load_catalogues(kafka, CODEC, load_entries())
    table = tmp_path / "remaps.csv"
    table.write_text(
        "catalogue,code,national_scheme,national_code,effective_on\nblood-group,A+,QCVN-2027,A1,2027-01-01\n",
        encoding="utf-8",
    )
    assert main(["catalogue", "load", "--remaps", str(table)]) == 0
    records, keys = on_topics(kafka)[Catalogue.BLOOD_GROUP]
    assert (records, dict(keys)) == (14, {"DANCU-PROVISIONAL": 12, "QCVN-2027": 1})


async def test_the_live_view_reads_the_topics_and_follows_changes(kafka: KafkaSettings) -> None:
    """A service's view holds every entry after start-up and sees a later change within seconds."""
    await asyncio.to_thread(load_catalogues, kafka, CODEC, load_entries())
    settings = Settings(kafka=kafka, resolver=ResolverSettings(catalogues_source="topics"))
    async with catalogue_source(settings, CODEC.schemas) as source:
        assert source.view.count(Catalogue.COMMUNE, DVHC_2004) == 10_035
        assert source.view.count(Catalogue.COMMUNE, DVHC_2025) == 3_321
        remap = Remap(Catalogue.BLOOD_GROUP, "O-", "QCVN-2027", "O2", date(2027, 1, 1))
        changed = apply_remaps(load_entries(), [remap])
        await asyncio.to_thread(load_catalogues, kafka, CODEC, changed)
        deadline = time.monotonic() + 10
        while source.view.get(Catalogue.BLOOD_GROUP, "O2", "QCVN-2027") is None:
            assert time.monotonic() < deadline, "the change did not reach the live view"
            await asyncio.sleep(0.1)
        old = source.view.get(Catalogue.BLOOD_GROUP, "O-")
        assert old is not None and old.replaced_by == "QCVN-2027:O2"


@pytest.fixture(scope="module")
def deployment(
    kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """One running deployment, its resolver validating against the catalogue topics."""
    with running_deployment(kafka_settings, tmp_path_factory.mktemp("catalogues")) as running:
        yield running


def client(deployment: Deployment, *, check_codes: bool = True) -> Client:
    """A province's client; without the SDK's own check, bad codes reach the resolver."""
    config = ClientConfig(
        "demo-province",
        deployment.settings.kafka,
        timeout_s=60,
        check_codes=check_codes,
        answer_keys=sdk_keys("demo-province"),
    )
    return Client(config, deployment.codec)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (VerifyQuery("001090012345", ethnic_group="99"), "ethnic_group: 99 is not a TCTK-1979 code"),
        (
            VerifyQuery("001090012345", permanent_address=Address(DVHC_2025, "01", "99999")),
            "permanent_address.commune_code: 99999 is not a DVHC-2025 commune",
        ),
        (
            VerifyQuery("001090012345", permanent_address=Address(DVHC_2025, "01", "00004", "001")),
            "permanent_address.district_code: DVHC-2025 has no districts",
        ),
    ],
)
def test_the_resolver_rejects_unknown_codes_naming_the_field(
    deployment: Deployment, query: VerifyQuery, field: str
) -> None:
    """An unknown ethnic group or commune, or a DVHC-2025 district, gets INVALID_CODE naming the field."""
    # The SDK refuses first, before producing; without its check the resolver refuses.
    with client(deployment) as checked, pytest.raises(InvalidCode, match=re.escape(field)):
        checked.verify(query, SERVICE)
    with client(deployment, check_codes=False) as unchecked:
        answer = unchecked.verify(query, SERVICE)
    assert not answer.ok and answer.reason_code == "INVALID_CODE"
    assert answer.message_en is not None and field in answer.message_en
    assert answer.message_vi is not None and field in answer.message_vi


def test_old_and_new_00004_are_told_apart_by_scheme(deployment: Deployment) -> None:
    """Trúc Bạch (DVHC-2004 00004) and Ba Đình (DVHC-2025 00004) are both valid, each in its own scheme."""
    person = deployment.people[0]
    stored = person.permanent_address
    with client(deployment) as province:
        same = province.verify(VerifyQuery(person.personal_id, permanent_address=stored), SERVICE)
        old = province.verify(
            VerifyQuery(person.personal_id, permanent_address=Address(DVHC_2004, "01", "00004", "001")),
            SERVICE,
        )
    assert same.ok and same.fields["permanent_address"] is MatchOutcome.MATCH
    # A DVHC-2004 address is valid but cannot be compared with a DVHC-2025 record without conversion.
    assert old.ok and old.fields["permanent_address"] is MatchOutcome.NOT_ON_RECORD


def test_lookup_answers_in_the_scheme_asked_for(deployment: Deployment) -> None:
    """LOOKUP gives DVHC-2025 as stored by default, and DVHC-2004 marked as converted when asked."""
    person = deployment.people[1]
    with client(deployment) as province:
        default = province.lookup(LookupQuery(person.personal_id, ("permanent_address",)), SERVICE)
        old = province.lookup(LookupQuery(person.personal_id, ("permanent_address",), DVHC_2004), SERVICE)
    stored = default.fields["permanent_address"]
    assert stored.value == person.permanent_address and stored.converted_from is None
    converted = old.fields["permanent_address"]
    assert isinstance(converted.value, Address)
    assert converted.value.scheme == DVHC_2004 and converted.value.district_code is not None
    assert converted.converted_from == person.permanent_address
    assert all(a.scheme == DVHC_2004 for a in converted.alternatives)


async def _store(deployment: Deployment, citizen: Citizen) -> None:
    """Add one citizen to the running deployment's store."""
    async with open_store(deployment.settings.store) as store:
        await store.put_many([citizen])


def test_lookup_of_ba_dinh_in_dvhc_2004_is_truc_bach(deployment: Deployment) -> None:
    """Someone stored at DVHC-2025 00004 (Ba Đình) is answered at DVHC-2004 00004 (Trúc Bạch), converted."""
    ba_dinh = Address(DVHC_2025, "01", "00004", None, "Số 12, phố Quán Thánh")
    resident = dataclasses.replace(
        deployment.people[2], personal_id="001090999001", permanent_address=ba_dinh
    )
    assert resident.personal_id not in {p.personal_id for p in deployment.people}
    asyncio.run(_store(deployment, resident))
    with client(deployment) as province:
        old = province.lookup(LookupQuery(resident.personal_id, ("permanent_address",), DVHC_2004), SERVICE)
        new = province.lookup(LookupQuery(resident.personal_id, ("permanent_address",)), SERVICE)
    assert old.ok and new.ok
    converted = old.fields["permanent_address"]
    assert converted.value == Address(DVHC_2004, "01", "00004", "001", ba_dinh.detail)
    assert converted.converted_from == ba_dinh and len(converted.alternatives) == 9
    assert (new.fields["permanent_address"].value, new.fields["permanent_address"].converted_from) == (
        ba_dinh,
        None,
    )
