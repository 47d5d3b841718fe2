"""A store emptied or replaced under a running resolver: not ready, requests wait, never NOT_FOUND."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dancu_bus.sdk import Client, ClientConfig, VerifyAnswer, VerifyQuery
from dancu_bus.settings import KafkaSettings
from dancu_bus.store import SqliteStore
from tests.contexts import KYC
from tests.integration.exchange_env import Deployment, running_deployment
from tests.keys import sdk_keys

pytestmark = pytest.mark.timeout(300)

UNKNOWN = "001199999999"  # a valid personal id nobody in the seeded store has


@pytest.fixture
def deployment(kafka_settings: KafkaSettings, tmp_path: Path) -> Iterator[Deployment]:
    """A running deployment of its own: these tests break its store."""
    with running_deployment(kafka_settings, tmp_path) as running:
        yield running


def _readiness(deployment: Deployment) -> str:
    url = f"http://127.0.0.1:{deployment.settings.resolver.metrics_port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=5) as ready:
            return str(ready.read().decode())
    except urllib.error.HTTPError as refused:
        return str(refused.read().decode())
    except urllib.error.URLError as exc:
        return f"not listening: {exc}"


def _until(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def _ask_meanwhile(
    deployment: Deployment, personal_id: str | None = None
) -> tuple[threading.Thread, list[VerifyAnswer]]:
    """A VERIFY (of a person on record unless ``personal_id``), sent from another thread; its answer."""
    person = deployment.people[7]
    query = VerifyQuery(personal_id or person.personal_id, person.full_name)
    answers: list[VerifyAnswer] = []

    def ask() -> None:
        kafka = deployment.settings.kafka
        with Client(
            ClientConfig("demo-bank", kafka, timeout_s=120, answer_keys=sdk_keys("demo-bank")),
            deployment.codec,
        ) as bank:
            answers.append(bank.verify(query, KYC))

    thread = threading.Thread(target=ask)
    thread.start()
    return thread, answers


def test_an_emptied_store_is_not_ready_and_its_requests_wait_for_the_citizens(deployment: Deployment) -> None:
    """Every citizen deleted behind the resolver's back: /readyz says so, a VERIFY waits, then matches."""
    _until(lambda: _readiness(deployment) == "ready\n", "the resolver never became ready")
    path = deployment.settings.store.path
    saved = path.with_suffix(".saved")
    with sqlite3.connect(path) as db:
        db.execute(f"VACUUM INTO '{saved}'")
        db.execute("DELETE FROM citizens")
    _until(lambda: "holds no citizens" in _readiness(deployment), "an emptied store was still ready")
    thread, answers = _ask_meanwhile(deployment)
    time.sleep(5)
    assert not answers  # waiting: not NOT_FOUND
    with sqlite3.connect(path) as db:
        db.execute(f"ATTACH '{saved}' AS saved")
        db.execute("INSERT INTO citizens SELECT * FROM saved.citizens")
    thread.join(120)
    assert [a.verdict.value if a.verdict else None for a in answers] == ["MATCH"]
    _until(lambda: _readiness(deployment) == "ready\n", "the refilled store never became ready again")


def test_a_replaced_store_file_is_not_ready_and_answers_no_not_found(deployment: Deployment) -> None:
    """The file deleted and an empty store made at its path: not ready; who is on record is still answered
    from the store the resolver opened, and a NOT_FOUND waits until the right store is back."""
    _until(lambda: _readiness(deployment) == "ready\n", "the resolver never became ready")
    path = deployment.settings.store.path
    saved = path.with_suffix(".saved")
    with sqlite3.connect(path) as db:
        db.execute(f"VACUUM INTO '{saved}'")
    _remove(path)
    _create_empty_store(path)
    _until(lambda: "was replaced by store" in _readiness(deployment), "a replaced store was still ready")
    known, known_answers = _ask_meanwhile(deployment)
    known.join(120)  # alone in its batch: a NOT_FOUND in the same batch would make it wait too
    unknown, unknown_answers = _ask_meanwhile(deployment, UNKNOWN)
    time.sleep(5)
    assert [a.verdict.value if a.verdict else None for a in known_answers] == ["MATCH"]
    assert not unknown_answers  # waiting: the store it would say NOT_FOUND from is not the one it opened
    _remove(path)
    shutil.copyfile(saved, path)  # the same store again (its identity), in another file
    unknown.join(120)
    assert [a.verdict.value if a.verdict else None for a in unknown_answers] == ["NOT_FOUND"]


def _remove(path: Path) -> None:
    """Delete an SQLite database as ``rm`` would: the file and its WAL files."""
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)


def _create_empty_store(path: Path) -> None:
    """An empty store of another identity at ``path``, as a routine restart used to make."""

    async def create() -> None:
        async with SqliteStore(path, create=True):
            pass

    asyncio.run(create())
