"""The secured Kafka broker (SASL_SSL, SCRAM-SHA-512, StandardAuthorizer) every integration test runs on.

``DANCU_TEST_SECURE_BOOTSTRAP=host:port`` with ``DANCU_TEST_SECURE_ADMIN_PASSWORD`` and
``DANCU_TEST_SECURE_CA`` (the CA file of its certificates; optionally ``DANCU_TEST_SECURE_ADMIN_USER``,
default ``dancu-admin``, and ``DANCU_TEST_SECURE_MTLS_BOOTSTRAP``, a listener that wants client
certificates) points the tests at a running secured cluster. Otherwise the session starts a dedicated
secured broker (``.cache/test-secure-broker``, ports 19192/19193, mutual TLS on 19194; under
pytest-xdist one per worker, ``-gwN`` and 10 × N ports further up) on freshly
formatted storage, so no users or ACLs of an earlier session linger, and stops it at the end; a broker
already running is used as it is. The tests skip locally and fail under ``CI=true`` when no secured
broker can be had.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from pydantic import SecretStr

from dancu_bus.admin import wait_ready
from dancu_bus.dev import broker_kafka, broker_status, repo_root, start_broker, stop_broker
from dancu_bus.dev.broker import ADMIN_USER, broker_home
from dancu_bus.errors import DancuError
from dancu_bus.settings import BrokerSettings, KafkaSettings

__all__ = ["SECURE_TEST_BROKER", "kafka_settings", "mtls_bootstrap", "secure_kafka"]

# Each pytest-xdist worker (gw0, gw1, …) has a broker of its own, ten ports further up per worker.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_OFFSET = 10 * int(_WORKER.removeprefix("gw")) if _WORKER.startswith("gw") else 0
SECURE_TEST_BROKER = BrokerSettings(
    home=repo_root() / ".cache" / ("test-secure-broker" + (f"-{_WORKER}" if _WORKER else "")),
    port=19192 + _OFFSET,
    controller_port=19193 + _OFFSET,
    mtls_port=19194 + _OFFSET,
    heap="768m",
    start_timeout_s=90.0,
    secure=True,
)
_HINT = (
    "set DANCU_TEST_SECURE_BOOTSTRAP and DANCU_TEST_SECURE_ADMIN_PASSWORD to use a running secured cluster"
)


def _give_up(reason: str) -> NoReturn:
    """Fail under CI, skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: security tests must run)", pytrace=False)
    pytest.skip(reason)


def _external(bootstrap: str) -> KafkaSettings:
    """The secured cluster the environment names, as its super user, once it answers."""
    password = os.environ.get("DANCU_TEST_SECURE_ADMIN_PASSWORD")
    if not password:
        _give_up(f"DANCU_TEST_SECURE_BOOTSTRAP is set but not DANCU_TEST_SECURE_ADMIN_PASSWORD; {_HINT}")
    ca = os.environ.get("DANCU_TEST_SECURE_CA")
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_SSL",
        ssl_ca=Path(ca) if ca else None,
        username=os.environ.get("DANCU_TEST_SECURE_ADMIN_USER", ADMIN_USER),
        password=SecretStr(password),
    )
    try:
        wait_ready(kafka, 30.0)
    except DancuError as exc:
        _give_up(f"DANCU_TEST_SECURE_BOOTSTRAP={bootstrap} does not answer its super user: {exc}")
    return kafka


def _forget_storage() -> None:
    """Remove the secured test broker's storage and admin password; the jars stay."""
    home = broker_home(SECURE_TEST_BROKER)
    shutil.rmtree(home / "data", ignore_errors=True)
    for name in ("mode", "admin.password"):
        (home / name).unlink(missing_ok=True)
    shutil.rmtree(home / "tls", ignore_errors=True)  # a new CA each session: no certificate outlives it


def _start() -> bool:
    """Start the secured test broker unless it runs; True when this session started it."""
    try:
        already_running = broker_status(SECURE_TEST_BROKER).running
    except DancuError as exc:
        _give_up(f"cannot run the secured test broker's script: {exc}; {_HINT}")
    if not already_running:
        _forget_storage()
    try:
        return start_broker(SECURE_TEST_BROKER)
    except DancuError as exc:
        if not already_running:
            with contextlib.suppress(DancuError):  # the start failure is the one worth reporting
                stop_broker(SECURE_TEST_BROKER)
        _give_up(f"cannot start a secured Kafka broker for the security tests: {exc}; {_HINT}")


@pytest.fixture(scope="session")
def secure_kafka() -> Iterator[KafkaSettings]:
    """Super-user client settings of a secured broker for the whole session."""
    bootstrap = os.environ.get("DANCU_TEST_SECURE_BOOTSTRAP")
    if bootstrap:
        yield _external(bootstrap)
        return
    started = _start()
    try:
        yield broker_kafka(SECURE_TEST_BROKER)
    finally:
        if started:
            stop_broker(SECURE_TEST_BROKER)


@pytest.fixture(scope="session")
def kafka_settings(secure_kafka: KafkaSettings) -> KafkaSettings:
    """What most integration tests use: the secured broker's super user, over TLS."""
    return secure_kafka


@pytest.fixture(scope="session")
def mtls_bootstrap(secure_kafka: KafkaSettings) -> str:
    """The secured broker's listener that also wants a client certificate signed by its CA."""
    if os.environ.get("DANCU_TEST_SECURE_BOOTSTRAP"):
        given = os.environ.get("DANCU_TEST_SECURE_MTLS_BOOTSTRAP")
        if not given:
            _give_up("DANCU_TEST_SECURE_MTLS_BOOTSTRAP is not set: the mutual-TLS tests need that listener")
        return given
    return f"127.0.0.1:{SECURE_TEST_BROKER.mtls_port}"
