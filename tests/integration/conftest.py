"""A real Kafka broker for integration tests, and topic names no other test uses.

Every integration test talks to the secured broker over TLS (SASL_SSL, as its super user unless the
test logs in as a principal of its own): see ``secure_broker`` for how it is started or pointed at.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from dancu_bus.admin import delete_topics, describe
from dancu_bus.settings import KafkaSettings
from tests.integration.secure_broker import kafka_settings, mtls_bootstrap, secure_kafka  # noqa: F401


@pytest.fixture
def unique_prefix(request: pytest.FixtureRequest) -> str:
    """A topic prefix only this test uses: ``test.<test name>.<8 hex digits>``."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:80]
    return f"test.{name}.{uuid.uuid4().hex[:8]}"


@pytest.fixture
def unique_name(unique_prefix: str) -> str:
    """A topic name only this test uses, under ``unique_prefix``."""
    return f"{unique_prefix}.topic"


@pytest.fixture
def cleanup_topics(kafka_settings: KafkaSettings, unique_prefix: str) -> Iterator[None]:  # noqa: F811
    """Delete, after the test, every topic it created under ``unique_prefix``."""
    yield
    delete_topics(kafka_settings, describe(kafka_settings, unique_prefix + "."))
