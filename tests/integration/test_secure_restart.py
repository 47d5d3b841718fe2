"""Users, secrets and ACLs survive a restart of the secured broker, revocations included.

Kafka 4.1 in KRaft mode can lose every SCRAM credential at the next restart once a credential has
been deleted (deleting the first user created after formatting is enough); revocation therefore
replaces an agency's secret instead of deleting it. This module pins that on a private broker.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from dancu_bus.access import PLATFORM_PRINCIPALS, RESOLVER
from dancu_bus.admin.config import client_config
from dancu_bus.admin.security import (
    ensure_platform_principals,
    issue_agency_credentials,
    revoke_agency_credentials,
)
from dancu_bus.admin.topics import apply_topics
from dancu_bus.dev import broker_kafka, start_broker, stop_broker
from dancu_bus.dev.broker import broker_home
from dancu_bus.settings import BrokerSettings, KafkaSettings
from dancu_bus.topic_names import TopicNames
from tests.integration.secure_broker import SECURE_TEST_BROKER
from tests.integration.secured_env import login_errors, produce_error

pytestmark = [pytest.mark.security, pytest.mark.timeout(240)]

NAMES = TopicNames("restart.dancu")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _borrow_jars(home: Path) -> None:
    """Link the session broker's jars into ``home`` rather than fetching them again."""
    home.mkdir(parents=True)
    for libs in broker_home(SECURE_TEST_BROKER).glob("libs-*"):
        (home / libs.name).symlink_to(libs, target_is_directory=True)


@pytest.fixture
def private_broker(secure_kafka: KafkaSettings, tmp_path: Path) -> Iterator[BrokerSettings]:
    """A secured broker of this test alone, stopped afterwards (the session broker fetched the jars)."""
    home = tmp_path / "broker"
    _borrow_jars(home)
    broker = BrokerSettings(
        home=home, port=_free_port(), controller_port=_free_port(), heap="512m", secure=True
    )
    start_broker(broker)
    try:
        yield broker
    finally:
        stop_broker(broker)


def _as(admin: KafkaSettings, user: str, password: SecretStr) -> KafkaSettings:
    return admin.model_copy(update={"username": user, "password": password})


def test_credentials_and_acls_survive_a_restart_after_a_revocation(private_broker: BrokerSettings) -> None:
    """After revoking the first agency ever issued and restarting, the others still work and it does not."""
    admin = broker_kafka(private_broker).model_copy(update={"topic_prefix": NAMES.prefix})
    apply_topics(admin, ["first", "second"], replication_factor=1)
    first = issue_agency_credentials(admin, NAMES, "first")
    second = issue_agency_credentials(admin, NAMES, "second")
    platform = {user: SecretStr(f"{user}-secret-0123456789") for user in PLATFORM_PRINCIPALS}
    ensure_platform_principals(admin, NAMES, platform)
    revoke_agency_credentials(admin, NAMES, "first")
    stop_broker(private_broker)
    start_broker(private_broker)  # returns once the super user can log in again
    assert produce_error(_as(admin, "second", second), NAMES.request("second")) is None
    assert produce_error(_as(admin, RESOLVER, platform[RESOLVER]), NAMES.response("second")) is None
    refused = login_errors(client_config(_as(admin, "first", first)))
    assert any("invalid credentials" in e.str() for e in refused), refused
