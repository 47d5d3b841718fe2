"""Choosing the population store backend from settings, and which PostgreSQL errors are worth retrying."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from dancu_bus.errors import ConfigError
from dancu_bus.settings import Settings, StoreSettings
from dancu_bus.store import SqliteStore, open_store
from dancu_bus.store.postgres import PostgresStore, is_retriable_sqlstate


def test_sqlite_is_the_default_backend() -> None:
    """Without settings the store is the SQLite file."""
    assert isinstance(open_store(StoreSettings()), SqliteStore)


def test_postgres_backend_with_a_dsn_opens_a_postgres_store() -> None:
    """Backend postgres and a DSN give an unconnected PostgresStore."""
    settings = StoreSettings(backend="postgres", dsn=SecretStr("postgresql://u:p@127.0.0.1:1/db"))
    assert isinstance(open_store(settings), PostgresStore)


def test_postgres_backend_without_a_dsn_is_a_config_error() -> None:
    """Choosing postgres without a DSN names the variable to set."""
    with pytest.raises(ConfigError, match="DANCU_STORE__DSN"):
        open_store(StoreSettings(backend="postgres"))


def test_backend_and_dsn_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """DANCU_STORE__BACKEND and DANCU_STORE__DSN reach the store settings, the DSN kept secret."""
    monkeypatch.setenv("DANCU_STORE__BACKEND", "postgres")
    monkeypatch.setenv("DANCU_STORE__DSN", "postgresql://u:hunter2@db/dancu")
    store = Settings().store
    assert store.backend == "postgres"
    assert store.dsn is not None and store.dsn.get_secret_value() == "postgresql://u:hunter2@db/dancu"
    assert "hunter2" not in repr(store)


@pytest.mark.parametrize(
    ("sqlstate", "retriable"),
    [
        ("08006", True),  # connection failure
        ("08001", True),  # cannot establish a connection
        ("53300", True),  # too many connections
        ("57P01", True),  # the server is shutting down
        ("57P03", True),  # the server is starting up
        ("40001", True),  # serialization failure
        ("40P01", True),  # deadlock detected
        ("3D000", False),  # no such database
        ("28P01", False),  # wrong password
        ("23502", False),  # a NOT NULL column left empty
        ("42P01", False),  # no such table
        ("", False),
        (None, False),
    ],
)
def test_retriable_sqlstates(sqlstate: str | None, retriable: bool) -> None:
    """Only errors that say "not now" (connection, resources, shutdown, conflicts) are retriable."""
    assert is_retriable_sqlstate(sqlstate) is retriable
