"""``topics render --strimzi``: KafkaTopic and KafkaUser resources valid under Strimzi's CRDs (v1), and the
same topics, configs and ACLs that ``topics apply``, ``principals ensure`` and ``agency issue`` create."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dancu_bus.access import (
    PLATFORM_PRINCIPALS,
    Grant,
    Operation,
    Pattern,
    PlatformIds,
    Resource,
    agency_grants,
    platform_grants,
    principal,
)
from dancu_bus.cli.main import main
from dancu_bus.errors import ConfigError
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics import (
    CreateTopic,
    StrimziDeployment,
    StrimziTarget,
    TopicsFile,
    expand,
    load_topics,
    parse_topics,
    plan,
    plan_acls,
    strimzi_resources,
    strimzi_yaml,
)
from dancu_bus.topics.strimzi import kafka_user, resource_name, strimzi_acls
from tests import strimzi_crds
from tests.strimzi_crds import crd_errors, operator_grants, structural, validate_strimzi

REPO = Path(__file__).resolve().parents[2]
DECLARED = load_topics(REPO / "topics.yaml")
AGENCIES_FILE = REPO / "deploy" / "agencies.yaml"
TARGET = StrimziTarget("national", "dancu")
# Not the defaults: a test prefix, the services' ids as a test sets them, one replica.
DEPLOYMENT = StrimziDeployment(
    names=TopicNames("test.strimzi"),
    ids=PlatformIds(
        resolver_group="g.resolver",
        resolver_transactional_id="g.resolver",
        audit_group="g.audit",
        audit_transactional_id="g.audit",
        registry_group="g.registry",
    ),
    agencies=("bank", "portal", "telecom"),
    accounts=("bank", "portal"),
    replication_factor=1,
)


def rendered(declared: TopicsFile = DECLARED, deployment: StrimziDeployment = DEPLOYMENT) -> list[Any]:
    """The resources as a reader of the YAML gets them: rendered, written out and parsed back."""
    return list(yaml.safe_load_all(strimzi_yaml(strimzi_resources(declared, deployment, TARGET))))


def of_kind(resources: Iterable[Any], kind: str) -> list[Any]:
    """The resources of one kind."""
    return [r for r in resources if r["kind"] == kind]


def topics_of(resources: Iterable[Any]) -> dict[str, tuple[int, int, dict[str, str]]]:
    """Each KafkaTopic's Kafka name (topicName, else metadata.name): partitions, replicas, configs."""
    return {
        r["spec"].get("topicName", r["metadata"]["name"]): (
            r["spec"]["partitions"],
            r["spec"]["replicas"],
            r["spec"]["config"],
        )
        for r in of_kind(resources, "KafkaTopic")
    }


# --- (a) every resource validates against its CRD ----------------------------------------------


@pytest.mark.parametrize(
    "deployment",
    [DEPLOYMENT, StrimziDeployment(agencies=("demo-bank", "sms"), accounts=("demo-bank", "sms"))],
    ids=["test-deployment", "defaults"],
)
def test_every_rendered_resource_validates_against_its_crd(deployment: StrimziDeployment) -> None:
    """Each KafkaTopic and KafkaUser rendered from topics.yaml validates against the v1 schema of its CRD."""
    resources = rendered(deployment=deployment)
    assert {r["kind"] for r in resources} == {"KafkaTopic", "KafkaUser"}
    for resource in resources:
        validate_strimzi(resource)


def _topic() -> dict[str, Any]:
    return copy.deepcopy(of_kind(rendered(), "KafkaTopic")[0])


def _user() -> dict[str, Any]:
    return copy.deepcopy(of_kind(rendered(), "KafkaUser")[0])


