"""The benchmark's table and its one-line JSON summary."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from typing import Any

from cpu import CpuUse
from timing import Outcome
from workloads import SdkRun

__all__ = ["Report", "Resolver", "print_report"]


@dataclass(frozen=True)
class Resolver:
    """What the resolver process used: peak resident memory and how many batches it handled."""

    peak_rss_mb: float
    batches: float


@dataclass(frozen=True)
class Report:
    """Both round trips of one run, what the resolver process used, and the CPU of each run."""

    workload: str
    title: str
    store: str
    citizens: int
    baseline: Outcome
    e2e: SdkRun
    resolver: Resolver
    cpu: tuple[CpuUse, CpuUse]  # during the baseline, during the dancu-bus run
    resolvers: int = 1  # resolver processes sharing the work

    def summary(self) -> dict[str, Any]:
        """The JSON summary: throughputs, their ratio, latencies, store, size, resolver memory, CPU."""
        e2e, bare = self.e2e.outcome, self.baseline
        return {
            "workload": self.workload,
            "store": self.store,
            "citizens": self.citizens,
            "resolvers": self.resolvers,
            "n": e2e.n,
            "baseline_rps": round(bare.rps),
            "e2e_rps": round(e2e.rps),
            "ratio": round(e2e.rps / bare.rps, 3) if bare.rps else 0.0,
            "p50_ms": round(e2e.ms(50), 2),
            "p95_ms": round(e2e.ms(95), 2),
            "p99_ms": round(e2e.ms(99), 2),
            "baseline_p50_ms": round(bare.ms(50), 2),
            "baseline_p95_ms": round(bare.ms(95), 2),
            "baseline_p99_ms": round(bare.ms(99), 2),
            "resolver_peak_rss_mb": round(self.resolver.peak_rss_mb, 1),
            "resolver_mean_batch": round(e2e.n / self.resolver.batches, 1) if self.resolver.batches else 0.0,
            "answered": len(e2e.latencies_ms),
            "answers": dict(sorted(self.e2e.answers.items())),
            **self._cores(),
            "python": platform.python_version(),
        }

    def _cores(self) -> dict[str, float]:
        """Cores busy during each run: this process, the resolver, the rest (broker, echo, anyone else)."""
        bare, e2e = self.cpu
        n = max(self.e2e.outcome.n, 1)
        return {
            "baseline_cores_client": round(bare.cores_used(bare.sdk), 2),
            "baseline_cores_rest": round(bare.cores_used(bare.machine - bare.sdk), 2),
            "e2e_cores_sdk": round(e2e.cores_used(e2e.sdk), 2),
            "e2e_cores_resolver": round(e2e.cores_used(e2e.resolver), 2),
            "e2e_cores_rest": round(e2e.cores_used(e2e.machine - e2e.sdk - e2e.resolver), 2),
            "sdk_cpu_us_per_request": round(e2e.sdk / n * 1e6, 1),
            "resolver_cpu_us_per_request": round(e2e.resolver / n * 1e6, 1),
        }


def print_report(report: Report) -> None:
    """The table, then the JSON summary as the last line."""
    s = report.summary()
    print(f"\n{report.title} — {report.store}, {report.citizens:,} citizens, {s['n']:,} requests")
    rows = [
        ("", "bare Kafka", "dancu-bus", "ratio"),
        ("requests/s", f"{s['baseline_rps']:,}", f"{s['e2e_rps']:,}", f"{s['ratio']:.2f}"),
        *((f"p{q} ms", f"{s[f'baseline_p{q}_ms']:.1f}", f"{s[f'p{q}_ms']:.1f}", "") for q in (50, 95, 99)),
        ("answered", f"{len(report.baseline.latencies_ms):,}", f"{s['answered']:,}", ""),
        ("resolver peak RSS", "", f"{s['resolver_peak_rss_mb']:.0f} MiB", ""),
        ("resolver mean batch", "", f"{s['resolver_mean_batch']:.0f}", ""),
        ("cores: client / SDK", f"{s['baseline_cores_client']:.2f}", f"{s['e2e_cores_sdk']:.2f}", ""),
        ("cores: resolver", "", f"{s['e2e_cores_resolver']:.2f}", ""),
        ("cores: all the rest", f"{s['baseline_cores_rest']:.2f}", f"{s['e2e_cores_rest']:.2f}", ""),
        ("CPU µs/request: SDK", "", f"{s['sdk_cpu_us_per_request']:.0f}", ""),
        ("CPU µs/request: resolver", "", f"{s['resolver_cpu_us_per_request']:.0f}", ""),
    ]
    for row in rows:
        print(f"  {row[0]:<22}{row[1]:>14}{row[2]:>14}{row[3]:>8}")
    print("  answers: " + ", ".join(f"{k} {v:,}" for k, v in s["answers"].items()))
    print(json.dumps(s, ensure_ascii=False))
