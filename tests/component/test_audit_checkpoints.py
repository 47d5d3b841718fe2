"""Signed checkpoints through the in-memory broker: the audit signs the heads its transactions committed."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from dancu_bus.agencies import FileAgencyDirectory
from dancu_bus.audit import check_checkpoints
from dancu_bus.audit.checkpoints import CheckpointCodec
from dancu_bus.audit.signing import read_public_keys
from dancu_bus.cli.audit_checkpoints import run_keygen
from dancu_bus.contracts import Citizen, ResponseStatus, VerifyQuery
from dancu_bus.operations import platform_codec
from dancu_bus.settings import KafkaSettings
from dancu_bus.store import PopulationStore
from dancu_bus.testing import InMemoryBus
from tests.component.test_behaviour import eventually
from tests.contexts import KYC
from tests.integration.exchange_env import deployment_settings
from tests.keys import sample_agencies

pytestmark = pytest.mark.timeout(120)


def key_pair(folder: Path) -> tuple[Path, Path]:
    """A signing key made by `audit keygen` in ``folder``: its private and its public file."""
    run_keygen(folder, io.StringIO())
    (private,), (public,) = folder.glob("*.key.pem"), folder.glob("*.pub.pem")
    return private, public


async def test_every_committed_head_is_signed_at_the_offset_the_broker_gave_it(
    tmp_path: Path, population: PopulationStore, people: list[Citizen]
) -> None:
    """After requests in several batches, the newest checkpoint names the bank partition's last record."""
    private, public = key_pair(tmp_path)
    audit = {"signing_key_file": private, "checkpoint_interval_s": 0.1}
    settings = deployment_settings(KafkaSettings(), tmp_path, audit)
    directory = FileAgencyDirectory({a.id: a for a in sample_agencies()})
    async with InMemoryBus(settings, directory=directory, store=population, codec=platform_codec()) as bus:

        def ask(count: int) -> None:
            with bus.client("demo-bank") as bank:
                for person in people[:count]:
                    query = VerifyQuery(person.personal_id, full_name=person.full_name)
                    assert bank.request(bank.build(query, KYC)).status is ResponseStatus.OK

        await asyncio.to_thread(ask, 3)
        codec = CheckpointCodec(bus.codec.schemas)

        def signed_last() -> bool:
            log = bus.audit_log()
            heads = [codec.decode(r.value).offset for r in bus.records(bus.names.audit_checkpoints)]
            return len(log) == 3 and max(heads, default=-1) == max(r.offset for r in log)

        assert await eventually(signed_last, bool)
        keys = read_public_keys(public)
        checkpoints = bus.records(bus.names.audit_checkpoints)
        (check,) = check_checkpoints(bus.audit_log(), checkpoints, bus.codec, keys)
        assert check.ok and check.unsigned == 0 and check.verified == len(checkpoints) >= 1