def _set(resource: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """The resource with the dotted ``path`` set (``acls.0`` indexes a list)."""
    *parents, last = path.split(".")
    node: Any = resource
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[last] = value
    return resource


BROKEN: list[tuple[str, dict[str, Any], str]] = [
    ("no partitions", _set(_topic(), "spec.partitions", 0), "spec.partitions"),
    ("a misspelt field", _set(_topic(), "spec.topicname", "x"), "Additional properties"),
    ("too many replicas", _set(_topic(), "spec.replicas", 40000), "spec.replicas"),
    ("the removed v1beta2", _set(_topic(), "apiVersion", "kafka.strimzi.io/v1beta2"), "apiVersion"),
    ("no Kubernetes name", _set(_topic(), "metadata.name", "ndxp.dancu.Req_Bank"), "metadata.name"),
    ("a label value too long", _set(_topic(), "metadata.labels", {"strimzi.io/cluster": "c" * 64}), "labels"),
    (
        "Kafka's pattern name",
        _set(_user(), "spec.authorization.acls.0.resource.patternType", "PREFIXED"),
        "acls",
    ),
    ("Kafka's operation name", _set(_user(), "spec.authorization.acls.0.operations", ["READ"]), "acls"),
    ("no such authentication", _set(_user(), "spec.authentication.type", "scram-sha-256"), "authentication"),
    ("no ACL list", _set(_user(), "spec.authorization", {"type": "simple"}), "authorization"),
]


@pytest.mark.parametrize(("case", "resource", "where"), BROKEN, ids=[c[0] for c in BROKEN])
def test_validator_rejects_a_broken_resource(case: str, resource: dict[str, Any], where: str) -> None:
    """A resource broken in one way fails its CRD's schema, with the problem named."""
    errors = list(crd_errors(resource))
    assert errors, case
    assert any(where in error for error in errors), errors


def test_openapi_extensions_are_read_as_the_api_server_reads_them() -> None:
    """nullable admits null, int-or-string both, preserved objects any field; a oneOf branch closes none."""
    import jsonschema

    schema = structural(
        {
            "type": "object",
            "properties": {
                "n": {"type": "string", "nullable": True},
                "port": {"x-kubernetes-int-or-string": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "one": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
            },
            "oneOf": [{"properties": {"n": {"nullable": True}}, "required": ["n"]}, {"required": ["port"]}],
        }
    )
    check = jsonschema.Draft7Validator(schema).is_valid
    assert check({"n": None, "free": {"anything": 1}, "one": {"a": "x", "b": "y"}})
    assert check({"port": 9092}) and check({"port": "kafka"}) and not check({"port": 1.5})
    assert not check({"port": 1, "extra": True})
    assert not check({"port": 1, "one": {"c": "z"}})


# --- (b) the same topics, configs and ACLs as topics apply and agency issue --------------------------


def test_render_and_apply_derive_the_same_topics_and_configs() -> None:
    """The KafkaTopics are exactly the topics ``topics apply`` would create on an empty cluster."""
    names = DEPLOYMENT.names
    desired = expand(DECLARED, DEPLOYMENT.agencies, replication_factor=1, prefix=names.prefix)
    created = [a.spec for a in plan(desired, {}, prefix=names.prefix).actions if isinstance(a, CreateTopic)]
    assert len(created) == len(desired)
    assert topics_of(rendered()) == {s.name: (s.partitions, s.replication_factor, s.configs) for s in created}
    assert f"{names.prefix}.req.telecom" in topics_of(rendered())  # an agency without an account has its lane


def test_render_and_apply_grant_the_same_acls() -> None:
    """The KafkaUsers' ACLs are exactly what ``topics apply`` would grant on an empty broker: every platform
    user's (as ``principals ensure``) and every account's (as ``agency issue``), and no other user."""
    users = of_kind(rendered(), "KafkaUser")
    held = {principal(u["metadata"]["name"]): operator_grants(u) for u in users}
    names, ids = DEPLOYMENT.names, DEPLOYMENT.ids
    missing = plan_acls(DECLARED, names, ids, {}, DEPLOYMENT.accounts).missing
    assert frozenset().union(*held.values()) == frozenset(missing)
    assert plan_acls(DECLARED, names, ids, held, DEPLOYMENT.accounts).empty
    issued = {a: agency_grants(DECLARED, names, a) for a in DEPLOYMENT.accounts}
    assert held == {principal(u): g for u, g in {**platform_grants(DECLARED, names, ids), **issued}.items()}
    assert [u["metadata"]["name"] for u in users] == [*PLATFORM_PRINCIPALS, "bank", "portal"]


def test_replication_defaults_to_three_with_two_in_sync() -> None:
    """Without an override every topic has 3 replicas and min.insync.replicas 2, as topics.yaml declares."""
    resources = rendered(deployment=StrimziDeployment(agencies=("bank",)))
    assert {(r, c["min.insync.replicas"]) for _, r, c in topics_of(resources).values()} == {(3, "2")}
    one = topics_of(rendered())
    assert {(r, c["min.insync.replicas"]) for _, r, c in one.values()} == {(1, "1")}


# --- the mapping, names and refusals ---------------------------------------------------------------

BANK = "User:bank"
ACL_CASES: list[tuple[str, list[Grant], list[dict[str, Any]]]] = [
    (
        "operations on one resource share a rule",
        [
            Grant(BANK, Resource.TOPIC, "t.req.bank", Pattern.LITERAL, Operation.WRITE),
            Grant(BANK, Resource.TOPIC, "t.req.bank", Pattern.LITERAL, Operation.DESCRIBE),
        ],
        [
            {
                "type": "allow",
                "resource": {"type": "topic", "name": "t.req.bank", "patternType": "literal"},
                "operations": ["Describe", "Write"],
                "host": "*",
            }
        ],
    ),
    (
        "prefixed groups and transactional ids",
        [
            Grant(BANK, Resource.GROUP, "bank.", Pattern.PREFIXED, Operation.READ),
            Grant(BANK, Resource.TRANSACTIONAL_ID, "bank.", Pattern.PREFIXED, Operation.WRITE),
        ],
        [
            {
                "type": "allow",
                "resource": {"type": "group", "name": "bank.", "patternType": "prefix"},
                "operations": ["Read"],
                "host": "*",
            },
            {
                "type": "allow",
                "resource": {"type": "transactionalId", "name": "bank.", "patternType": "prefix"},
                "operations": ["Write"],
                "host": "*",
            },
        ],
    ),
    (
        "a deny from one host, and the cluster",
        [
            Grant(BANK, Resource.TOPIC, "t.", Pattern.PREFIXED, Operation.ALTER_CONFIGS, False, "10.0.0.1"),
            Grant(BANK, Resource.CLUSTER, "kafka-cluster", Pattern.LITERAL, Operation.IDEMPOTENT_WRITE),
        ],
        [
            {
                "type": "allow",
                "resource": {"type": "cluster"},
                "operations": ["IdempotentWrite"],
                "host": "*",
            },
            {
                "type": "deny",
                "resource": {"type": "topic", "name": "t.", "patternType": "prefix"},
                "operations": ["AlterConfigs"],
                "host": "10.0.0.1",
            },
        ],
    ),
]


@pytest.mark.parametrize(("case", "grants", "rules"), ACL_CASES, ids=[c[0] for c in ACL_CASES])
def test_grants_map_to_strimzi_acl_rules(case: str, grants: list[Grant], rules: list[dict[str, Any]]) -> None:
    """Each grant's resource type, pattern, operation, allow or deny and host land in Strimzi's rule."""
    assert strimzi_acls(grants) == rules, case
    validate_strimzi(kafka_user("bank", grants, TARGET))


def test_a_user_holds_only_its_own_grants() -> None:
    """A grant of another principal, or a cluster grant not on kafka-cluster, cannot be rendered."""
    other = Grant("User:telecom", Resource.TOPIC, "t.req.telecom", Pattern.LITERAL, Operation.WRITE)
    with pytest.raises(ConfigError, match="User:telecom"):
        kafka_user("bank", [other], TARGET)
    cluster = Grant(BANK, Resource.CLUSTER, "*", Pattern.LITERAL, Operation.IDEMPOTENT_WRITE)
    with pytest.raises(ConfigError, match="kafka-cluster"):
        kafka_user("bank", [cluster], TARGET)


LONG = "a." + "b" * 240 + "_C"


@pytest.mark.parametrize(
    ("topic", "kept"),
    [("ndxp.dancu.req.demo-bank", True), ("ndxp.dancu.Req_Bank", False), ("x.__", False), (LONG, False)],
)
def test_resource_names_are_kubernetes_names(topic: str, kept: bool) -> None:
    """A topic keeps its name when Kubernetes allows it; otherwise a DNS-1123 name derived from it."""
    name = resource_name(topic)
    assert (name == topic) is kept
    assert name == resource_name(topic) and len(name) <= 253
    meta = _set(_topic(), "metadata.name", name)
    assert not list(crd_errors(meta)), name


def test_a_topic_kubernetes_cannot_name_keeps_its_name_in_topic_name() -> None:
    """Topics differing only in case or underscores get distinct resources, each with spec.topicName."""
    raw = yaml.safe_load((REPO / "topics.yaml").read_text(encoding="utf-8"))
    raw["topics"] += [
        {**raw["topics"][-1], "name": "ndxp.dancu.Ops_Log"},
        {**raw["topics"][-1], "name": "ndxp.dancu.ops-log"},
    ]
    resources = rendered(parse_topics(raw), StrimziDeployment())
    ops = [r for r in of_kind(resources, "KafkaTopic") if "ops" in r["metadata"]["name"]]
    assert [r["spec"].get("topicName") for r in ops] == ["ndxp.dancu.Ops_Log", None]
    assert ops[0]["metadata"]["name"].startswith("ndxp.dancu.ops-log-")
    for resource in ops:
        validate_strimzi(resource)


def test_names_that_would_collide_are_refused() -> None:
    """A topic named as another's derived resource name is refused rather than silently merged."""
    raw = yaml.safe_load((REPO / "topics.yaml").read_text(encoding="utf-8"))
    derived = resource_name("ndxp.dancu.Ops")
    raw["topics"] += [{**raw["topics"][-1], "name": n} for n in ("ndxp.dancu.Ops", derived)]
    with pytest.raises(ConfigError, match="share a name"):
        strimzi_resources(parse_topics(raw), StrimziDeployment(), TARGET)


@pytest.mark.parametrize(
    ("deployment", "message"),
    [
        (StrimziDeployment(agencies=("bank",), accounts=("bank", "ghost")), "ghost"),
        (StrimziDeployment(agencies=("dancu-x",), accounts=("dancu-x",)), "reserved"),
    ],
)
def test_accounts_are_checked_as_agency_issue_checks_them(
    deployment: StrimziDeployment, message: str
) -> None:
    """An account for an agency not given, or an id agency issue refuses, is refused here too."""
    with pytest.raises(ConfigError, match=message):
        strimzi_resources(DECLARED, deployment, TARGET)


@pytest.mark.parametrize(("cluster", "namespace"), [("My_Cluster", None), ("ok", "-bad"), ("c" * 64, None)])
def test_cluster_and_namespace_must_be_kubernetes_names(cluster: str, namespace: str | None) -> None:
    """The Strimzi cluster's name and the namespace are DNS-1123 labels."""
    with pytest.raises(ConfigError, match="Kubernetes name"):
        StrimziTarget(cluster, namespace)


def test_no_secret_is_rendered() -> None:
    """KafkaUsers ask for SCRAM-SHA-512 and name no password: Strimzi's User Operator generates it."""
    for user in of_kind(rendered(), "KafkaUser"):
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert "quotas" not in user["spec"]
    assert "password" not in strimzi_yaml(strimzi_resources(DECLARED, DEPLOYMENT, TARGET))


# --- (c) the command ------------------------------------------------------------------------------


def _agencies_file(tmp_path: Path) -> Path:
    """deploy/agencies.yaml with one agency still onboarding and one terminated."""
    raw = yaml.safe_load(AGENCIES_FILE.read_text(encoding="utf-8"))
    statuses = {"demo-notary": "ONBOARDING", "demo-telecom": "TERMINATED", "demo-province": "SUSPENDED"}
    for agency in raw["agencies"]:
        agency["status"] = statuses.get(agency["id"], agency.get("status", "ACTIVE"))
    path = tmp_path / "agencies.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_cli_prints_valid_multi_document_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``topics render --strimzi`` prints one valid resource per document: every agency's topics, and users
    for the platform and for the agencies holding an account (not onboarding, not terminated)."""
    monkeypatch.setenv("DANCU_KAFKA__TOPIC_PREFIX", "prod.dancu")
    argv = ["topics", "render", "--strimzi", "--cluster", "national", "--file", str(REPO / "topics.yaml")]
    assert main([*argv, "--agencies", str(_agencies_file(tmp_path)), "--namespace", "dancu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("---\n")
    resources = list(yaml.safe_load_all(out))
    for resource in resources:
        validate_strimzi(resource)
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == "national"
    topics = topics_of(resources)
    assert {"prod.dancu.req.demo-notary", "prod.dancu.res.demo-telecom", "prod.dancu.audit"} <= set(topics)
    users = [u["metadata"]["name"] for u in of_kind(resources, "KafkaUser")]
    assert users == [*PLATFORM_PRINCIPALS, "demo-bank", "demo-province", "portal", "sms"]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["topics", "render", "--cluster", "national"], 2, "--strimzi"),
        (["topics", "render", "--strimzi"], 2, "--cluster"),
        (["topics", "render", "--strimzi", "--cluster", "National"], 1, "Kubernetes name"),
    ],
)
def test_cli_refuses_what_it_cannot_render(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The format and the cluster are required, and the cluster must be a Kubernetes name."""
    if code == 2:
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == code
    else:
        assert main(argv) == code
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_crds_fail_under_ci(
    ci: str, outcome: type[BaseException], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the CRDs the validation fails under CI=true (skips elsewhere), never passes."""
    monkeypatch.setattr(strimzi_crds, "STRIMZI_CRDS", tmp_path / "shared" / "strimzi")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="Strimzi CRDs are missing"):
        strimzi_crds.strimzi_crds_dir()
