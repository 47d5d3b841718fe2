"""How long the index keeps a record: as long as the audit topic does (topics.yaml). Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from dancu_bus.errors import ConfigError
from dancu_bus.topics import TopicsFile

__all__ = ["audit_retention", "expiry_cutoff"]


def audit_retention(file: TopicsFile) -> timedelta | None:
    """The audit topic's time retention as topics.yaml declares it; None when it keeps records forever.

    Forever: a cleanup policy without ``delete`` (compaction only), or ``retention.ms`` -1.
    """
    name = f"{file.prefix}.audit"
    declared = next((t for t in file.topics if t.name == name), None)
    if declared is None:
        raise ConfigError(f"the topics file declares no audit topic {name}: give the file that does")
    configs = {**file.defaults.configs, **declared.configs}
    if "delete" not in configs.get("cleanup.policy", "delete").split(","):
        return None
    retention_ms = int(configs.get("retention.ms", "604800000"))  # Kafka's default: 7 days
    return None if retention_ms < 0 else timedelta(milliseconds=retention_ms)


def expiry_cutoff(now: datetime, retention: timedelta | None) -> datetime | None:
    """Records received before this are past retention; None when nothing ever is."""
    return None if retention is None else now - retention
