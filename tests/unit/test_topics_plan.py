"""topics.yaml validation, template expansion, and the plan that aligns a cluster with it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

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
from dancu_bus.agencies import load_directory
from dancu_bus.errors import ConfigError
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics import (
    AclPlan,
    ActualTopic,
    AddPartitions,
    AlterConfigs,
    CreateTopic,
    DeleteTopic,
    Plan,
    Problem,
    TopicSpec,
    expand,
    load_topics,
    parse_topics,
    plan,
    plan_acls,
    render,
    render_acl,
)

REPO = Path(__file__).resolve().parents[2]


def spec(name: str, partitions: int = 3, **configs: str) -> TopicSpec:
    """A concrete topic with only the fields the plan looks at chosen."""
    return TopicSpec(
        name=name,
        partitions=partitions,
        replication_factor=1,
        configs={key.replace("_", "."): value for key, value in configs.items()},
        key="request id",
        value_schema="vn.dancu.Request",
        writers=("User:a",),
        readers=("User:b",),
    )


def actual(name: str, partitions: int = 3, **configs: str) -> ActualTopic:
    """A topic as a cluster would report it."""
    return ActualTopic(name, partitions, {key.replace("_", "."): value for key, value in configs.items()})


A = "ndxp.dancu.a"
A_SPEC = spec(A, retention_ms="1000", cleanup_policy="compact,delete")

PLAN_CASES: list[tuple[str, list[TopicSpec], list[ActualTopic], bool, Plan]] = [
    ("create missing", [A_SPEC], [], False, Plan((CreateTopic(A_SPEC),))),
    (
        "align a different config",
        [A_SPEC],
        [actual(A, retention_ms="2000", cleanup_policy="compact,delete")],
        False,
        Plan((AlterConfigs(A, "retention.ms", "2000", "1000"),)),
    ),
    (
        "set a config the cluster lacks",
        [A_SPEC],
        [actual(A, cleanup_policy="compact,delete")],
        False,
        Plan((AlterConfigs(A, "retention.ms", None, "1000"),)),
    ),
    (
        "no changes when equal",
        [A_SPEC],
        [actual(A, retention_ms="1000", cleanup_policy="compact,delete", segment_ms="5")],
        False,
        Plan(),
    ),
    (
        "cleanup.policy order does not matter",
        [A_SPEC],
        [actual(A, retention_ms="1000", cleanup_policy="delete,compact")],
        False,
        Plan(),
    ),
    (
        "partitions increase",
        [spec(A, 6)],
        [actual(A, 3)],
        False,
        Plan((AddPartitions(A, 3, 6),)),
    ),
    (
        "partitions decrease is reported, not done",
        [spec(A, 3)],
        [actual(A, 6)],
        False,
        Plan(problems=(Problem(A, "cannot remove partitions"),)),
    ),
    ("undeclared topic kept without the flag", [], [actual("ndxp.dancu.old")], False, Plan()),
    (
        "undeclared topic under the prefix deleted with the flag",
        [],
        [actual("ndxp.dancu.old")],
        True,
        Plan((DeleteTopic("ndxp.dancu.old"),)),
    ),
    (
        "topics outside the prefix never deleted",
        [],
        [
            actual("other.topic"),
            actual("ndxp.dancuish.x"),
            actual("ndxp.dancu"),
            actual("__consumer_offsets"),
        ],
        True,
        Plan(),
    ),
]


@pytest.mark.parametrize(
    ("desired", "cluster", "delete_unknown", "expected"),
    [case[1:] for case in PLAN_CASES],
    ids=[case[0] for case in PLAN_CASES],
)
def test_plan(
    desired: list[TopicSpec], cluster: list[ActualTopic], delete_unknown: bool, expected: Plan
) -> None:
    """The plan holds exactly the actions and problems that align the cluster with the declaration."""
    result = plan(desired, {t.name: t for t in cluster}, delete_unknown=delete_unknown)
    assert result.actions == expected.actions
    assert [p.topic for p in result.problems] == [p.topic for p in expected.problems]


def test_partition_decrease_problem_says_why() -> None:
    """A partition decrease is explained with both counts and the reason it cannot be done."""
    (problem,) = plan([spec(A, 3)], {A: actual(A, 6)}).problems
    assert "6 partitions but 3 are declared" in problem.message
    assert "cannot remove partitions" in problem.message


def test_plan_honours_another_prefix() -> None:
    """With a test prefix, deletion is confined to that prefix and spares ndxp.dancu topics."""
    cluster = {n: actual(n) for n in ("test.x.1.old", "ndxp.dancu.old")}
    result = plan([], cluster, delete_unknown=True, prefix="test.x.1")
    assert result.actions == (DeleteTopic("test.x.1.old"),)


def test_render_lines() -> None:
    """Each action renders as one +, ~ or - line and each problem as a ! line."""
    actions = (
        CreateTopic(spec(A, 2, retention_ms="5")),
        AlterConfigs(A, "retention.ms", "1", "2"),
        AddPartitions(A, 2, 4),
        DeleteTopic("ndxp.dancu.b"),
    )
    text = render(Plan(actions, (Problem(A, "is odd"),)))
    assert text.splitlines() == [
        f"+ create {A} (partitions 2, replication 1, retention.ms=5)",
        f"~ alter {A} retention.ms: 1 -> 2",
        f"~ alter {A} partitions: 2 -> 4",
        "- delete ndxp.dancu.b",
        f"! {A} is odd",
    ]


def test_render_empty_plan() -> None:
    """A plan with nothing to do renders as ``no changes``."""
    assert render(Plan()) == "no changes"


def minimal_raw() -> dict[str, Any]:
    """The smallest valid topics file: one templated and one fixed topic."""
    entry = {
        "partitions": 6,
        "key": "request id",
        "value_schema": "vn.dancu.Request",
        "configs": {"cleanup.policy": "delete", "retention.ms": 604800000},
        "writers": ["User:{agency}"],
        "readers": ["User:dancu-resolver"],
    }
    return {
        "prefix": "ndxp.dancu",
        "defaults": {
            "replication_factor": 3,
            "min_insync_replicas": 2,
            "configs": {"compression.type": "lz4"},
        },
        "topics": [
            {"name": "ndxp.dancu.req.{agency}", **entry},
            {**copy.deepcopy(entry), "name": "ndxp.dancu.dlq", "partitions": 3, "writers": ["User:x"]},
        ],
        "principals": [{"name": "User:{agency}"}, {"name": "User:dancu-resolver"}, {"name": "User:x"}],
    }


def test_expand_templates_per_agency() -> None:
    """A templated topic becomes one topic per agency, principals filled in, fixed topics once."""
    specs = expand(parse_topics(minimal_raw()), ["b-bank", "a-bank"])
    assert [s.name for s in specs] == ["ndxp.dancu.req.a-bank", "ndxp.dancu.req.b-bank", "ndxp.dancu.dlq"]
    assert specs[0].writers == ("User:a-bank",)
    assert specs[0].configs == {
        "compression.type": "lz4",
        "cleanup.policy": "delete",
        "retention.ms": "604800000",
        "min.insync.replicas": "2",
    }
    assert specs[0].replication_factor == 3


def test_expand_overrides_replication_and_prefix() -> None:
    """A replication override lowers min.insync.replicas to fit, and a prefix renames every topic."""
    specs = expand(parse_topics(minimal_raw()), ["a-bank"], replication_factor=1, prefix="test.t.1234")
    assert [s.name for s in specs] == ["test.t.1234.req.a-bank", "test.t.1234.dlq"]
    assert {(s.replication_factor, s.configs["min.insync.replicas"]) for s in specs} == {(1, "1")}


@pytest.mark.parametrize(
    ("agency_ids", "message"),
    [(["Bad_Id"], "not slugs"), (["x"], "not slugs")],
)
def test_expand_rejects_bad_agency_ids(agency_ids: list[str], message: str) -> None:
    """Agency ids that would make illegal or confusing topic names are refused."""
    with pytest.raises(ConfigError, match=message):
        expand(parse_topics(minimal_raw()), agency_ids)


def test_expand_rejects_template_clash() -> None:
    """An agency whose topic would repeat a fixed topic's name is refused."""
    raw = minimal_raw()
    raw["topics"][1]["name"] = "ndxp.dancu.req.a-bank"
    with pytest.raises(ConfigError, match="declared twice"):
        expand(parse_topics(raw), ["a-bank"])


