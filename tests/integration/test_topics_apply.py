"""``topics plan|apply`` against a real broker, under a prefix only the test uses; and ``topics render
--strimzi`` against what apply and ``agency issue`` leave there."""

from __future__ import annotations

import argparse
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dancu_bus.access import platform_grants, platform_ids
from dancu_bus.admin import apply, describe, wait_ready
from dancu_bus.admin.security import (
    apply_acls,
    describe_acls,
    issue_agency_credentials,
    revoke_agency_credentials,
)
from dancu_bus.cli.topics import run_apply, run_render
from dancu_bus.errors import BrokerError
from dancu_bus.settings import AuditSettings, KafkaSettings, ResolverSettings, Settings
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics import (
    AclPlan,
    AddPartitions,
    AlterConfigs,
    CreateTopic,
    DeleteTopic,
    Plan,
    TopicSpec,
    expand,
    packaged_topics,
    plan,
)
from tests.strimzi_crds import operator_grants

REPO = Path(__file__).resolve().parents[2]
AGENCIES = ("agency-a", "agency-b")
ONE_DAY_MS = str(86_400_000)  # exchanges are kept only as long as delivery needs


def declared(prefix: str) -> list[TopicSpec]:
    """The packaged topics.yaml for two agencies, on one broker, renamed under ``prefix``."""
    return expand(packaged_topics(), AGENCIES, replication_factor=1, prefix=prefix)


def current_plan(kafka: KafkaSettings, prefix: str, desired: list[TopicSpec], delete: bool = False) -> Plan:
    """What would align the broker's topics under ``prefix`` with ``desired`` now."""
    return plan(desired, describe(kafka, prefix + "."), delete_unknown=delete, prefix=prefix)


@pytest.mark.usefixtures("cleanup_topics")
def test_apply_creates_every_declared_topic(kafka_settings: KafkaSettings, unique_prefix: str) -> None:
    """Applying to an empty prefix creates each declared topic with its partition count."""
    desired = declared(unique_prefix)
    done = apply(kafka_settings, current_plan(kafka_settings, unique_prefix, desired))
    # two agencies' lanes; audit, its state, its checkpoints, registry, corrections, dlq; the sms and
    # portal channels (two topics each); 11 catalogues
    assert len(done) == len(desired) == 2 * 2 + 6 + 2 * 2 + 11
    topics = describe(kafka_settings, unique_prefix + ".")
    assert {n: t.partitions for n, t in topics.items()} == {s.name: s.partitions for s in desired}


@pytest.mark.usefixtures("cleanup_topics")
def test_second_apply_changes_nothing(kafka_settings: KafkaSettings, unique_prefix: str) -> None:
    """Once applied, the plan is empty and applying it again does nothing."""
    desired = declared(unique_prefix)
    apply(kafka_settings, current_plan(kafka_settings, unique_prefix, desired))
    second = current_plan(kafka_settings, unique_prefix, desired, delete=True)
    assert second.empty
    assert apply(kafka_settings, second) == []


@pytest.mark.usefixtures("cleanup_topics")
def test_broker_reports_declared_configs(kafka_settings: KafkaSettings, unique_prefix: str) -> None:
    """The broker reads back the audit topic's policy as exactly compact,delete, and the request retention."""
    apply(kafka_settings, current_plan(kafka_settings, unique_prefix, declared(unique_prefix)))
    topics = describe(kafka_settings, [f"{unique_prefix}.audit", f"{unique_prefix}.req.agency-a"])
    audit, requests = topics[f"{unique_prefix}.audit"], topics[f"{unique_prefix}.req.agency-a"]
    assert audit.configs["cleanup.policy"] == "compact,delete"
    assert audit.configs["min.insync.replicas"] == "1"
    assert (requests.configs["cleanup.policy"], requests.configs["retention.ms"]) == ("delete", ONE_DAY_MS)


