"""README command 1's main job, `dancu-bus demo`, start to finish on a secured broker of its own."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from dancu_bus.demo import run_demo
from dancu_bus.faults.broker import free_port, prepare_home, remove_home
from dancu_bus.settings import (
    AuditIndexSettings,
    AuditSettings,
    BrokerSettings,
    ResolverSettings,
    Settings,
    StoreSettings,
)

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.timeout(600)]


def test_the_demo_runs_start_to_finish_and_leaves_no_value_in_clear(tmp_path: Path) -> None:
    """Broker over TLS, onboarding with answer keys, exchanges, suspension, audit intact, answers sealed."""
    port = free_port(2)
    broker = BrokerSettings(
        home=tmp_path / "broker",
        port=port,
        controller_port=port + 1,
    )
    prepare_home(broker)
    settings = Settings(
        broker=broker,
        store=StoreSettings(path=tmp_path / "population.sqlite3"),
        resolver=ResolverSettings(metrics_port=free_port()),
        audit=AuditSettings(metrics_port=free_port()),
        audit_index=AuditIndexSettings(path=tmp_path / "audit-index.sqlite3"),
    )
    out = io.StringIO()
    try:
        code = asyncio.run(run_demo(settings, out))
    finally:
        remove_home(broker)
    text = out.getvalue()
    assert code == 0, text
    assert "broker: secured (SASL_SSL, SCRAM-SHA-512, ACLs)" in text
    assert "answer key demo-bank-1" in text and "answer key demo-province-1" in text
    assert "REJECTED SUSPENDED" in text and "hash chains intact" in text
    assert "verdict=MATCH_WITHOUT_DIACRITICS [full_name=MATCH_WITHOUT_DIACRITICS, birth_date=MATCH]" in text
    assert "TRANSFER" in text and "refused by the SDK, nothing sent" in text
    assert "answers with personal data sealed (keys demo-bank-1, demo-province-1)" in text
    assert "SOME IN CLEAR" not in text
    # The citizens' channels: the SMS reply in UCS-2 segments, the portal's history naming both channels.
    assert "sms: MT RECORD to +" in text and "UCS2 segment(s)" in text and "  [1/" in text
    assert "portal: CITIZEN_INFO (VNeID, level 2)" in text and ": OK [" in text
    history = text.split("(who read my data), newest first:\n", 1)[1]
    assert "SELF ART8-SELF" in history and "SELF ART9-SELF" in history
