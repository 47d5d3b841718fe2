"""deploy/prometheus: the scrape config and rules pass promtool, every alert is documented, links its
runbook section and is unit-tested firing and not, and every rule reads only declared metrics.

The promtool tests (marker ``prometheus``) need Debian's ``prometheus`` package: skipped without it
locally, failed under ``CI=true``. The others read the YAML alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from tests.metric_names import dancu_names_in, declared_series, undeclared_in

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
RUNBOOK = PROMETHEUS / "RUNBOOK.md"
RUNBOOK_URL = "deploy/prometheus/RUNBOOK.md#"
SEVERITIES = {"page", "ticket"}
_RECORDED_NAME = re.compile(r"(?<![A-Za-z0-9_:])dancu:[A-Za-z0-9_:]+")


def _yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path}: not a YAML mapping"
    return loaded


def _groups(path: Path) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = _yaml(path)["groups"]
    return groups


def _rules() -> Iterator[dict[str, Any]]:
    for path in RULE_FILES:
        for group in _groups(path):
            yield from group["rules"]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _recorded() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def _read_text(rule: dict[str, Any]) -> str:
    """What a rule reads: its expression and its annotations (templates may hold queries)."""
    return "\n".join([rule["expr"], *rule.get("annotations", {}).values()])


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _runbook_anchors() -> list[str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    return [_anchor(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)]


def _give_up(reason: str) -> NoReturn:
    """Fail under CI, where promtool must run; skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the prometheus tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def promtool() -> str:
    """The path of promtool (Debian's prometheus package)."""
    found = shutil.which("promtool")
    if found is None:
        _give_up("promtool not found: apt-get install -y prometheus (Debian's package)")
    return found


def _run(promtool: str, *args: str) -> None:
    done = subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=90, check=False, cwd=PROMETHEUS
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"


@pytest.mark.prometheus
def test_scrape_config_and_its_rule_files_pass_promtool(promtool: str) -> None:
    """promtool accepts prometheus.yml, and with it the rule files it names."""
    _run(promtool, "check", "config", "prometheus.yml")


@pytest.mark.prometheus
def test_rule_files_pass_promtool(promtool: str) -> None:
    """promtool accepts every rule file (syntax, PromQL, templates)."""
    _run(promtool, "check", "rules", *(str(path) for path in RULE_FILES))


@pytest.mark.prometheus
def test_rule_unit_tests_pass(promtool: str) -> None:
    """Every promtool unit test of the rules passes: each alert fires where it should and only there."""
    _run(promtool, "test", "rules", *(str(path) for path in RULE_TESTS))


def test_scrape_config_names_every_rule_file_and_process() -> None:
    """prometheus.yml loads every rule file and scrapes the resolver and the audit consumer."""
    config = _yaml(PROMETHEUS / "prometheus.yml")
    assert sorted(PROMETHEUS / name for name in config["rule_files"]) == RULE_FILES
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["dancu-resolver"]["static_configs"][0]["targets"] == ["127.0.0.1:9401"]
    assert jobs["dancu-audit"]["static_configs"][0]["targets"] == ["127.0.0.1:9402"]


def test_every_alert_says_how_urgent_what_and_where_to_read() -> None:
    """Each alert has a severity (page or ticket), a summary, a description and a runbook link."""
    for alert in _alerts():
        name, annotations = alert["alert"], alert.get("annotations", {})
        assert alert.get("labels", {}).get("severity") in SEVERITIES, name
        for key in ("summary", "description", "runbook_url"):
            assert str(annotations.get(key, "")).strip(), f"{name}: no {key}"


def test_every_alert_links_its_own_runbook_section() -> None:
    """Each runbook_url is RUNBOOK.md's section named after the alert, and that section exists."""
    anchors = _runbook_anchors()
    for alert in _alerts():
        url = alert["annotations"]["runbook_url"]
        assert url == RUNBOOK_URL + _anchor(alert["alert"]), f"{alert['alert']}: {url}"
        assert _anchor(alert["alert"]) in anchors, f"{alert['alert']}: no section in RUNBOOK.md"


def test_runbook_has_a_section_per_alert_and_its_links_resolve() -> None:
    """RUNBOOK.md has no section of an alert that does not exist, and its own #links land."""
    anchors = _runbook_anchors()
    alerts = {_anchor(alert["alert"]) for alert in _alerts()}
    sections = set(anchors[1:])  # the first heading is the document's title
    assert sections == alerts
    links = set(re.findall(r"\]\(#([^)]+)\)", RUNBOOK.read_text(encoding="utf-8")))
    assert links <= set(anchors), links - set(anchors)


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    """For every alert the promtool tests hold a case where it fires and one where it does not."""
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in _yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {alert["alert"] for alert in _alerts()}
    assert firing | quiet <= alerts, f"tests of unknown alerts: {(firing | quiet) - alerts}"
    assert alerts - firing == set(), "never tested firing"
    assert alerts - quiet == set(), "never tested quiet"


def test_unit_tests_evaluate_recording_rules_before_alerts() -> None:
    """Each test file loads every rule file and orders every group, recording first, so that alerts read
    the series recorded at the same instant."""
    recording = [group["name"] for path in RULE_FILES if path.stem == "recording" for group in _groups(path)]
    alerting = [group["name"] for path in RULE_FILES if path.stem == "alerts" for group in _groups(path)]
    assert len(recording) + len(alerting) == sum(len(_groups(path)) for path in RULE_FILES)
    for path in RULE_TESTS:
        test_file = _yaml(path)
        assert test_file["group_eval_order"] == recording + alerting, path.name
        assert sorted((path.parent / name).resolve() for name in test_file["rule_files"]) == RULE_FILES


def test_rules_read_only_metrics_the_code_declares() -> None:
    """Every dancu_ series a rule reads (expression or annotation query) is declared in metrics.py."""
    undeclared = {rule.get("alert") or rule["record"]: undeclared_in(_read_text(rule)) for rule in _rules()}
    assert {name: names for name, names in undeclared.items() if names} == {}


def test_rules_read_only_series_the_recording_rules_make() -> None:
    """Every dancu:… name a rule reads is recorded by recording.yml."""
    recorded = _recorded()
    for rule in _rules():
        read = set(_RECORDED_NAME.findall(_read_text(rule)))
        assert read <= recorded, f"{rule.get('alert') or rule['record']}: {read - recorded}"


def test_the_metric_name_check_sees_what_an_expression_reads() -> None:
    """The check finds series names in PromQL, not recorded names or job names, and knows counter names."""
    expression = 'rate(dancu_resolver_requests_total{job="dancu-resolver"}[5m]) / dancu:resolver_x:rate5m'
    assert dancu_names_in(expression) == {"dancu_resolver_requests_total"}
    assert undeclared_in(expression) == set()
    # A counter is exposed with _total only; a misspelt or bare name is caught.
    assert undeclared_in("dancu_resolver_requests + dancu_ready_total") == {
        "dancu_resolver_requests",
        "dancu_ready_total",
    }
    assert "dancu_build_info" in declared_series()
