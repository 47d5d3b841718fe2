"""The audit chain under scale-out: a second audit consumer joins mid-stream and leaves again."""

from __future__ import annotations

from pathlib import Path

import pytest

from dancu_bus.admin.reader import read_to_end
from dancu_bus.settings import KafkaSettings
from tests.integration.audit_env import (
    exchange_all,
    records_written,
    second_audit_consumer,
    verify,
    wait_until_ready,
)
from tests.integration.exchange_env import running_deployment

pytestmark = pytest.mark.timeout(400)


def test_chain_survives_a_second_consumer_joining_and_leaving(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Rebalances hand audit partitions over and back; no exchange is recorded twice; every chain verifies."""
    with running_deployment(kafka_settings, tmp_path) as deployment:
        ids = exchange_all(deployment)
        with second_audit_consumer(deployment.settings, deployment.codec) as port:
            wait_until_ready(port)
            ids += exchange_all(deployment, start=300)
            written_by_second = records_written(port)
        ids += exchange_all(deployment, start=600)
        code, out = verify(deployment.settings)
        audit = read_to_end(deployment.settings.kafka, deployment.names.audit, 60)
    assert code == 0, out
    assert written_by_second > 0
    records = [deployment.codec.decode_audit(r.value) for r in audit]
    assert sorted(r.request_id for r in records) == sorted(ids)  # one record per exchange, none twice
    assert sorted(r.key or b"" for r in audit) == sorted(r.exchange_id.encode() for r in records)