@pytest.mark.usefixtures("cleanup_topics")
def test_altered_config_is_realigned(kafka_settings: KafkaSettings, unique_prefix: str) -> None:
    """A config changed behind the declaration's back is planned back to the declared value and reset."""
    desired = declared(unique_prefix)
    apply(kafka_settings, current_plan(kafka_settings, unique_prefix, desired))
    topic = f"{unique_prefix}.res.agency-b"
    apply(kafka_settings, Plan((AlterConfigs(topic, "retention.ms", None, "60000"),)))
    drift = current_plan(kafka_settings, unique_prefix, desired)
    assert drift.actions == (AlterConfigs(topic, "retention.ms", "60000", ONE_DAY_MS),)
    apply(kafka_settings, drift)
    assert describe(kafka_settings, [topic])[topic].configs["retention.ms"] == ONE_DAY_MS
    assert current_plan(kafka_settings, unique_prefix, desired).empty


@pytest.mark.usefixtures("cleanup_topics")
def test_partitions_grow_but_never_shrink(kafka_settings: KafkaSettings, unique_prefix: str) -> None:
    """More declared partitions are added; fewer are reported as a problem and left alone."""
    desired = declared(unique_prefix)
    apply(kafka_settings, current_plan(kafka_settings, unique_prefix, desired))
    dlq = f"{unique_prefix}.dlq"
    grown = [s.model_copy(update={"partitions": 5}) if s.name == dlq else s for s in desired]
    growth = current_plan(kafka_settings, unique_prefix, grown)
    assert growth.actions == (AddPartitions(dlq, 3, 5),)
    apply(kafka_settings, growth)
    assert describe(kafka_settings, [dlq])[dlq].partitions == 5
    shrink = current_plan(kafka_settings, unique_prefix, desired)
    assert (shrink.actions, [p.topic for p in shrink.problems]) == ((), [dlq])


@pytest.mark.usefixtures("cleanup_topics")
def test_delete_unknown_removes_only_undeclared(kafka_settings: KafkaSettings, unique_prefix: str) -> None:
    """With delete_unknown, an undeclared topic under the prefix is deleted and declared ones stay."""
    desired = declared(unique_prefix)
    stray = desired[-1].model_copy(update={"name": f"{unique_prefix}.stray"})
    apply(kafka_settings, Plan((CreateTopic(stray),)))
    apply(kafka_settings, current_plan(kafka_settings, unique_prefix, desired))
    cleanup = current_plan(kafka_settings, unique_prefix, desired, delete=True)
    assert cleanup.actions == (DeleteTopic(stray.name),)
    apply(kafka_settings, cleanup)
    assert set(describe(kafka_settings, unique_prefix + ".")) == {s.name for s in desired}


def _cli_settings(kafka: KafkaSettings, prefix: str, folder: Path) -> Settings:
    """Settings of a deployment under ``prefix`` with group ids of its own and no agency."""
    agencies = folder / "agencies.yaml"
    agencies.write_text("agencies: []\n", encoding="utf-8")
    return Settings(
        kafka=kafka.model_copy(update={"topic_prefix": prefix}),
        resolver=ResolverSettings(group_id=f"{prefix}.resolver", agencies_file=agencies),
        audit=AuditSettings(group_id=f"{prefix}.audit"),
    )


@pytest.fixture
def cleanup_acls(kafka_settings: KafkaSettings, unique_prefix: str, tmp_path: Path) -> Iterator[None]:
    """Delete, after the test, the platform users' ACLs on this test's topics and ids."""
    yield
    names = TopicNames(unique_prefix)
    ids = platform_ids(_cli_settings(kafka_settings, unique_prefix, tmp_path))
    wanted = platform_grants(packaged_topics(), names, ids)
    # The registry's group id is shared by every deployment on the broker: only this test's go.
    ours = tuple(g for grants in wanted.values() for g in grants if unique_prefix in g.name)
    apply_acls(kafka_settings, AclPlan(stray=ours), prune=True)


