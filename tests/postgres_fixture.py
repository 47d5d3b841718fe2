"""A real PostgreSQL for the store's contract suite: a running server, or a cluster of the session's own.

``DANCU_TEST_POSTGRES_DSN=postgresql://user:password@host:port/db`` (a URI) points the tests at a
running server whose role may create databases. Otherwise the session creates a cluster with the Debian
binaries (``/usr/lib/postgresql/<version>/bin``) in ``.cache/test-postgres/run-*``, listening only on
127.0.0.1 on a free port with its unix socket in that folder, and stops and removes it at the end. A
cluster of its own per session lets several test runs share a work tree; clusters left behind by a
killed run are stopped and removed by the next run. As root, the cluster runs as the ``postgres`` OS
user, because PostgreSQL refuses to run as root. Without the binaries the postgres tests are skipped
locally and fail under ``CI=true``. Each test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import pytest

__all__ = ["postgres_dsn", "postgres_server"]

CLUSTERS = Path(__file__).resolve().parents[1] / ".cache" / "test-postgres"
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
_OWNER = "postgres"  # the OS user PostgreSQL runs as when the tests run as root
_SOCKET_PATH_MAX = 107  # sun_path of a unix socket, less its final NUL
# Durability is worthless for a throwaway cluster; skipping it makes the tests fast.
_SERVER_SETTINGS = """\
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def _give_up(reason: str) -> NoReturn:
    """Fail under CI, where the postgres tests must run; skip them elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the postgres tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The DSN of a superuser's maintenance database on a PostgreSQL server for this session."""
    external = os.environ.get("DANCU_TEST_POSTGRES_DSN")
    if external:
        yield external
        return
    binaries = find_binaries()
    if binaries is None:
        _give_up(
            "PostgreSQL binaries (initdb, pg_ctl) not found: `apt-get install -y postgresql`, "
            "or set DANCU_TEST_POSTGRES_DSN"
        )
    if not _owner_exists():
        _give_up(f"running as root, but there is no {_OWNER!r} OS user to run PostgreSQL as")
    cluster = LocalCluster.create(binaries)
    try:
        cluster.start()
    except (OSError, subprocess.SubprocessError) as exc:
        cluster.remove()
        _give_up(f"cannot start a PostgreSQL cluster for the tests: {exc}")
    try:
        yield cluster.dsn
    finally:
        cluster.remove()


@pytest.fixture
async def postgres_dsn(postgres_server: str) -> AsyncIterator[str]:
    """The DSN of a new, empty database on the test server, dropped after the test."""
    name = f"dancu_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(postgres_server)._replace(path=f"/{name}"))
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def find_binaries() -> Path | None:
    """The bin folder of the newest Debian PostgreSQL, else of the initdb on PATH, else None."""
    versions = [p.parent for p in DEBIAN_BINARIES.glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    if versions:
        return max(versions, key=lambda bin_dir: int(bin_dir.parent.name))
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


@dataclass(frozen=True)
class LocalCluster:
    """A throwaway cluster in a folder of its own: data, log, password file and unix socket."""

    binaries: Path
    home: Path
    port: int
    password: str

    @classmethod
    def create(cls, binaries: Path) -> LocalCluster:
        """Remove clusters of dead runs, then make a folder for a new one (not yet initialised)."""
        _remove_abandoned(binaries)
        home = _cluster_home()
        (home / "owner").write_text(str(os.getpid()))
        return cls(binaries, home, _free_port(), secrets.token_urlsafe(24))

    @property
    def dsn(self) -> str:
        """The superuser's DSN over TCP, to the maintenance database."""
        return f"postgresql://postgres:{quote(self.password, safe='')}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Initialise the data folder and start the server; return once it accepts connections."""
        password_file = self.home / "password"
        password_file.write_text(self.password)
        _own(password_file)
        self.run(
            "initdb", "-D", "data", "-U", "postgres", f"--pwfile={password_file}", "-E", "UTF8",
            "--no-locale", "--auth-local=peer", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions",
        )  # fmt: skip
        settings = _SERVER_SETTINGS.format(port=self.port, socket_dir=self.home)
        with (self.home / "data" / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(settings)
        self.run("pg_ctl", "-D", "data", "-l", "postgres.log", "-w", "-t", "60", "start")

    def remove(self) -> None:
        """Stop the server if it runs, then delete the folder."""
        _stop(self.binaries, self.home)
        shutil.rmtree(self.home, ignore_errors=True)

    def run(self, program: str, *args: str) -> None:
        """Run one PostgreSQL program in the cluster folder, as the cluster's owner; raise on failure."""
        command = [*_as_owner(), str(self.binaries / program), *args]
        done = subprocess.run(command, cwd=self.home, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.home / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise subprocess.SubprocessError(f"{program} failed: {done.stderr.strip()} {tail}".strip())


def _cluster_home() -> Path:
    """A new folder under .cache/test-postgres, or under the temp folder if the owner cannot reach it."""
    CLUSTERS.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="run-", dir=CLUSTERS))
    _own(home)
    if _owner_can_use(home) and len(str(home / ".s.PGSQL.65535")) <= _SOCKET_PATH_MAX:
        return home
    # A work tree under /root is closed to the postgres user, and a deep one makes the socket path too long.
    shutil.rmtree(home)
    home = Path(tempfile.mkdtemp(prefix="dancu-test-postgres-"))
    _own(home)
    return home


def _remove_abandoned(binaries: Path) -> None:
    """Stop and delete the clusters of test runs that no longer exist."""
    fallbacks = Path(tempfile.gettempdir()).glob("dancu-test-postgres-*")
    for home in [*CLUSTERS.glob("run-*"), *fallbacks]:
        owner = home / "owner"
        with contextlib.suppress(OSError, ValueError):
            if owner.is_file() and not _alive(int(owner.read_text())):
                _stop(binaries, home)
                shutil.rmtree(home, ignore_errors=True)


def _stop(binaries: Path, home: Path) -> None:
    """Stop the server of a cluster folder at once if it runs; quietly do nothing otherwise."""
    if not (home / "data" / "postmaster.pid").exists():
        return
    pg_ctl = str(binaries / "pg_ctl")
    command = [*_as_owner(), pg_ctl, "-D", str(home / "data"), "-m", "immediate", "-w", "stop"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):  # nothing useful to do if it fails
        subprocess.run(command, capture_output=True, timeout=60, check=False)


def _alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_owner() -> list[str]:
    """The command prefix that runs a program as the cluster's owner: the postgres user when root."""
    return ["runuser", "-u", _OWNER, "--"] if os.geteuid() == 0 else []


def _owner_exists() -> bool:
    """Whether the user the cluster must run as exists: anyone but root runs it as themselves."""
    if os.geteuid() != 0:
        return True
    try:
        pwd.getpwnam(_OWNER)
    except KeyError:
        return False
    return True


def _own(path: Path) -> None:
    """Give a path to the postgres user when running as root; initdb and postgres refuse root."""
    if os.geteuid() == 0:
        owner = pwd.getpwnam(_OWNER)
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _owner_can_use(folder: Path) -> bool:
    """Whether the cluster's owner can reach and write into ``folder``."""
    if os.geteuid() != 0:
        return True
    probe = subprocess.run([*_as_owner(), "test", "-w", str(folder)], capture_output=True, check=False)
    return probe.returncode == 0
