"""One SQLite connection, used from one worker thread of its own (the population store, the audit index).

sqlite3 blocks, so every call runs on a dedicated single-thread executor: the event loop never waits
on the disk and the connection never changes threads. sqlite3 errors come out as StoreError, retriable
when the database is only busy, locked or not reachable now.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

from dancu_bus.errors import StoreError

__all__ = ["SqliteThread", "primary_code", "store_error"]

P = ParamSpec("P")
R = TypeVar("R")

# PROTOCOL: another process held the WAL-index locks longer than SQLite's own retries (about 10 s).
_RETRIABLE_CODES = frozenset(
    {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL}
)
_RETRIABLE_TEXT = ("database is locked", "busy", "unable to open", "locking protocol")


class SqliteThread:
    """The thread a connection lives on: ``start``, ``run`` calls on it, ``stop``."""

    def __init__(self, thread_name: str, what: str) -> None:
        self._thread_name = thread_name
        self._what = what  # names the database in errors: "sqlite", "sqlite audit index"
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start the worker thread."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._thread_name)

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``fn(*args, **kwargs)`` on the worker thread; a sqlite3 error as StoreError."""
        if self._executor is None:
            raise RuntimeError(f"the {self._what} is used outside `async with`")
        call = partial(_translated, self._what, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def stop(self) -> None:
        """Stop the worker thread once its calls are done."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def store_error(exc: sqlite3.Error, what: str = "sqlite") -> StoreError:
    """A StoreError that is retriable when the database is only busy, locked or not reachable now."""
    text = str(exc)
    primary = primary_code(exc)
    retriable = primary in _RETRIABLE_CODES or any(part in text for part in _RETRIABLE_TEXT)
    return StoreError(f"{what}: {text}", retriable=retriable)


def _translated(what: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call ``fn`` (on the worker thread), turning sqlite3 errors into StoreError."""
    try:
        return fn(*args, **kwargs)
    except sqlite3.Error as exc:
        raise store_error(exc, what) from exc


def primary_code(exc: sqlite3.Error) -> int | None:
    """The primary result code of an sqlite3 error (the low byte of its extended code), if it has one."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None
