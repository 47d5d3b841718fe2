"""Every Python example of the README runs, unchanged, against the secured stack, and mypy --strict passes it.

The README's SDK example is written for the demo left running; here it runs against the test's own
secured stack, given the same kind of environment the demo prints (the bank's login in a file).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dancu_bus.settings import KafkaSettings, kafka_environment
from tests.integration.secured_stack import SecuredStack, running_secured_stack
from tests.keys import sdk_keys

pytestmark = [pytest.mark.security, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
BANK = "demo-bank"
EXAMPLES = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)


@pytest.fixture(scope="module")
def stack(secure_kafka: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredStack]:
    """The services as their principals, and the sample bank with its own login."""
    with running_secured_stack(secure_kafka, tmp_path_factory.mktemp("readme"), [BANK]) as running:
        yield running


def test_the_readme_has_python_examples() -> None:
    """The SDK section shows code (this module would pass vacuously without it)."""
    assert EXAMPLES and any("ClientConfig(" in example for example in EXAMPLES)


def _bank_environment(stack: SecuredStack, folder: Path) -> dict[str, str]:
    """What ``dancu-bus demo --keep-running`` tells the bank to export, for this stack."""
    login = stack.logins[BANK]
    assert login.password is not None
    secret = folder / "demo-bank.password"
    secret.write_text(login.password.get_secret_value() + "\n")
    secret.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANCU_")}
    keys = {"DANCU_SDK__ANSWER_KEYS": str(sdk_keys(BANK))}  # the demo prints it: LOOKUPs are sealed
    return env | kafka_environment(login.model_copy(update={"password_file": secret})) | keys


@pytest.mark.parametrize("number", range(len(EXAMPLES)))
def test_each_python_example_runs_as_written(stack: SecuredStack, tmp_path: Path, number: int) -> None:
    """The example, byte for byte, exits 0 against the stack with the environment the demo prints."""
    script = tmp_path / f"example_{number}.py"
    script.write_text(EXAMPLES[number], encoding="utf-8")
    env = _bank_environment(stack, tmp_path)
    ran = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    if "client.verify(" in EXAMPLES[number]:  # the SDK example prints the verdict it got
        assert ran.stdout.split()[0] in {"MATCH", "MISMATCH", "NOT_FOUND", "INCONCLUSIVE"}, ran.stdout


@pytest.mark.parametrize("number", range(len(EXAMPLES)))
def test_each_python_example_passes_mypy_strict(tmp_path: Path, number: int) -> None:
    """The example type-checks with mypy --strict against the installed SDK."""
    script = tmp_path / f"example_{number}.py"
    script.write_text(EXAMPLES[number], encoding="utf-8")
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert checked.returncode == 0, checked.stdout


def test_the_verify_customers_example_runs_against_the_stack(stack: SecuredStack, tmp_path: Path) -> None:
    """examples/verify_customers.py verifies and looks up a customer on record, with the demo's variables."""
    person = stack.people[3]
    example = ROOT / "examples" / "verify_customers.py"
    env = _bank_environment(stack, tmp_path)
    ran = subprocess.run(
        [sys.executable, str(example), person.personal_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert f"full_name: {person.full_name}" in ran.stdout
