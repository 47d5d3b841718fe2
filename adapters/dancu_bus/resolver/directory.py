"""Where the resolver reads agencies from: the registry topic's live view, or a file for experiments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dancu_bus.agencies import AgencyDirectory, load_directory
from dancu_bus.codec import SchemaSet
from dancu_bus.registry import RegistryCodec, RegistryView
from dancu_bus.settings import Settings
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import Followed, following

__all__ = ["agency_directory"]


@asynccontextmanager
async def agency_directory(
    settings: Settings, schemas: SchemaSet, views: Followed | None = None
) -> AsyncIterator[AgencyDirectory]:
    """The agency directory the settings name, kept current for as long as the context lasts.

    ``views`` records how fresh the followed registry is (metrics).
    """
    if settings.resolver.agencies_source == "file":
        yield load_directory(settings.resolver.agencies_file)
        return
    view = RegistryView(RegistryCodec(schemas))
    registry = TopicNames(settings.kafka.topic_prefix).registry
    state = (views or Followed()).view("registry")
    async with following(settings.kafka, {registry: view.apply}, state=state):
        yield view
