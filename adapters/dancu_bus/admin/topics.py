"""Apply topics.yaml for a set of agencies in one call (the demo and the test setup use it)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dancu_bus.admin.cluster import apply, plan_topics
from dancu_bus.settings import KafkaSettings
from dancu_bus.topics import load_topics, packaged_topics

__all__ = ["apply_topics"]


def apply_topics(
    kafka: KafkaSettings,
    agency_ids: Iterable[str],
    *,
    replication_factor: int | None = None,
    topics_file: Path | None = None,
) -> list[str]:
    """Create or align every declared topic under ``kafka.topic_prefix``; what was done, one line each.

    Without ``topics_file`` the declaration is the one shipped in the package.
    """
    declared = load_topics(topics_file) if topics_file is not None else packaged_topics()
    return apply(kafka, plan_topics(kafka, declared, agency_ids, replication_factor=replication_factor))
