"""Where the resolver reads catalogues from: the catalogue topics' live view, or the packaged data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dancu_bus.catalogues import Catalogue, CatalogueSource, packaged_view
from dancu_bus.catalogues.live import LiveCatalogues
from dancu_bus.codec import Codec, SchemaSet
from dancu_bus.settings import Settings
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import Followed, following

__all__ = ["catalogue_source"]


@asynccontextmanager
async def catalogue_source(
    settings: Settings, schemas: SchemaSet, views: Followed | None = None
) -> AsyncIterator[CatalogueSource]:
    """The catalogues the settings name; the topics are read to their end before this yields.

    ``views`` records how fresh the followed view is (metrics).
    """
    if settings.resolver.catalogues_source == "packaged":
        yield packaged_view()
        return
    live = LiveCatalogues(Codec(schemas))
    names = TopicNames(settings.kafka.topic_prefix)
    appliers = {names.catalogue(catalogue.value): live.applier(catalogue) for catalogue in Catalogue}
    state = (views or Followed()).view("catalogues")
    async with following(settings.kafka, appliers, state=state):
        yield live