def _set(path: str, value: object) -> Any:
    """A change to the minimal file: set the dotted ``path`` (list indices as numbers) to ``value``."""

    def change(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


INVALID_FILES = [
    ("partitions 0", _set("topics.0.partitions", 0), "topics[0] (ndxp.dancu.req.{agency}).partitions"),
    ("unknown field", _set("topics.1.colour", "red"), "topics[1] (ndxp.dancu.dlq).colour: Extra inputs"),
    (
        "bad cleanup policy",
        _set("topics.0.configs", {"cleanup.policy": "compacted"}),
        "'compacted' is not one of",
    ),
    ("min isr in configs", _set("topics.0.configs", {"min.insync.replicas": 1}), "field min_insync_replicas"),
    ("retention not a number", _set("topics.0.configs", {"retention.ms": "7d"}), "whole number"),
    ("name outside prefix", _set("topics.1.name", "other.dlq"), "outside the prefix 'ndxp.dancu'"),
    ("duplicate name", _set("topics.1.name", "ndxp.dancu.req.{agency}"), "declared more than once"),
    ("min isr above replication", _set("topics.1.min_insync_replicas", 4), "exceeds replication_factor 3"),
    ("bad schema name", _set("topics.0.value_schema", "Request"), "not an Avro full name"),
    ("bad principal", _set("topics.0.readers", ["resolver"]), "User:<name>"),
    ("unknown placeholder", _set("topics.0.name", "ndxp.dancu.req.{agent}"), "not a Kafka topic name"),
    ("missing key", _set("topics.0.key", None), "topics[0] (ndxp.dancu.req.{agency}).key"),
    ("bad prefix", _set("prefix", "ndxp.dancu."), "prefix 'ndxp.dancu.' must be"),
]


@pytest.mark.parametrize(
    ("change", "message"), [case[1:] for case in INVALID_FILES], ids=[case[0] for case in INVALID_FILES]
)
def test_invalid_topics_file(change: Any, message: str) -> None:
    """A bad topics file is refused with a ConfigError naming the topic and the field at fault."""
    raw = minimal_raw()
    change(raw)
    with pytest.raises(ConfigError, match=r"topics\.yaml is invalid") as caught:
        parse_topics(raw)
    assert message in str(caught.value)


def test_load_topics_missing_file(tmp_path: Path) -> None:
    """A missing topics file is a ConfigError naming the path."""
    with pytest.raises(ConfigError, match=r"cannot read topics file .*nope\.yaml"):
        load_topics(tmp_path / "nope.yaml")


def test_load_topics_not_yaml(tmp_path: Path) -> None:
    """A file that is not YAML is a ConfigError, not a parser traceback."""
    path = tmp_path / "topics.yaml"
    path.write_text("prefix: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not YAML"):
        load_topics(path)


def test_shipped_topics_file_declares_design_topics() -> None:
    """The repository's topics.yaml expands, for the deployed agencies, into the topics of DESIGN.md §3.

    Retention is shorter than DESIGN.md §3 first said (7 d, 30 d): personal data is kept only as long as
    delivery needs (issue 12).
    """
    agency_ids = load_directory(REPO / "deploy" / "agencies.yaml").ids()
    specs = {s.name: s for s in expand(load_topics(REPO / "topics.yaml"), agency_ids)}
    audit, registry, dlq = specs["ndxp.dancu.audit"], specs["ndxp.dancu.registry"], specs["ndxp.dancu.dlq"]
    assert audit.configs["cleanup.policy"] == "compact,delete"
    assert audit.value_schema == "vn.dancu.AuditRecord"
    assert (registry.partitions, registry.configs["cleanup.policy"]) == (1, "compact")
    assert (dlq.partitions, dlq.configs["retention.ms"]) == (3, str(7 * 86_400_000))
    for agency in agency_ids:
        request, response = specs[f"ndxp.dancu.req.{agency}"], specs[f"ndxp.dancu.res.{agency}"]
        assert request.configs["retention.ms"] == response.configs["retention.ms"] == str(86_400_000)
        # The broker deletes whole segments: hourly ones end a record's life within an hour of 24 h.
        assert request.configs["segment.ms"] == response.configs["segment.ms"] == str(3_600_000)
        assert request.writers == (f"User:{agency}",)
        assert f"User:{agency}" in response.readers


# --- ACLs --------------------------------------------------------------------------------------------

DECLARED = load_topics(REPO / "topics.yaml")
NAMES, IDS = TopicNames("ndxp.dancu"), PlatformIds()


def _held_as_wanted(agencies: tuple[str, ...] = ("bank",)) -> dict[str, frozenset[Grant]]:
    """What the broker holds when it holds exactly what topics.yaml gives, by principal."""
    held = {principal(u): g for u, g in platform_grants(DECLARED, NAMES, IDS).items()}
    return held | {principal(a): agency_grants(DECLARED, NAMES, a) for a in agencies}


def test_acls_as_declared_plan_nothing() -> None:
    """A broker holding exactly topics.yaml's grants needs no ACL change, and the plan says so."""
    acls = plan_acls(DECLARED, NAMES, IDS, _held_as_wanted(), ["bank"])
    assert acls.empty
    assert render(Plan(), acls) == "no changes"


def test_a_missing_and_a_stray_acl_are_planned() -> None:
    """A grant the broker lacks is ``+``; one it holds that topics.yaml does not give is ``-``."""
    held = _held_as_wanted()
    lost = Grant("User:bank", Resource.TOPIC, "ndxp.dancu.res.bank", Pattern.LITERAL, Operation.READ)
    extra = Grant("User:bank", Resource.TOPIC, "ndxp.dancu.audit", Pattern.LITERAL, Operation.READ)
    held["User:bank"] = (held["User:bank"] - {lost}) | {extra}
    acls = plan_acls(DECLARED, NAMES, IDS, held, ["bank"])
    assert (acls.missing, acls.stray) == ((lost,), (extra,))
    assert render(Plan(), acls).splitlines() == [
        "+ acl User:bank READ TOPIC LITERAL ndxp.dancu.res.bank",
        "- acl User:bank READ TOPIC LITERAL ndxp.dancu.audit  (kept: apply --prune-acls removes it)",
    ]
    assert (
        render(Plan(), acls, prune_acls=True).splitlines()[1]
        == "- acl User:bank READ TOPIC LITERAL ndxp.dancu.audit"
    )


def test_platform_grants_of_other_deployments_are_left_out() -> None:
    """A platform user's grants under another prefix or ids are not strays here; a cluster right is."""
    held = _held_as_wanted()
    elsewhere = Grant(
        principal(PLATFORM_PRINCIPALS[0]), Resource.TOPIC, "sec1.dancu.req.", Pattern.PREFIXED, Operation.READ
    )
    cluster = Grant(
        principal(PLATFORM_PRINCIPALS[0]),
        Resource.CLUSTER,
        "kafka-cluster",
        Pattern.LITERAL,
        Operation.IDEMPOTENT_WRITE,
    )
    held[elsewhere.principal] = held[elsewhere.principal] | {elsewhere, cluster}
    assert plan_acls(DECLARED, NAMES, IDS, held, ["bank"]) == AclPlan(stray=(cluster,))


def test_an_agency_is_compared_on_everything_it_holds() -> None:
    """An agency serves one deployment: a grant of it under another prefix is a stray."""
    held = _held_as_wanted()
    other = Grant("User:bank", Resource.TOPIC, "sec1.dancu.req.bank", Pattern.LITERAL, Operation.WRITE)
    held["User:bank"] = held["User:bank"] | {other}
    assert plan_acls(DECLARED, NAMES, IDS, held, ["bank"]).stray == (other,)


def test_platform_grants_missing_from_the_broker_are_all_planned() -> None:
    """With nothing on the broker, every platform grant is planned, and no agency's (none is issued)."""
    acls = plan_acls(DECLARED, NAMES, IDS, {}, [])
    wanted = {g for grants in platform_grants(DECLARED, NAMES, IDS).values() for g in grants}
    assert set(acls.missing) == wanted and not acls.stray


@pytest.mark.parametrize(
    ("grant", "line"),
    [
        (
            Grant("User:dancu-resolver", Resource.TOPIC, "ndxp.dancu.req.", Pattern.PREFIXED, Operation.READ),
            "+ acl User:dancu-resolver READ TOPIC PREFIXED ndxp.dancu.req.",
        ),
        (
            Grant(
                "User:bank",
                Resource.GROUP,
                "bank.",
                Pattern.PREFIXED,
                Operation.READ,
                allow=False,
                host="10.0.0.1",
            ),
            "+ acl User:bank DENY READ GROUP PREFIXED bank. from 10.0.0.1",
        ),
    ],
)
def test_an_acl_line_names_everything_about_the_grant(grant: Grant, line: str) -> None:
    """Principal, denial, operation, resource, pattern, name and host all appear in the line."""
    assert render_acl("+", grant) == line
