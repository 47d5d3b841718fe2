"""Shared test setup: tiers are marked by where a test lives."""

from __future__ import annotations

from pathlib import Path

import pytest

INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"

# The PostgreSQL server and per-test databases of the store's contract suite.
pytest_plugins = ["tests.postgres_fixture"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration ``integration``, so ``-m "not integration"`` skips them."""
    for item in items:
        if INTEGRATION_DIR in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)
