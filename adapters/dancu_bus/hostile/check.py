"""What ``dancu-bus check hostile`` needs from a running stack: logins, the agencies' purposes, people."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dancu_bus.admin.registry import RegistryClient
from dancu_bus.agencies import Agency
from dancu_bus.codec import Codec
from dancu_bus.contracts import Citizen, Operation
from dancu_bus.errors import ConfigError
from dancu_bus.hostile.battery import Logins, ProbeResult, Target, Witness, run_battery
from dancu_bus.hostile.labels import closed_sets, foreign_labels
from dancu_bus.hostile.probes import Asking, battery
from dancu_bus.keys import PrivateKeys
from dancu_bus.operations import platform_codec
from dancu_bus.registry import RegistryCodec
from dancu_bus.sdk import Context
from dancu_bus.secret_files import read_secret
from dancu_bus.settings import KafkaSettings, Settings
from dancu_bus.store import open_store
from dancu_bus.topic_names import TopicNames

__all__ = ["HostileCheck"]

_PEOPLE = 200


@dataclass(frozen=True)
class HostileCheck:
    """Everything the battery runs with, gathered from the settings, the registry and the store."""

    logins: Logins
    names: TopicNames
    codec: Codec
    asking: Asking
    witness: Witness
    agencies: Collection[str]

    @classmethod
    def of(cls, settings: Settings, args: Any) -> HostileCheck:
        """Logins from the settings and password files, purposes from the registry, people from the store."""
        operator = settings.kafka
        logins = Logins(
            agency=_login(operator, args.agency, args.agency_password_file),
            witness=_login(operator, args.witness, args.witness_password_file),
            operator=operator,
            operator_keys=PrivateKeys.from_file(args.operator_keys) if args.operator_keys else None,
        )
        codec = platform_codec()
        registry = RegistryClient(operator, RegistryCodec(codec.schemas)).read()
        agency = _agency(registry.record(args.agency), args.agency)
        other = _agency(registry.record(args.witness), args.witness)
        people = asyncio.run(_people(settings))
        verify = _required(_context(agency, Operation.VERIFY), agency, Operation.VERIFY)
        asking = Asking(
            codec=codec,
            agency=agency.id,
            other_agency=other.id,
            verify=verify,
            lookup=_context(agency, Operation.LOOKUP),
            verify_fields=agency.purposes[verify.purpose_code].fields,
            person=people[0],
            other=people[1],
            without_phone=next((p for p in people if p.phone is None), None),
        )
        witness = Witness(
            other.id, _required(_context(other, Operation.VERIFY), other, Operation.VERIFY), people[2]
        )
        agencies = [record.id for record in registry.agencies()]
        return cls(logins, TopicNames(operator.topic_prefix), codec, asking, witness, agencies)

    def run(self, only: Sequence[str] | None, progress: Callable[[ProbeResult], None]) -> list[ProbeResult]:
        """Run the battery (or the probes named in ``only``)."""
        probes = (p for p in battery(self.asking) if not only or p.name in only)
        target = Target(self.names, self.codec, self.asking.agency)
        return run_battery(self.logins, target, self.witness, probes, progress)

    def foreign_labels(self, metrics_url: str) -> list[str]:
        """Label values of the resolver at ``metrics_url`` that are outside their closed sets."""
        with urllib.request.urlopen(metrics_url, timeout=10) as served:
            text = served.read().decode()
        return foreign_labels(text, closed_sets(self.agencies))


def _login(operator: KafkaSettings, agency: str, password_file: Path | None) -> KafkaSettings:
    if operator.security_protocol == "PLAINTEXT":
        return operator
    if password_file is None:
        raise ConfigError(f"the battery runs as agency {agency}: give its secret with a --*-password-file")
    try:
        secret = read_secret(password_file)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return operator.model_copy(update={"username": agency, "password": secret})


def _agency(record: Agency | None, agency_id: str) -> Agency:
    if record is None:
        raise ConfigError(f"no agency {agency_id!r} in the registry")
    return record


def _context(agency: Agency, operation: Operation) -> Context | None:
    """The battery's context under the agency's first purpose for ``operation``, if it has one."""
    for code, purpose in sorted(agency.purposes.items()):
        if operation in purpose.operations:
            return Context("hostile-check", f"HOSTILE-{datetime.now(UTC):%Y%m%d}", code, purpose.legal_basis)
    return None


def _required(context: Context | None, agency: Agency, operation: Operation) -> Context:
    if context is None:
        raise ConfigError(f"agency {agency.id} has no purpose for {operation}")
    return context


async def _people(settings: Settings) -> list[Citizen]:
    async with open_store(settings.store) as store:
        people = list(await store.sample(_PEOPLE))
    if len(people) < 3:
        raise ConfigError(
            f"the store at {settings.store.path} has {len(people)} citizens; the battery needs 3"
        )
    return people
