"""The hostile battery's table: per probe, what came back, whether others were served, whether audited."""

from __future__ import annotations

from collections.abc import Sequence

from dancu_bus.hostile.battery import ProbeResult

__all__ = ["describe_result", "describe_results"]

_HEADER = ("probe", "answers", "others served (p99 / max ms)", "audited", "result")


def describe_result(result: ProbeResult) -> tuple[str, str, str, str, str]:
    """One row of the table."""
    answers = []
    for outcome in result.outcomes:
        if outcome.dead_letter is not None:
            answers.append(f"DLQ {outcome.dead_letter.error_code}")
        elif outcome.response is not None:
            verdict = outcome.response.verify.verdict.value if outcome.response.verify else None
            answers.append(outcome.response.reason_code or verdict or "OK")
        else:
            answers.append("-")
    shown = ", ".join(dict.fromkeys(answers)) if len(answers) > 3 else ", ".join(answers)
    audited = sum(o.audit is not None for o in result.outcomes)
    others = result.others
    served = (
        f"{others.requests - others.failed}/{others.requests} ({others.p99_ms:.0f} / {others.max_ms:.0f})"
    )
    verdict = "ok" if result.passed else "FAILED: " + "; ".join(result.failures[:3] or ["others not served"])
    return result.probe.name, shown, served, f"{audited}/{len(result.outcomes)}", verdict


def describe_results(results: Sequence[ProbeResult]) -> str:
    """The whole table, aligned, with a last line saying how many probes failed."""
    rows = [_HEADER, *(describe_result(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]
    failed = [r.probe.name for r in results if not r.passed]
    bound = results[0].bound_ms if results else 0.0
    summary = f"{len(results)} probes, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else "")
    return "\n".join([*lines, f"{summary} (others' bound: {bound:.0f} ms)"])
