"""Files that hold secrets (passwords, private keys): their owner's only, checked on every read.

A secret is passed to a process as the path of such a file, never on its command line, where every
user of the machine can read it (``ps``), nor printed.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

__all__ = ["check_private_file", "read_secret", "write_private"]


def check_private_file(path: Path, what: str = "secret file") -> None:
    """ValueError unless ``path`` is a file only its owner may read or write."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise ValueError(f"the {what} {path} may be read by others (mode {mode & 0o777:o}): chmod 600 {path}")


def read_secret(path: Path) -> SecretStr:
    """The secret in ``path`` (one line); ValueError when it is missing, empty or others may read it."""
    check_private_file(path)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read the secret file {path}: {exc.strerror}") from exc
    if not text:
        raise ValueError(f"the secret file {path} is empty")
    return SecretStr(text)


def write_private(path: Path, data: bytes | str, *, replace: bool = False) -> None:
    """Write ``data`` to a new file ``path`` readable by its owner only, with no moment when others could.

    FileExistsError when ``path`` exists, unless ``replace``: a secret is not overwritten by accident.
    """
    if replace:
        path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data.encode() if isinstance(data, str) else data)
