"""``dancu-bus topics plan|apply|render``: show and apply the difference between topics.yaml and the cluster,
or render the same as Strimzi resources.

Topics and ACLs both: the ACLs topics.yaml's readers, writers and principals give the platform users
and the issued agencies (``+`` missing), and those the broker holds beyond them (``-``, removed only
with ``--prune-acls``). ``render --strimzi`` prints, with no broker, the KafkaTopic and KafkaUser
resources that have Strimzi's operators create the same topics, users and ACLs on Kubernetes.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from dancu_bus.access import platform_ids
from dancu_bus.admin import apply, plan_topics
from dancu_bus.admin.security import apply_acls, plan_deployment_acls
from dancu_bus.agencies import FileAgencyDirectory, load_directory
from dancu_bus.dev import repo_root
from dancu_bus.settings import Settings
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics import (
    AclPlan,
    Plan,
    StrimziDeployment,
    StrimziTarget,
    TopicsFile,
    load_topics,
    packaged_topics,
    render,
    render_acls,
    strimzi_resources,
    strimzi_yaml,
    time_retention,
)

__all__ = [
    "add_topics_option",
    "audit_retention",
    "declared_topics",
    "register",
    "run_apply",
    "run_plan",
    "run_render",
]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``topics plan``, ``topics apply`` and ``topics render``."""
    topics = commands.add_parser(
        "topics", help="align the cluster's topics with topics.yaml, or render them for Strimzi"
    )
    actions = topics.add_subparsers(dest="topics_command", required=True)
    show = actions.add_parser("plan", help="show what apply would change, without changing anything")
    show.set_defaults(run=run_plan)
    change = actions.add_parser("apply", help="create and align the declared topics (idempotent)")
    change.set_defaults(run=run_apply)
    for parser in (show, change):
        _add_declaration_options(parser)
        _add_alignment_options(parser)
    _add_render(actions)


