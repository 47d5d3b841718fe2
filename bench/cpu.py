"""Where the machine's CPU went during a measured phase: this process, the resolver, everything else."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

__all__ = ["CpuUse", "machine_busy_seconds"]


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        jiffies = [int(v) for v in stat.readline().split()[1:]]
    idle = jiffies[3] + jiffies[4]  # idle and iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(jiffies) - idle) / tick, sum(jiffies) / tick


@dataclass
class CpuUse:
    """CPU seconds used during a phase, as a share of one core each (1.0 = one core busy throughout)."""

    wall: float = 0.0
    sdk: float = 0.0
    resolver: float = 0.0
    machine: float = 0.0
    cores: int = os.cpu_count() or 1

    def cores_used(self, seconds: float) -> float:
        """CPU seconds as cores busy over the phase."""
        return seconds / self.wall if self.wall else 0.0


class CpuMeter:
    """Measures a phase: start, then stop with the resolver's CPU seconds at both ends."""

    def __init__(self, resolver_before: float) -> None:
        self._wall = time.perf_counter()
        self._own = _own_seconds()
        self._resolver = resolver_before
        self._machine = machine_busy_seconds()[0]

    def stop(self, resolver_after: float) -> CpuUse:
        """The phase's CPU use."""
        return CpuUse(
            wall=time.perf_counter() - self._wall,
            sdk=_own_seconds() - self._own,
            resolver=resolver_after - self._resolver,
            machine=machine_busy_seconds()[0] - self._machine,
        )


def _own_seconds() -> float:
    times = os.times()
    return times.user + times.system
