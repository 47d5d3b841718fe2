"""A PostgreSQL cluster the benchmarks own: its data kept under .cache/bench, its server run per benchmark.

Like ``tests/postgres_fixture.py`` it uses Debian's binaries and, as root, runs them as the ``postgres``
OS user; unlike it, the data folder stays so that a seeded population is reused by the next run.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

__all__ = ["BenchCluster", "find_binaries"]

_OWNER = "postgres"
# Durability is worthless for a benchmark's cache; the rest keeps memory near a small production box.
_SERVER_SETTINGS = """\
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{home}'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
"""


def find_binaries() -> Path | None:
    """The bin folder of the newest Debian PostgreSQL, or None."""
    found = [
        p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parent.parent.name.isdigit()
    ]
    return max(found, key=lambda b: int(b.parent.name)) if found else None


@dataclass(frozen=True)
class BenchCluster:
    """A cluster whose data folder lives in ``home``; ``start`` and ``stop`` run its server."""

    binaries: Path
    home: Path
    port: int

    @classmethod
    def at(cls, binaries: Path, home: Path) -> BenchCluster:
        """The cluster of ``home`` on a free port, initialised if it is new."""
        cluster = cls(binaries, home, _free_port())
        if not (home / "data" / "PG_VERSION").exists():
            cluster._initialise()
        return cluster

    @property
    def dsn(self) -> str:
        """The superuser's DSN over TCP."""
        password = (self.home / "password").read_text().strip()
        return f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server on this cluster's port; return once it accepts connections."""
        self._run(
            "pg_ctl", "-D", "data", "-l", "postgres.log", "-w", "-t", "120", "-o", f"-p {self.port}", "start"
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown) if it runs."""
        if (self.home / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", "data", "-m", "fast", "-w", "-t", "120", "stop")

    def remove(self) -> None:
        """Stop the server and delete the cluster's folder."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def _initialise(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        _own(self.home)
        password = self.home / "password"
        password.write_text(secrets.token_urlsafe(24))
        _own(password)
        self._run(
            "initdb", "-D", "data", "-U", "postgres", f"--pwfile={password}", "-E", "UTF8", "--no-locale",
            "--auth-local=peer", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions",
        )  # fmt: skip
        with (self.home / "data" / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(_SERVER_SETTINGS.format(port=self.port, home=self.home))

    def _run(self, program: str, *args: str) -> None:
        command = [*_as_owner(), str(self.binaries / program), *args]
        done = subprocess.run(
            command, cwd=self.home, capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr.strip()}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_owner() -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", _OWNER, "--"] if os.geteuid() == 0 else []


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        owner = pwd.getpwnam(_OWNER)
        os.chown(path, owner.pw_uid, owner.pw_gid)