def _add_render(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``topics render --strimzi --cluster NAME``."""
    out = actions.add_parser(
        "render",
        help="print the topics, users and ACLs apply and agency issue would create, as Kubernetes resources"
        " (no broker needed)",
    )
    _add_declaration_options(out)
    formats = out.add_mutually_exclusive_group(required=True)
    formats.add_argument(
        "--strimzi",
        action="store_true",
        help="Strimzi KafkaTopic and KafkaUser resources (kafka.strimzi.io/v1), as multi-document YAML",
    )
    out.add_argument(
        "--cluster",
        required=True,
        metavar="NAME",
        help="the Strimzi Kafka cluster (label strimzi.io/cluster)",
    )
    out.add_argument(
        "--namespace", metavar="NS", help="metadata.namespace of every resource (default: none, kubectl's)"
    )
    out.set_defaults(run=lambda args, settings: run_render(args, settings, sys.stdout))


def _add_declaration_options(parser: argparse.ArgumentParser) -> None:
    """What plan, apply and render read: the topics file, the agencies, a replication factor."""
    parser.add_argument(
        "--file",
        type=Path,
        default=None,
        help="topics file (default: ./topics.yaml, else the one shipped in the package)",
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        metavar="N",
        help="override every topic's replication factor (1 on a single-node cluster); "
        "min.insync.replicas is lowered to fit",
    )
    parser.add_argument(
        "--agencies",
        type=Path,
        default=None,
        metavar="FILE",
        help="agencies file: each agency gets its topics (render: its KafkaUser too, once issued)"
        " (default: DANCU_RESOLVER__AGENCIES_FILE, deploy/agencies.yaml)",
    )


def _add_alignment_options(parser: argparse.ArgumentParser) -> None:
    """What only plan and apply take: what to remove from the cluster."""
    parser.add_argument(
        "--delete-unknown",
        action="store_true",
        help="also delete topics under the prefix that topics.yaml does not declare",
    )
    parser.add_argument(
        "--prune-acls",
        action="store_true",
        help="also delete ACLs of the platform users (under the prefix) and of issued agencies that"
        " topics.yaml does not grant; without it they are shown and kept",
    )


def _existing(path: Path) -> Path:
    """A relative path as given if it exists here, else the same path inside the repository."""
    if path.is_absolute() or path.exists():
        return path
    in_repo = repo_root() / path
    return in_repo if in_repo.exists() else path


def declared_topics(file: Path | None) -> TopicsFile:
    """The topics file given, else ``./topics.yaml`` if there is one, else the packaged declaration.

    Every command that reads the deployment's topics file reads it here: topics plan and apply, and the
    audit commands that apply its retention.
    """
    if file is not None:
        return load_topics(_existing(file))
    here = Path("topics.yaml")
    return load_topics(here) if here.exists() else packaged_topics()


def add_topics_option(parser: argparse.ArgumentParser, use: str) -> None:
    """``--topics FILE``: the deployment's topics file, for ``use`` (read by ``declared_topics``)."""
    parser.add_argument(
        "--topics",
        type=Path,
        metavar="FILE",
        help=f"topics file {use} (default: ./topics.yaml, else the packaged one)",
    )


def audit_retention(file: Path | None, settings: Settings) -> timedelta | None:
    """The audit topic's time retention, as the deployment's topics file declares it (None: forever)."""
    names = TopicNames(settings.kafka.topic_prefix)
    return time_retention(declared_topics(file), names.audit, names.prefix)


def _agencies(args: argparse.Namespace, settings: Settings) -> FileAgencyDirectory:
    """The agencies file given, else the one the settings name."""
    return load_directory(_existing(args.agencies or settings.resolver.agencies_file))


def _inputs(args: argparse.Namespace, settings: Settings) -> tuple[TopicsFile, tuple[str, ...]]:
    """The topics file and the ids of the agencies file."""
    return declared_topics(args.file), _agencies(args, settings).ids()


def _plan(
    args: argparse.Namespace, settings: Settings, declared: TopicsFile, agencies: tuple[str, ...]
) -> Plan:
    """What would align the cluster's topics with the topics file, for every agency of the agencies file."""
    return plan_topics(
        settings.kafka,
        declared,
        agencies,
        replication_factor=args.replication_factor,
        delete_unknown=args.delete_unknown,
    )


def _acl_plan(settings: Settings, declared: TopicsFile, agencies: tuple[str, ...]) -> AclPlan:
    """What would align the broker's ACLs with the topics file."""
    return plan_deployment_acls(settings.kafka, declared, agencies, platform_ids(settings))


def _report_problems(planned: Plan) -> int:
    """Print what cannot be done; the exit code."""
    for problem in planned.problems:
        print(f"dancu-bus: {problem.topic} {problem.message}", file=sys.stderr)
    return 1 if planned.problems else 0


def run_plan(args: argparse.Namespace, settings: Settings) -> int:
    """Print the plan, topics then ACLs; exit 1 if part of it cannot be applied."""
    declared, agencies = _inputs(args, settings)
    planned = _plan(args, settings, declared, agencies)
    acls = _acl_plan(settings, declared, agencies)
    print(render(planned, acls, prune_acls=args.prune_acls))
    return 1 if planned.problems else 0


def run_apply(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the plan and print each action done, or ``no changes``; exit 1 if part of it cannot be."""
    declared, agencies = _inputs(args, settings)
    planned = _plan(args, settings, declared, agencies)
    done = apply(settings.kafka, planned)
    # After the topics: an administrator's refusal names the first thing it could not do.
    acls = _acl_plan(settings, declared, agencies)
    done += apply_acls(settings.kafka, acls, prune=args.prune_acls)
    kept = () if args.prune_acls else acls.stray
    lines = done + render_acls(AclPlan(stray=kept), prune=False)
    print("\n".join(lines) if lines else "no changes")
    return _report_problems(planned)


def run_render(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Print the Strimzi resources of this deployment: its prefix and service ids, as apply uses them."""
    directory = _agencies(args, settings)
    deployment = StrimziDeployment(
        names=TopicNames(settings.kafka.topic_prefix),
        ids=platform_ids(settings),
        agencies=directory.ids(),
        accounts=tuple(a.id for a in directory.agencies() if a.holds_account),
        replication_factor=args.replication_factor,
    )
    target = StrimziTarget(args.cluster, args.namespace)
    out.write(strimzi_yaml(strimzi_resources(declared_topics(args.file), deployment, target)))
    return 0
