"""The real services on the secured broker, each as its own principal, and agencies with their own logins.

The registry user loads the catalogues and the agencies, the resolver and the audit consumer run as
``dancu-resolver`` and ``dancu-audit`` (each in its own thread and event loop, so a test can stop and
start one), and each agency asks with the credentials step 10 issued it.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from dancu_bus.access import AUDIT, PLATFORM_PRINCIPALS, REGISTRY, RESOLVER, PlatformIds, platform_ids
from dancu_bus.admin import delete_topics, describe
from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.admin.catalogues import load_catalogues
from dancu_bus.admin.security import (
    ensure_platform_principals,
    issue_agency_credentials,
    revoke_agency_credentials,
    withdraw_platform_grants,
)
from dancu_bus.admin.topics import apply_topics
from dancu_bus.agencies import Agency
from dancu_bus.audit import run_audit
from dancu_bus.catalogues import load_entries
from dancu_bus.codec import load_schemas
from dancu_bus.contracts import Citizen
from dancu_bus.demo.platform import login
from dancu_bus.operations import OPERATIONS, platform_codec
from dancu_bus.registry import RegistryCodec
from dancu_bus.resolver import agency_directory, run_resolver
from dancu_bus.settings import KafkaSettings, Settings
from dancu_bus.store import open_store
from dancu_bus.store.seeding import seed_store
from dancu_bus.topic_names import TopicNames
from tests.integration.exchange_env import deployment_settings
from tests.keys import sample_agencies

__all__ = ["SecuredStack", "Service", "login", "running_secured_stack"]

Main = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class Service:
    """One service running in its own thread and event loop until stopped; it can be started again."""

    def __init__(self, name: str, main: Main) -> None:
        self._name = name
        self._main = main
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run the service in a new thread."""
        assert self._thread is None, f"{self._name} is running"
        self._loop, self._stop = asyncio.new_event_loop(), asyncio.Event()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._main(self._stop),), name=self._name
        )
        self._thread.start()

    def stop(self) -> None:
        """Signal a stop (as SIGTERM does) and wait for the service to drain and exit; nothing if stopped."""
        if self._thread is None:
            return
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(90)
        assert not self._thread.is_alive(), f"{self._name} did not stop"
        self._loop.close()
        self._thread = None


@dataclass(frozen=True)
class SecuredStack:
    """The running deployment: its settings as the super user, every principal's login, the services."""

    admin: Settings
    logins: dict[str, KafkaSettings]
    people: list[Citizen]
    resolver: Service
    audit: Service

    @property
    def names(self) -> TopicNames:
        """The deployment's topic names."""
        return TopicNames(self.admin.kafka.topic_prefix)

    def settings_of(self, user: str) -> Settings:
        """The deployment's settings with ``user``'s login."""
        return self.admin.model_copy(update={"kafka": self.logins[user]})


def _platform(settings: Settings) -> tuple[PlatformIds, dict[str, KafkaSettings]]:
    """The platform users' ids (the services' own group ids) and their logins, set up on the broker."""
    prefix = settings.kafka.topic_prefix
    ids = platform_ids(settings)  # the audit's fenced writers' transactional ids start with its group
    passwords = {user: SecretStr(secrets.token_urlsafe(24)) for user in PLATFORM_PRINCIPALS}
    ensure_platform_principals(settings.kafka, TopicNames(prefix), passwords, ids)
    return ids, {user: login(settings.kafka, user, pw) for user, pw in passwords.items()}


async def _seed(settings: Settings, citizens: int) -> list[Citizen]:
    async with open_store(settings.store, create=True) as store:
        await seed_store(store, citizens, seed=11)
        return list(await store.sample(citizens))


def _prepare(
    settings: Settings, registry: KafkaSettings, agencies: Sequence[str], more: Sequence[Agency] = ()
) -> dict[str, KafkaSettings]:
    """Topics and the agencies' credentials as the super user; catalogues and agencies as the registry.

    ``more`` are agencies besides the sample ones, or sample ones as a test registers them instead.
    """
    directory = list({a.id: a for a in [*sample_agencies(), *more]}.values())
    apply_topics(settings.kafka, [a.id for a in directory], replication_factor=1)
    load_catalogues(registry, platform_codec(), load_entries())
    AgencyAdmin(registry, RegistryCodec(load_schemas(OPERATIONS))).import_agencies(
        directory, by="security-tests"
    )
    names = TopicNames(settings.kafka.topic_prefix)
    return {a: login(settings.kafka, a, issue_agency_credentials(settings.kafka, names, a)) for a in agencies}


def _resolver_main(settings: Settings) -> Main:
    async def main(stop: asyncio.Event) -> None:
        codec = platform_codec()
        async with (
            agency_directory(settings, codec.schemas) as directory,
            open_store(settings.store) as store,
        ):
            await run_resolver(settings, directory, store, codec, stop)

    return main


def _audit_main(settings: Settings) -> Main:
    async def main(stop: asyncio.Event) -> None:
        await run_audit(settings, platform_codec(), stop)

    return main


@contextmanager
def running_secured_stack(
    secure_kafka: KafkaSettings,
    data_dir: Path,
    agencies: Sequence[str],
    citizens: int = 500,
    tune: Callable[[Settings], Settings] = lambda settings: settings,
    more_agencies: Sequence[Agency] = (),
) -> Iterator[SecuredStack]:
    """Resolver and audit running as their principals; ``agencies`` issued logins; all removed afterwards."""
    settings = tune(deployment_settings(secure_kafka, data_dir))
    ids, logins = _platform(settings)
    logins.update(_prepare(settings, logins[REGISTRY], agencies, more_agencies))
    people = asyncio.run(_seed(settings, citizens))
    as_resolver = settings.model_copy(update={"kafka": logins[RESOLVER]})
    as_audit = settings.model_copy(update={"kafka": logins[AUDIT]})
    stack = SecuredStack(
        settings,
        logins,
        people,
        Service("resolver", _resolver_main(as_resolver)),
        Service("audit", _audit_main(as_audit)),
    )
    stack.resolver.start()
    stack.audit.start()
    try:
        yield stack
    finally:
        for service in (stack.resolver, stack.audit):
            service.stop()
        names = TopicNames(settings.kafka.topic_prefix)
        for agency in agencies:
            revoke_agency_credentials(settings.kafka, names, agency)
        withdraw_platform_grants(settings.kafka, names, ids)
        delete_topics(settings.kafka, describe(settings.kafka, names.prefix + "."))
