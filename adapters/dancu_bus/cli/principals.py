"""``dancu-bus principals ensure``: the platform services' own SCRAM users and ACLs, run as the super user.

Each service runs as its own principal with only the ACLs its job needs (``dancu_bus.access``):
``dancu-resolver``, ``dancu-audit`` and ``dancu-registry``. Their passwords live in files readable
by their owner only (``--secrets``); a file already there is kept and applied again, so the command
is idempotent and the services' logins survive it.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr

from dancu_bus.access import PLATFORM_PRINCIPALS, platform_ids
from dancu_bus.admin.security import ensure_platform_principals
from dancu_bus.errors import ConfigError
from dancu_bus.secret_files import read_secret, write_private
from dancu_bus.settings import Settings
from dancu_bus.topic_names import TopicNames

__all__ = ["register", "run_ensure", "secret_file"]

_SECRET_BYTES = 32


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``principals ensure``."""
    principals = commands.add_parser("principals", help="the platform services' own users and ACLs")
    verbs = principals.add_subparsers(dest="principals_command", required=True)
    ensure = verbs.add_parser(
        "ensure",
        help="create or align dancu-resolver, dancu-audit and dancu-registry and their ACLs (as super user)",
    )
    ensure.add_argument(
        "--secrets",
        type=Path,
        default=Path("secrets"),
        help="folder of <user>.password files (created 0700; each file 0600); default ./secrets",
    )
    ensure.set_defaults(run=lambda args, settings: run_ensure(args, settings, sys.stdout))


def secret_file(folder: Path, user: str) -> Path:
    """Where ``user``'s password is kept."""
    return folder / f"{user}.password"


def run_ensure(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Ensure the users and ACLs; say where each password is and how a service uses it."""
    passwords = {user: _password(args.secrets, user) for user in PLATFORM_PRINCIPALS}
    names = TopicNames(settings.kafka.topic_prefix)
    ensure_platform_principals(settings.kafka, names, passwords, platform_ids(settings))
    for user in PLATFORM_PRINCIPALS:
        where = secret_file(args.secrets, user)
        print(
            f"{user}: ready; run as DANCU_KAFKA__USERNAME={user} DANCU_KAFKA__PASSWORD_FILE={where}", file=out
        )
    return 0


def _password(folder: Path, user: str) -> SecretStr:
    """The password kept for ``user``, or a new one written to its file first."""
    path = secret_file(folder, user)
    if path.exists():
        try:
            return read_secret(path)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = secrets.token_urlsafe(_SECRET_BYTES)
    write_private(path, password + "\n")
    return SecretStr(password)
