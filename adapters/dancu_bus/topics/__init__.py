"""Topics as declared in ``topics.yaml`` and the plan that aligns a cluster with them (pure, no Kafka)."""

from dancu_bus.topics.model import (
    TopicDeclaration,
    TopicDefaults,
    TopicsFile,
    TopicSpec,
    expand,
    load_topics,
    packaged_topics,
    parse_topics,
)
from dancu_bus.topics.plan import (
    Action,
    ActualTopic,
    AddPartitions,
    AlterConfigs,
    CreateTopic,
    DeleteTopic,
    Plan,
    Problem,
    plan,
    render,
    render_action,
)

__all__ = [
    "Action",
    "ActualTopic",
    "AddPartitions",
    "AlterConfigs",
    "CreateTopic",
    "DeleteTopic",
    "Plan",
    "Problem",
    "TopicDeclaration",
    "TopicDefaults",
    "TopicSpec",
    "TopicsFile",
    "expand",
    "load_topics",
    "packaged_topics",
    "parse_topics",
    "plan",
    "render",
    "render_action",
]
