"""Makes the SQLite population store unavailable for a while, for real, from another process.

The store runs in WAL mode, where readers never wait for writers: no transaction of another
connection can stop them. What every reader does need is a shared lock on one of the read-mark bytes
of the WAL index (``<db>-shm``, bytes 120–127 with the write, checkpoint and recovery locks, as
SQLite's unix VFS places them). A process holding all of those bytes exclusively leaves readers
spinning inside SQLite (for about 10 s, then SQLITE_PROTOCOL). The store gives up on a read after
its read timeout (2 s) with a retriable StoreError, so the resolver backs off and retries, and the
batch waits until the locks are released. POSIX locks belong to a process, which is why the
locks are held by a child process: the harness's own store connections would not notice them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dancu_bus.errors import ConfigError

__all__ = ["lock_store"]

_LOCKER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 8, 120, 0)  # waits for readers in progress, then keeps all out
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def lock_store(database: Path, seconds: float) -> subprocess.Popen[str]:
    """Lock every reader out of the SQLite ``database`` for ``seconds`` from now: ``with`` it and wait()."""
    shm = Path(f"{database}-shm")
    if not shm.exists():
        raise ConfigError(f"{shm} does not exist: the store is not open in WAL mode")
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(shm), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout is not None
    if locker.stdout.readline().strip() != "locked":
        with locker:
            locker.kill()
        raise ConfigError(f"could not lock {shm}")
    return locker
