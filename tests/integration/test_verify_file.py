"""``dancu-bus verify-file`` on the real broker: a whole file, and a run killed halfway then resumed."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dancu_bus.cli.verify_file import COLUMNS
from dancu_bus.contracts import Citizen
from dancu_bus.operations import platform_codec
from dancu_bus.settings import KafkaSettings, kafka_environment
from dancu_bus.store import PopulationStore
from dancu_bus.testing import KafkaBus
from tests import bus_fixture
from tests.component.test_behaviour import eventually
from tests.contexts import KYC
from tests.integration.exchange_env import deployment_settings
from tests.keys import sample_directory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

population, people = bus_fixture.population, bus_fixture.people  # the fixtures, for this module
ROWS = 2000
HOSTILE = (
    ["", "Không Có Số", "", "", "", "", "", "", "", ""],  # no personal id
    ["001090000001", "Tên\nHai Dòng", "1990-13-45", "", "", "", "", "", "", ""],  # not a date
    ["001090000002", "Đ" * 300, "", "", "", "", "", "", "", ""],  # a cell too long
    ["001090000003", "Thiếu Ô"],  # too few cells
    ["\x00'; DROP TABLE citizens; --", "X\x00", "", "", "", "", "", "", "", ""],  # garbage id
    ["001090000004", "", "", "", "", "", "", "", "", ""],  # nothing to compare
    ["001090000005", "", "", "", "", "", "DVHC-2004", "01", "", ""],  # half an address
)
HEADER = [*COLUMNS, "customer_ref"]  # a column of the agency's own is carried through


@pytest.fixture
async def kafka_bus(
    secure_kafka: KafkaSettings, tmp_path: Path, population: PopulationStore
) -> AsyncIterator[KafkaBus]:
    """Resolver and audit on the secured broker under a prefix of this test's."""
    settings = deployment_settings(secure_kafka, tmp_path)
    async with KafkaBus(
        settings, directory=sample_directory(), store=population, codec=platform_codec()
    ) as bus:
        yield bus


def _write_input(path: Path, people: list[Citizen]) -> list[list[str]]:
    """ROWS rows: people as held, with a wrong name or sex now and then, and every HOSTILE row among them."""
    rows: list[list[str]] = []
    for i in range(ROWS - len(HOSTILE)):
        person = people[i % len(people)]
        name = person.full_name if i % 3 else "Sai Tên"
        sex = person.sex if i % 7 else ""
        rows.append([person.personal_id, name, person.birth_date.isoformat(), sex, "", "", "", "", "", ""])
    for n, hostile in enumerate(HOSTILE):
        rows.insert(137 * (n + 1), hostile)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i, row in enumerate(rows):
            writer.writerow([*row, f"ref-{i}"] if len(row) == 10 else row)
    return rows


def _command(bus: KafkaBus, source: Path, out: Path) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANCU_")}
    env |= kafka_environment(bus.settings.kafka)
    env |= {"DANCU_SDK__AGENCY": "demo-bank", "DANCU_SDK__LIFETIME_S": "20"}
    args = [sys.executable, "-m", "dancu_bus.cli.main", "verify-file", str(source), "--out", str(out)]
    args += ["--officer", KYC.officer_id, "--case", KYC.case_no, "--purpose", KYC.purpose_code]
    args += ["--legal-basis", KYC.legal_basis, "--batch-size", "50", "--in-flight", "2", "--no-progress"]
    return args, env


def _batches_done(out: Path) -> int:
    progress = out.with_name(out.name + ".progress")
    if not progress.exists():
        return 0
    return sum(1 for line in progress.read_text(encoding="utf-8").splitlines() if '"done"' in line)


def _run(args: list[str], env: dict[str, str]) -> str:
    ran = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return ran.stderr


def _killed_halfway(args: list[str], env: dict[str, str], out: Path) -> int:
    """Start the command, SIGKILL it once a few batches are durable; how many rows were done then."""
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _batches_done(out) < 6 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    lines = out.with_name(out.name + ".progress").read_text(encoding="utf-8").splitlines()
    done = [json.loads(line) for line in lines if '"done"' in line]
    return int(done[-1]["done"]) if done else 0


async def test_verify_file_killed_halfway_and_resumed_writes_the_same_file_and_asks_nothing_twice(
    kafka_bus: KafkaBus, people: list[Citizen], tmp_path: Path
) -> None:
    """An uninterrupted run and a run SIGKILLed after some batches and started again give the same OUT
    byte for byte; every hostile row has its reason; each sendable row was answered once per run."""
    source = tmp_path / "in.csv"
    rows = _write_input(source, people)
    whole, resumed = tmp_path / "whole.csv", tmp_path / "resumed.csv"
    args, env = _command(kafka_bus, source, whole)
    summary = await asyncio.to_thread(_run, args, env)
    assert f"verify-file: {ROWS} rows" in summary and "MATCH" in summary

    args, env = _command(kafka_bus, source, resumed)
    done_at_kill = await asyncio.to_thread(_killed_halfway, args, env, resumed)
    assert 0 < done_at_kill < ROWS, "the run was to be killed halfway"
    summary = await asyncio.to_thread(_run, args, env)
    assert f"verify-file: {ROWS} rows" in summary
    print(f"killed with {done_at_kill} rows durable; the restart: {summary.strip()}")
    assert resumed.read_bytes() == whole.read_bytes()

    written = list(csv.DictReader(whole.read_text(encoding="utf-8").splitlines(keepends=True)))
    assert len(written) == ROWS and [r["customer_ref"] for r in written if r["customer_ref"]][:3] == [
        "ref-0",
        "ref-1",
        "ref-2",
    ]
    reasons = Counter(r["reason_code"] for r in written if r["reason_code"])
    assert reasons["MALFORMED_REQUEST"] == 5 and reasons["INVALID_PERSONAL_ID"] == 1
    assert reasons["NOTHING_TO_VERIFY"] == 1
    assert Counter(r["verdict"] for r in written if r["verdict"])["MATCH"] > 1000

    # What was sent: every row not refused locally, in each of the two runs; the audit records each item.
    sendable = Counter(
        r[0] for r, w in zip(rows, written, strict=True) if w["reason_code"] != "MALFORMED_REQUEST"
    )
    expected = sum(sendable.values()) * 2
    audits = await eventually(kafka_bus.audit_records, lambda found: len(found) >= expected, timeout_s=120)
    await asyncio.sleep(3)  # anything asked twice would be recorded by now too
    audits = await asyncio.to_thread(kafka_bus.audit_records)
    asked = Counter(a.personal_id for a in audits if a.operation == "VERIFY_BATCH")
    assert asked == {pid: 2 * n for pid, n in sendable.items()}
