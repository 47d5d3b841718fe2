"""A dancu-bus deployment for one benchmark run: unique topics, agencies, catalogues, a resolver process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from dancu_bus.admin import delete_topics, describe
from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.admin.catalogues import load_catalogues
from dancu_bus.admin.topics import apply_topics
from dancu_bus.agencies import Agency, Quota, load_directory
from dancu_bus.catalogues import load_entries
from dancu_bus.codec import Codec, load_schemas
from dancu_bus.demo.keys import sample_keys, with_keys
from dancu_bus.dev import repo_root
from dancu_bus.operations import OPERATIONS
from dancu_bus.registry import RegistryCodec
from dancu_bus.settings import KafkaSettings

__all__ = [
    "AGENCIES_FILE",
    "BENCH_KEYS",
    "ResolverProcess",
    "bench_agencies",
    "bench_topics",
    "resolver_process",
]

AGENCIES_FILE = repo_root() / "deploy" / "agencies.yaml"
# A bulk run is not a quota test: each agency may ask as much as the run sends.
_UNLIMITED = Quota(per_second=10_000_000, per_day=10_000_000_000)
# The sample agencies' answer keys (LOOKUP answers are sealed to them), made once and reused.
BENCH_KEYS = sample_keys(
    load_directory(AGENCIES_FILE).agencies(), repo_root() / ".cache" / "bench" / "keys", date.today()
)


def bench_agencies() -> list[Agency]:
    """The sample agencies, unlimited, each asking for personal data with its answer key registered."""
    agencies = with_keys(load_directory(AGENCIES_FILE).agencies(), BENCH_KEYS)
    return [a.model_copy(update={"quota": _UNLIMITED}) for a in agencies]


@contextmanager
def bench_topics(kafka: KafkaSettings, baseline: tuple[str, str], partitions: int) -> Iterator[None]:
    """The deployment's topics, registry and catalogues under ``kafka.topic_prefix``, deleted afterwards."""
    try:
        _create_baseline_topics(kafka.bootstrap_servers, baseline, partitions)
        agencies = bench_agencies()
        apply_topics(kafka, [a.id for a in agencies], replication_factor=1)
        schemas = load_schemas(OPERATIONS)
        load_catalogues(kafka, Codec(schemas), load_entries())
        AgencyAdmin(kafka, RegistryCodec(schemas)).import_agencies(agencies, by="bench")
        yield
    finally:
        delete_topics(kafka, describe(kafka, kafka.topic_prefix + "."))
        _delete_groups(kafka.bootstrap_servers, kafka.topic_prefix)


def _delete_groups(bootstrap: str, prefix: str) -> None:
    """Delete the consumer groups the run's resolver left (their topics are gone already)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups().result(30)
    ours = [g.group_id for g in listed.valid if g.group_id.startswith(prefix + ".")]
    for future in admin.delete_consumer_groups(ours).values() if ours else ():
        try:
            future.result(30)
        except KafkaException as exc:  # a group still shutting down: the broker expires it later
            print(f"bench: consumer group not deleted: {exc}", file=sys.stderr)


def _create_baseline_topics(bootstrap: str, names: tuple[str, str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
    )
    for future in futures.values():
        future.result(30)


@dataclass
class ResolverProcess:
    """A running ``dancu-bus resolver``: its pid and health port."""

    process: subprocess.Popen[bytes]
    metrics_port: int

    def peak_rss_mb(self) -> float:
        """The process's peak resident set size (VmHWM) so far, in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        """User and system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metric(self, name: str) -> float:
        """The sum of a metric's samples on /metrics (e.g. a histogram's ``_count``)."""
        text = _get(f"http://127.0.0.1:{self.metrics_port}/metrics")[1]
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


@dataclass
class ResolverProcesses:
    """Several resolvers of one group, measured together."""

    processes: list[ResolverProcess]

    def peak_rss_mb(self) -> float:
        """The largest peak resident set size among them, in MiB."""
        return max(p.peak_rss_mb() for p in self.processes)

    def cpu_seconds(self) -> float:
        """CPU time they have used so far, together."""
        return sum(p.cpu_seconds() for p in self.processes)

    def metric(self, name: str) -> float:
        """A metric summed over them."""
        return sum(p.metric(name) for p in self.processes)


@contextmanager
def resolver_processes(env: dict[str, str], count: int, profile: Path | None) -> Iterator[ResolverProcesses]:
    """``count`` resolvers of one group, each with its own name (transactional id), all ready."""
    with ExitStack() as stack:
        started = [
            stack.enter_context(
                resolver_process(
                    {**env, "DANCU_RESOLVER__INSTANCE": f"bench-{n}"}, profile if n == 1 else None
                )
            )
            for n in range(1, count + 1)
        ]
        yield ResolverProcesses(started)


@contextmanager
def resolver_process(env: dict[str, str], profile: Path | None) -> Iterator[ResolverProcess]:
    """``dancu-bus resolver`` in a process of its own (under pyinstrument when ``profile``), once ready."""
    port = _free_port()
    settings = {**os.environ, **env, "DANCU_RESOLVER__METRICS_PORT": str(port), "DANCU_LOG_LEVEL": "WARNING"}
    program = ["-m", "dancu_bus.cli.main", "resolver"]
    session = profile.with_suffix(".pyisession") if profile is not None else None
    if session is not None:
        program = ["-m", "pyinstrument", "-i", "0.001", "-r", "session", "-o", str(session), *program]
    process = subprocess.Popen([_python(), *program], env=settings)
    resolver = ResolverProcess(process, port)
    try:
        _await_ready(resolver)
        yield resolver
    finally:
        _stop(process)
        if session is not None:
            _render(session)


def _render(session: Path) -> None:
    """The saved profile as text and HTML beside it."""
    for renderer, suffix in (("text", ".txt"), ("html", ".html")):
        load = [
            "-m",
            "pyinstrument",
            "--load",
            str(session),
            "-r",
            renderer,
            "-o",
            str(session.with_suffix(suffix)),
        ]
        subprocess.run([_python(), *load], check=False)


def _python() -> str:
    return sys.executable  # the interpreter running the benchmark has dancu-bus installed


def _await_ready(resolver: ResolverProcess, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if resolver.process.poll() is not None:
            raise RuntimeError(f"the resolver exited with {resolver.process.returncode}")
        try:
            if _get(f"http://127.0.0.1:{resolver.metrics_port}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the resolver was not ready within {timeout_s:g} s")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the resolver drains and commits (and pyinstrument writes its profile); SIGKILL if stuck."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
