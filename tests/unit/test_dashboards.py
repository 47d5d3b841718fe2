"""deploy/grafana: the committed dashboards are what the code builds, and read only declared metrics."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dancu_bus.dashboards import expressions, instantiate, load, panels
from dancu_bus.dashboards.__main__ import COMMAND, main
from dancu_bus.dashboards.generate import DASHBOARDS, differences, write
from tests.metric_names import PROMETHEUS_SERIES, declared_series, series_in

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
BOARDS = load(DEPLOY)
_RANGES = re.compile(r"\b(?:rate|irate|increase)\([^\[]*\[([^\]]*)\]")
_LABEL_VALUES = re.compile(r"label_values\((\w+),")


def _all_expressions() -> list[tuple[str, str, str]]:
    return [(name, e.panel, e.expr) for name, board in BOARDS.items() for e in expressions(board)]


def test_the_committed_dashboards_are_what_the_code_builds() -> None:
    """CI fails when deploy/grafana differs from the code, and says which command rewrites it."""
    stale = differences(DEPLOY)
    assert not stale, f"deploy/grafana is out of date ({', '.join(stale)}): run {COMMAND}"
    assert set(BOARDS) == set(DASHBOARDS)


def test_the_check_names_a_changed_a_missing_and_a_left_over_file(tmp_path: Path) -> None:
    """``--check`` reports each kind of difference and exits 1; after writing, it passes."""
    write(tmp_path)
    assert main([str(tmp_path), "--check"]) == 0
    (tmp_path / "audit.json").write_text("{}\n")
    (tmp_path / "agency.json").unlink()
    (tmp_path / "old.json").write_text("{}\n")
    assert differences(tmp_path) == [
        "agency.json (missing)",
        "audit.json (differs)",
        "old.json (no dashboard writes it)",
    ]
    assert main([str(tmp_path), "--check"]) == 1
    assert main([str(tmp_path)]) == 0
    assert differences(tmp_path) == ["old.json (no dashboard writes it)"]


def test_every_series_a_dashboard_reads_is_declared_by_the_metrics() -> None:
    """A panel or variable that reads a metric no process exposes (renamed, mistyped) fails here."""
    known = declared_series() | PROMETHEUS_SERIES
    unknown = {
        (name, panel, series)
        for name, panel, expr in _all_expressions()
        for series in series_in(expr) - known
    }
    for name, board in BOARDS.items():
        for variable in board["templating"]["list"]:
            for series in _LABEL_VALUES.findall(str(variable.get("query", ""))):
                if series not in known:
                    unknown.add((name, f"${variable['name']}", series))
    assert not unknown


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_panel_queries_the_datasource_variable_with_a_unit(name: str) -> None:
    """Each panel and each of its queries use ``$datasource``; each panel has a query, a unit, an id."""
    shown = panels(BOARDS[name])
    assert shown
    for panel in shown:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"]), panel["title"]
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"]), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
    ids = [panel["id"] for panel in BOARDS[name]["panels"]]
    assert len(set(ids)) == len(ids) and 0 not in ids


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_each_dashboard_has_the_datasource_variable_a_stable_uid_and_the_tag(name: str) -> None:
    """The datasource variable picks a Prometheus; uid and tags are what links and provisioning use."""
    board = BOARDS[name]
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert board["uid"] == f"dancu-{name}"
    assert "dancu-bus" in board["tags"]


def test_the_agency_dashboard_has_the_agency_variable_and_filters_every_query_by_it() -> None:
    """Every query of the per-agency dashboard is narrowed to the agencies chosen."""
    board = BOARDS["agency"]
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["agency"]["type"] == "query"
    assert variables["agency"]["query"] == "label_values(dancu_resolver_requests_total, agency)"
    assert variables["agency"]["datasource"] == DATASOURCE
    assert all('agency=~"$agency"' in e.expr for e in expressions(board))


def test_every_rate_is_over_the_rate_interval() -> None:
    """``$__rate_interval`` spans four scrapes whatever the scrape interval; a fixed window may not."""
    windows = {
        (name, panel, window) for name, panel, expr in _all_expressions() for window in _RANGES.findall(expr)
    }
    assert windows
    assert {window for _, _, window in windows} == {"$__rate_interval"}


def test_every_expression_has_a_value_for_each_of_its_variables() -> None:
    """What a test substitutes before sending an expression to Prometheus covers every variable used."""
    for _, panel, expr in _all_expressions():
        assert "$" not in instantiate(expr), panel


def test_instantiate_fills_grafana_variables_and_refuses_an_unknown_one() -> None:
    """Both spellings are filled; a variable without a value is an error, not left in the PromQL."""
    assert instantiate('rate(x{a=~"${agency}"}[$__rate_interval])') == 'rate(x{a=~".*"}[1m])'
    with pytest.raises(KeyError, match=r"\$instance"):
        instantiate('x{instance="$instance"}')


def test_expressions_reach_the_panels_of_a_collapsed_row() -> None:
    """A collapsed row holds its panels: they are listed as well, in layout order."""
    target: dict[str, Any] = {"refId": "A", "expr": "up"}
    board = {
        "uid": "u",
        "panels": [
            {"type": "stat", "title": "top", "targets": [target]},
            {
                "type": "row",
                "title": "r",
                "panels": [{"type": "timeseries", "title": "inner", "targets": [target]}],
            },
        ],
    }
    assert [(e.panel, e.expr) for e in expressions(board)] == [("top", "up"), ("inner", "up")]


@pytest.mark.parametrize(
    ("expr", "series"),
    [
        (
            'histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y"}[$__rate_interval])))',
            {"a_bucket"},
        ),
        ("(sum(rate(b_total[1m])) or vector(0)) / sum(c)", {"b_total", "c"}),
        ("time() - d_timestamp_seconds", {"d_timestamp_seconds"}),
        ('up{job=~"dancu-.*"}', {"up"}),
        ("max by (group, topic) (e) * on (instance) group_left () f", {"e", "f"}),
        ("g offset 5m > 1e3", {"g"}),
    ],
)
def test_series_in_reads_the_series_and_nothing_else(expr: str, series: set[str]) -> None:
    """Functions, keywords, label names and values, durations and numbers are not series."""
    assert series_in(expr) == series
