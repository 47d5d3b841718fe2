"""The status as rich tables: one row per process, then the bus's traffic, lag and audit backlog."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dancu_bus.status.model import ProcessStatus, Status

__all__ = ["render"]

UNKNOWN = "–"
# deploy/prometheus's latency thresholds: 0.25 s warns, the SLO is 99 % within 1 s.
_P99_WARN_S = 0.25
_P99_SLO_S = 1.0


def render(status: Status, heading: str) -> RenderableType:
    """The whole screen: ``heading``, the processes and why any is not ready, then the bus."""
    parts: list[RenderableType] = [Text(heading, style="bold")]
    if status.processes:
        parts.append(_processes(status))
    # Reasons under the table, one line each: they name an address and a setting, too long for a cell.
    parts.extend(Text(_why(p), style="red") for p in status.processes if p.reason)
    if status.problem is not None:
        parts.append(Text(status.problem, style="bold red"))
    parts.append(_bus(status))
    return Group(*parts)


def _processes(status: Status) -> Table:
    table = Table(expand=False)
    for column in ("process", "address", "ready", "version", "commit"):
        table.add_column(column, overflow="fold")
    for process in status.processes:
        table.add_row(
            str(process.service),
            process.address,
            _readiness(process),
            process.version or UNKNOWN,
            process.commit or UNKNOWN,
        )
    return table


def _why(process: ProcessStatus) -> str:
    """The reason, after the process it is of (its address, unless the reason names it already)."""
    reason = process.reason or ""
    where = process.service if process.address in reason else f"{process.service} {process.address}"
    return f"{where}: {reason}"


def _readiness(process: ProcessStatus) -> Text:
    if not process.reachable:
        return Text("down", style="bold red")
    return Text("ready", style="green") if process.ready else Text("not ready", style="bold red")


def _bus(status: Status) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    traffic = status.traffic
    over = f" (over {traffic.window_seconds:.1f} s)" if traffic.window_seconds else ""
    table.add_row("requests" + over, _value(traffic.requests_per_second, "{:.1f} req/s"))
    table.add_row("platform errors", _value(traffic.error_ratio, "{:.2%}", warn_above=0.0))
    table.add_row("p99 end to end", _latency(status))
    for group, lag in status.lag.items():
        records = _value(lag.records, "{:,.0f} records")
        table.add_row(f"lag {group}", Text.assemble(records, ", ", _value(lag.seconds, "{:.1f} s")))
    backlog = status.audit_backlog
    table.add_row(
        "audit backlog",
        Text.assemble(
            _value(backlog.exchanges, "{:,.0f} exchanges", warn_above=0.0),
            ", oldest ",
            _value(backlog.oldest_seconds, "{:.1f} s"),
        ),
    )
    return table


def _value(value: float | None, form: str, warn_above: float | None = None) -> Text:
    if value is None:
        return Text(UNKNOWN, style="dim")
    style = "yellow" if warn_above is not None and value > warn_above else ""
    return Text(form.format(value), style=style)


def _latency(status: Status) -> Text:
    seconds = status.traffic.p99_end_to_end_seconds
    if seconds is None:
        unread = "no resolver read twice yet" if status.source == "metrics" else "no resolver up"
        why = unread if status.traffic.window_seconds is None else "no request in the window"
        return Text(f"{UNKNOWN} ({why})", style="dim")
    style = "red" if seconds > _P99_SLO_S else "yellow" if seconds > _P99_WARN_S else "green"
    return Text(f"{seconds:.3f} s", style=style)