@pytest.mark.usefixtures("cleanup_topics", "cleanup_acls")
def test_cli_apply_twice(
    kafka_settings: KafkaSettings, unique_prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``topics apply`` prints each topic and platform ACL it creates, then nothing to do when run again."""
    settings = _cli_settings(kafka_settings, unique_prefix, tmp_path)
    args = argparse.Namespace(
        file=None, replication_factor=1, agencies=None, delete_unknown=False, prune_acls=False
    )
    assert run_apply(args, settings) == 0
    first = capsys.readouterr().out.splitlines()
    creates = [line for line in first if line.startswith("+ create ")]
    assert creates and all(line.startswith(f"+ create {unique_prefix}.") for line in creates)
    acls = first[len(creates) :]
    assert f"+ acl User:dancu-resolver READ TOPIC PREFIXED {unique_prefix}.req." in acls
    assert f"+ acl User:dancu-audit WRITE TRANSACTIONAL_ID PREFIXED {unique_prefix}.audit" in acls
    assert all(line.startswith("+ acl User:dancu-") for line in acls)
    assert run_apply(args, settings) == 0
    second = capsys.readouterr().out.splitlines()
    # Other deployments' teardowns may withdraw the registry's shared group grant meanwhile.
    assert [line for line in second if "GROUP PREFIXED dancu.registry" not in line] in (["no changes"], [])


def test_wait_ready_names_an_unreachable_cluster() -> None:
    """Waiting for a cluster that never answers ends in a BrokerError naming its address."""
    with pytest.raises(BrokerError, match=r"127\.0\.0\.1:9 did not answer within 1 s"):
        wait_ready(KafkaSettings(bootstrap_servers="127.0.0.1:9"), 1.0)


@pytest.fixture
def issued_agency(kafka_settings: KafkaSettings, unique_prefix: str) -> Iterator[str]:
    """An agency of this test's own, given its SCRAM user and ACLs as ``agency issue`` does; revoked after."""
    agency = f"s{uuid.uuid4().hex[:8]}"
    issue_agency_credentials(kafka_settings, TopicNames(unique_prefix), agency)
    yield agency
    revoke_agency_credentials(kafka_settings, TopicNames(unique_prefix), agency)


@pytest.mark.usefixtures("cleanup_topics", "cleanup_acls")
def test_render_declares_what_apply_and_issue_leave_on_the_broker(
    kafka_settings: KafkaSettings, unique_prefix: str, issued_agency: str, tmp_path: Path
) -> None:
    """After ``topics apply`` and ``agency issue`` the broker holds the topics ``topics render --strimzi``
    declares for the same deployment, with their partitions and every config declared, and the same ACLs."""
    settings = _cli_settings(kafka_settings, unique_prefix, tmp_path)
    agencies = yaml.safe_load((REPO / "deploy" / "agencies.yaml").read_text(encoding="utf-8"))["agencies"]
    settings.resolver.agencies_file.write_text(
        yaml.safe_dump({"agencies": [{**agencies[0], "id": issued_agency}]})
    )
    common = {"file": None, "replication_factor": 1, "agencies": None}
    assert run_apply(argparse.Namespace(**common, delete_unknown=False, prune_acls=False), settings) == 0
    out = io.StringIO()
    assert run_render(argparse.Namespace(**common, cluster="test", namespace=None), settings, out) == 0
    resources = list(yaml.safe_load_all(out.getvalue()))
    topics = {
        r["spec"].get("topicName", r["metadata"]["name"]): r["spec"]
        for r in resources
        if r["kind"] == "KafkaTopic"
    }
    actual = describe(kafka_settings, unique_prefix + ".")
    assert set(actual) == set(topics)
    for name, spec in topics.items():
        assert actual[name].partitions == spec["partitions"], name
        assert {key: actual[name].configs.get(key) for key in spec["config"]} == spec["config"], name
    users = {r["metadata"]["name"]: operator_grants(r) for r in resources if r["kind"] == "KafkaUser"}
    assert describe_acls(kafka_settings, issued_agency) == users[issued_agency]
    for user, grants in users.items():
        # The registry's group id is shared by every deployment on the broker: this test's grants only.
        ours = {g for g in describe_acls(kafka_settings, user) if unique_prefix in g.name}
        assert ours == {g for g in grants if unique_prefix in g.name}, user
