"""A real Kafka broker for integration tests, and topic names no other test uses.

``DANCU_TEST_BOOTSTRAP=host:port`` points the tests at a running cluster. Otherwise the session
starts a dedicated broker (``.cache/test-broker``, ports 19092/19093, apart from the dev broker)
and stops it at the end, unless it was already running. When no broker can be had, the tests are
skipped locally and fail under ``CI=true``: integration tests never skip silently in CI.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest

from dancu_bus.admin import (
    broker_kafka,
    broker_status,
    delete_topics,
    describe,
    repo_root,
    start_broker,
    stop_broker,
    wait_ready,
)
from dancu_bus.errors import DancuError
from dancu_bus.settings import BrokerSettings, KafkaSettings
from tests.integration.secure_broker import secure_kafka  # noqa: F401 (the secured broker's fixture)

TEST_BROKER = BrokerSettings(
    home=repo_root() / ".cache" / "test-broker",
    port=19092,
    controller_port=19093,
    heap="512m",
    start_timeout_s=90.0,
)


def _give_up(reason: str) -> NoReturn:
    """Fail under CI, skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: integration tests must run)", pytrace=False)
    pytest.skip(reason)


def _external(bootstrap: str) -> KafkaSettings:
    """The cluster DANCU_TEST_BOOTSTRAP names, once it answers."""
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    try:
        wait_ready(kafka, 30.0)
    except DancuError as exc:
        _give_up(f"DANCU_TEST_BOOTSTRAP={bootstrap} does not answer: {exc}")
    return kafka


def _start_test_broker() -> bool:
    """Start the test broker unless it runs; True when this session started it."""
    hint = "set DANCU_TEST_BOOTSTRAP=host:port to use a running cluster"
    try:
        already_running = broker_status(TEST_BROKER).running
    except DancuError as exc:
        _give_up(f"cannot run the test broker's script: {exc}; {hint}")
    try:
        return start_broker(TEST_BROKER)
    except DancuError as exc:
        if not already_running:
            _stop_if_launched()
        _give_up(f"cannot start a Kafka broker for integration tests: {exc}; {hint}")


def _stop_if_launched() -> None:
    """Stop a test broker that was launched but never answered; nothing to do if none runs."""
    with contextlib.suppress(DancuError):  # the start failure is the one worth reporting
        stop_broker(TEST_BROKER)


@pytest.fixture(scope="session")
def kafka_settings() -> Iterator[KafkaSettings]:
    """Client settings of a real broker for the whole session."""
    bootstrap = os.environ.get("DANCU_TEST_BOOTSTRAP")
    if bootstrap:
        yield _external(bootstrap)
        return
    started = _start_test_broker()
    try:
        yield broker_kafka(TEST_BROKER)
    finally:
        if started:
            stop_broker(TEST_BROKER)


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
def cleanup_topics(kafka_settings: KafkaSettings, unique_prefix: str) -> Iterator[None]:
    """Delete, after the test, every topic it created under ``unique_prefix``."""
    yield
    delete_topics(kafka_settings, describe(kafka_settings, unique_prefix + "."))
