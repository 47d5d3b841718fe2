"""The ``bus`` fixture: resolver, audit and the agencies' clients on the in-memory broker, and on Kafka.

Its params are ``memory`` (``dancu_bus.testing.InMemoryBus``) and ``kafka`` (``KafkaBus`` on the
secured test broker, as its super user, marked ``integration``): ``-m "not integration"`` runs a
behaviour suite on memory alone. Import the fixtures into a conftest to use them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dancu_bus.contracts import Citizen
from dancu_bus.operations import platform_codec
from dancu_bus.settings import KafkaSettings, StoreSettings
from dancu_bus.store import PopulationStore, open_store
from dancu_bus.store.seeding import seed_store
from dancu_bus.testing import Bus, InMemoryBus, KafkaBus
from tests.integration.exchange_env import deployment_settings
from tests.integration.secure_broker import secure_kafka
from tests.keys import sample_directory

__all__ = ["bus", "people", "population", "secure_kafka"]

CITIZENS = 200


@pytest.fixture
async def population(tmp_path: Path) -> AsyncIterator[PopulationStore]:
    """A SQLite store of synthetic citizens in a temporary directory, open for the test."""
    async with open_store(StoreSettings(path=tmp_path / "population.sqlite3"), create=True) as store:
        await seed_store(store, CITIZENS, seed=13)
        yield store


@pytest.fixture
async def people(population: PopulationStore) -> list[Citizen]:
    """Citizens the store holds."""
    return list(await population.sample(CITIZENS))


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
async def bus(
    request: pytest.FixtureRequest, tmp_path: Path, population: PopulationStore
) -> AsyncIterator[Bus]:
    """The sample agencies' bus, running for the test: in memory, or on the secured Kafka broker."""
    kafka = request.getfixturevalue("secure_kafka") if request.param == "kafka" else KafkaSettings()
    settings = deployment_settings(kafka, tmp_path)
    kind = InMemoryBus if request.param == "memory" else KafkaBus
    async with kind(settings, directory=sample_directory(), store=population, codec=platform_codec()) as on:
        yield on
