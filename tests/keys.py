"""Answer keys of the sample agencies for tests: made once into ``.cache/test-keys``, reused by every run.

Agencies that ask for personal data are answered only with a registered key; tests register these,
and open answers with their private halves as an agency would.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from dancu_bus.agencies import Agency, FileAgencyDirectory, load_directory
from dancu_bus.demo.keys import SampleKey, operator_keys, sample_keys, with_keys
from dancu_bus.dev import repo_root
from dancu_bus.keys import PrivateKeys, read_public_key

__all__ = [
    "AGENCIES_FILE",
    "OPERATOR_KEY",
    "OPERATOR_KEYS",
    "OPERATOR_KEYS_FILE",
    "OPERATOR_KEY_FILE",
    "SAMPLE_KEYS",
    "keyed",
    "sample_agencies",
    "sample_directory",
    "sdk_keys",
]

AGENCIES_FILE = repo_root() / "deploy" / "agencies.yaml"
_FOLDER = repo_root() / ".cache" / "test-keys"
SAMPLE_KEYS: dict[str, SampleKey] = sample_keys(
    load_directory(AGENCIES_FILE).agencies(), _FOLDER, date(2026, 11, 1)
)
# The platform operators' key, which dead letters are sealed to: its public file (the services'
# DANCU_DEAD_LETTERS__OPERATOR_KEY) and its private half (what an operator opens them with).
OPERATOR_KEY_FILE, OPERATOR_KEYS_FILE = operator_keys(_FOLDER)
OPERATOR_KEY = read_public_key(OPERATOR_KEY_FILE)
OPERATOR_KEYS = PrivateKeys.from_file(OPERATOR_KEYS_FILE)


def sample_agencies() -> list[Agency]:
    """The agencies of ``deploy/agencies.yaml``, each asking for personal data with its answer key."""
    return with_keys(load_directory(AGENCIES_FILE).agencies(), SAMPLE_KEYS)


def sample_directory() -> FileAgencyDirectory:
    """``sample_agencies`` as a directory."""
    return FileAgencyDirectory({a.id: a for a in sample_agencies()})


def keyed(agency: Agency) -> Agency:
    """An ad hoc agency with the answer key of the sample agency of the same id (demo-bank's by default)."""
    key = SAMPLE_KEYS.get(agency.id, SAMPLE_KEYS["demo-bank"])
    return agency.model_copy(update={"answer_keys": (key.public,)})


def sdk_keys(agency: str) -> Path | None:
    """The file of ``agency``'s private answer keys (``DANCU_SDK__ANSWER_KEYS``); None if it needs none."""
    key = SAMPLE_KEYS.get(agency)
    return key.private_file if key is not None else None
