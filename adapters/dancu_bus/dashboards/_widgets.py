"""The pieces every dashboard is made of: its frame, panels on the datasource variable, PromQL helpers.

Every panel and query names the ``$datasource`` variable, every rate uses ``$__rate_interval`` (at
least four scrapes, whatever the scrape interval), and every panel has a unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

__all__ = [
    "BYTES",
    "COUNT",
    "CPU",
    "DATASOURCE",
    "EVENTS_PER_SECOND",
    "LATENCY_STEPS",
    "RATIO",
    "REQUESTS_PER_SECOND",
    "SECONDS",
    "TAG",
    "Panel",
    "Query",
    "Step",
    "distribution",
    "frame",
    "latency",
    "numbered",
    "quantile",
    "rate",
    "rates_by",
    "ratio",
    "section",
    "stat_panel",
    "states",
    "timeseries_panel",
]

SECONDS = "s"
REQUESTS_PER_SECOND = "reqps"
EVENTS_PER_SECOND = "cps"
RATIO = "percentunit"
COUNT = "short"
BYTES = "bytes"
CPU = "percentunit"
"""CPU seconds per second: 1 is one core busy (100 %)."""


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel, and how its series are named in the legend."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Step:
    """A threshold: from ``value`` (None: from the bottom) on, the panel shows ``color``."""

    value: float | None
    color: str


DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
"""The datasource variable every dashboard declares, so one JSON serves any Grafana's Prometheus."""
TAG = "dancu-bus"
"""Every dashboard's tag: the links between them find each other by it."""

LATENCY_STEPS: tuple[Step, ...] = (Step(None, "green"), Step(0.25, "orange"), Step(1.0, "red"))
"""End-to-end latency: 99 % of requests within 1 s, 0.25 s a warning (bucket bounds of
dancu_bus.metrics.LATENCY_BUCKETS, the thresholds of deploy/prometheus's latency rules)."""

_REF_IDS = "ABCDEFGHIJ"

Panel = cogbuilder.Builder[model.Panel]
"""Any panel's builder (time series, stat)."""


def rate(metric: str, selector: str = "") -> str:
    """``rate(metric{selector}[$__rate_interval])``."""
    return (
        f"rate({metric}{{{selector}}}[$__rate_interval])" if selector else f"rate({metric}[$__rate_interval])"
    )


def ratio(part: str, whole: str) -> str:
    """``part / whole``, ``part`` 0 while its series do not exist yet (nothing of the kind happened)."""
    return f"(sum({part}) or vector(0)) / sum({whole})"


def frame(uid: str, title: str, description: str, tags: Sequence[str]) -> dashboard_builders.Dashboard:
    """A dashboard with the datasource variable, the last hour refreshed every 30 s, and links to the
    other dancu-bus dashboards (keeping the time range and variables)."""
    links = (
        dashboard_builders.DashboardLink("dancu-bus")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags([TAG])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )
    return (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG, *tags])
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("utc")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .link(links)
        .with_variable(
            dashboard_builders.DatasourceVariable("datasource")
            .label("Data source")
            .type("prometheus")
            .description("The Prometheus that scrapes the dancu-bus processes")
        )
    )


def section(board: dashboard_builders.Dashboard, title: str, panels: Sequence[Panel]) -> None:
    """A row titled ``title`` on ``board``, then ``panels`` under it, left to right and top to bottom."""
    board.with_row(dashboard_builders.Row(title))
    for panel in panels:
        board.with_panel(panel)


def timeseries_panel(
    title: str, description: str, unit: str, queries: Sequence[Query], steps: Sequence[Step] = ()
) -> timeseries.Panel:
    """A graph of ``queries`` over time, half the width of the dashboard; ``steps`` draw dashed lines."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .span(12)
        .height(8)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if steps:
        panel = panel.thresholds(_thresholds(steps)).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED)
        )
    return panel.targets([_target(index, query) for index, query in enumerate(queries)])


def latency(title: str, description: str, bucket: str, selector: str = "", by: str = "") -> timeseries.Panel:
    """p50 and p99 of a latency histogram (``bucket``: its ``_bucket`` series), with the SLO's lines;
    ``by`` a label to draw one line per value of."""
    legend = f"{{{{{by}}}}} " if by else ""
    queries = [Query(quantile(q, bucket, selector, by), f"{legend}p{round(q * 100)}") for q in (0.5, 0.99)]
    return timeseries_panel(title, description, SECONDS, queries, LATENCY_STEPS)


def distribution(title: str, description: str, bucket: str, unit: str) -> timeseries.Panel:
    """p50 and p99 of a histogram (``bucket``: its ``_bucket`` series) with no threshold of its own."""
    queries = [Query(quantile(q, bucket), f"p{round(q * 100)}") for q in (0.5, 0.99)]
    return timeseries_panel(title, description, unit, queries)


def rates_by(title: str, description: str, counter: str, label: str, selector: str = "") -> timeseries.Panel:
    """The rate of ``counter`` (events per second) per value of its ``label``; one line at 0 while no
    such event happened yet (a labelled counter has no series before its first), not "No data"."""
    query = Query(f"sum by ({label}) ({rate(counter, selector)}) or on() vector(0)", f"{{{{{label}}}}}")
    return timeseries_panel(title, description, EVENTS_PER_SECOND, [query])


def stat_panel(
    title: str, description: str, unit: str, query: Query, steps: Sequence[Step] = ()
) -> stat.Panel:
    """The last value of each series of ``query``, a quarter of the dashboard's width, colored by
    ``steps``."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(6)
        .height(5)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .targets([_target(0, query)])
    )
    return panel.thresholds(_thresholds(steps or (Step(None, "green"),)))


def states(title: str, description: str, query: Query, names: Sequence[tuple[int, str, str]]) -> stat.Panel:
    """A 0/1 gauge of each series of ``query`` shown as words: ``names`` is (value, text, color)."""
    options = {str(value): model.ValueMappingResult(text=text, color=color) for value, text, color in names}
    return (
        stat_panel(title, description, COUNT, query)
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .mappings([model.ValueMap(options)])
    )


def numbered(built: model.Dashboard) -> model.Dashboard:
    """``built`` with its panels numbered in layout order: Grafana needs an id per panel (links and
    the panel editor use it), the builders leave them 0."""
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number
    return built


def quantile(q: float, bucket: str, selector: str = "", by: str = "") -> str:
    """``histogram_quantile`` over the rate of ``bucket``, summed over every label but ``le`` and ``by``."""
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) ({rate(bucket, selector)}))"


def _target(index: int, query: Query) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(query.expr)
        .legend_format(query.legend)
        .ref_id(_REF_IDS[index])
        .datasource(DATASOURCE)
    )


def _thresholds(steps: Sequence[Step]) -> dashboard_builders.ThresholdsConfig:
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=step.value, color=step.color) for step in steps])
    )
