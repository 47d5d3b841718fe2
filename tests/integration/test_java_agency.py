"""An agency client in Java, built with Maven from schemas/standalone alone, on the secured broker.

The test builds ``examples/java`` (kafka-clients, Apache Avro and Nimbus JOSE+JWT from Maven Central)
and runs it as the sample bank over TLS with the credentials step 10 issued: a VERIFY and a LOOKUP per
person, every answer checked by the Java program itself (MATCH, and the disclosed name and birth date,
which it opens from the answer's JWE with the bank's private key).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dancu_bus.settings import KafkaSettings, kafka_environment
from tests.contexts import KYC, KYC_LOOKUP
from tests.integration.secured_stack import SecuredStack, running_secured_stack
from tests.keys import sdk_keys

pytestmark = [pytest.mark.security, pytest.mark.java, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "java"
JAR = EXAMPLE / "target" / "dancu-agency-example.jar"
BANK = "demo-bank"
PEOPLE = 25


@pytest.fixture(scope="module")
def stack(secure_kafka: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredStack]:
    """The services as their principals, and the bank with its own login."""
    with running_secured_stack(secure_kafka, tmp_path_factory.mktemp("java"), [BANK]) as running:
        yield running


def _build() -> Path:
    """The example's jar, built with Maven (``mvn package``) from its sources."""
    maven = shutil.which("mvn")
    assert maven is not None, "Maven is needed to build examples/java (apt-get install -y maven)"
    subprocess.run([maven, "-q", "-B", "package"], cwd=EXAMPLE, check=True, timeout=480)
    return JAR


def test_a_java_agency_gets_exactly_one_correct_answer_to_each_request(
    stack: SecuredStack, tmp_path: Path
) -> None:
    """N VERIFY and N LOOKUP requests from Java: N + N answers, each correct, none twice."""
    jar = _build()
    people = tmp_path / "people.tsv"
    people.write_text(
        "".join(
            f"{p.personal_id}\t{p.full_name}\t{p.birth_date.isoformat()}\n" for p in stack.people[:PEOPLE]
        ),
        encoding="utf-8",
    )
    login = stack.logins[BANK]
    assert login.password is not None
    secret = tmp_path / "bank.password"
    secret.write_text(login.password.get_secret_value())
    secret.chmod(0o600)
    environment = {
        **os.environ,
        **kafka_environment(login.model_copy(update={"password_file": secret})),
        "DANCU_SDK__ANSWER_KEYS": str(sdk_keys(BANK)),
        "DANCU_EXAMPLE_AGENCY": BANK,
        "DANCU_EXAMPLE_SCHEMAS": str(ROOT / "schemas" / "standalone"),
        "DANCU_EXAMPLE_PEOPLE": str(people),
        "DANCU_EXAMPLE_VERIFY": f"{KYC.purpose_code}|{KYC.legal_basis}",
        "DANCU_EXAMPLE_LOOKUP": f"{KYC_LOOKUP.purpose_code}|{KYC_LOOKUP.legal_basis}",
    }
    ran = subprocess.run(
        ["java", "-jar", str(jar)], env=environment, capture_output=True, text=True, timeout=300, check=False
    )
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert f"sent {2 * PEOPLE}, answered {2 * PEOPLE}, correct {2 * PEOPLE}, answered twice 0" in ran.stdout
