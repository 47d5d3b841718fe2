"""Failures that name their cause in one line: the CLI, the services and the SDK (issue 11, point 4).

Each CLI case runs ``dancu-bus`` as a process, as an operator would, and pins its whole stderr: one
line, the cause, what to do. The service cases start a process against a broker that is down, then
bring one up (it must serve), and stop one with its broker gone (it must exit within its bound).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from dancu_bus.access import PLATFORM_PRINCIPALS, REGISTRY
from dancu_bus.admin.diagnosis import diagnose
from dancu_bus.admin.security import ensure_platform_principals
from dancu_bus.cli.services import STOP_GRACE_S
from dancu_bus.dev import broker_kafka, start_broker, stop_broker
from dancu_bus.dev.broker import dev_ca
from dancu_bus.dev.ca import DevCa, ensure_dev_ca, issue_client_certificate
from dancu_bus.errors import BrokerError
from dancu_bus.faults.broker import prepare_home, remove_home
from dancu_bus.sdk import Client, ClientConfig
from dancu_bus.settings import BrokerSettings, KafkaSettings, kafka_environment
from dancu_bus.topic_names import TopicNames

pytestmark = [pytest.mark.security, pytest.mark.timeout(300)]

CLI = [sys.executable, "-m", "dancu_bus.cli.main"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(kafka: KafkaSettings, **more: str) -> dict[str, str]:
    """A process environment that makes ``kafka`` the settings of the CLI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANCU_")}
    return env | kafka_environment(kafka) | more


def _stderr(kafka: KafkaSettings, *args: str) -> list[str]:
    """The stderr lines of ``dancu-bus topics plan`` (or ``args``) run against ``kafka``; it must fail."""
    ran = subprocess.run(
        [*CLI, *(args or ("topics", "plan"))],
        env=_environment(kafka),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode != 0, ran.stdout
    return ran.stderr.splitlines()


def test_a_wrong_password_names_the_user(secure_kafka: KafkaSettings) -> None:
    """Authentication failed for user U, in one line, not a transport failure after 16 s."""
    wrong = secure_kafka.model_copy(update={"password": SecretStr("not-the-password")})
    where = secure_kafka.bootstrap_servers
    assert _stderr(wrong) == [
        f"dancu-bus: authentication failed for user dancu-admin at {where}: check DANCU_KAFKA__USERNAME"
        " and DANCU_KAFKA__PASSWORD (or DANCU_KAFKA__PASSWORD_FILE)"
    ]


def test_nothing_listening_names_the_address() -> None:
    """A broker that is down: nothing is listening at host:port, and what to do."""
    where = f"127.0.0.1:{_free_port()}"
    assert _stderr(KafkaSettings(bootstrap_servers=where)) == [
        f"dancu-bus: nothing is listening at {where}: start the broker, or fix DANCU_KAFKA__BOOTSTRAP_SERVERS"
    ]


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_a_clear_text_client_at_the_tls_listener_is_told_to_use_tls(
    secure_kafka: KafkaSettings, protocol: str
) -> None:
    """Plain or SASL in clear text where the broker speaks TLS: refused, and told to use SASL_SSL."""
    where = secure_kafka.bootstrap_servers
    clear = secure_kafka.model_copy(update={"security_protocol": protocol, "ssl_ca": None})
    assert _stderr(clear) == [
        f"dancu-bus: the broker at {where} speaks TLS on this port: set DANCU_KAFKA__SECURITY_PROTOCOL"
        "=SASL_SSL, with DANCU_KAFKA__SSL_CA naming the CA file of its certificate"
    ]


def test_a_client_trusting_another_ca_is_refused(secure_kafka: KafkaSettings, tmp_path: Path) -> None:
    """A CA that did not sign the broker's certificate: the handshake fails, and the line says which CA."""
    other = ensure_dev_ca(tmp_path / "other-ca")
    assert _stderr(secure_kafka.model_copy(update={"ssl_ca": other.certificate})) == [
        f"dancu-bus: the broker at {secure_kafka.bootstrap_servers} presented a certificate that"
        f" {other.certificate} does not vouch for: set DANCU_KAFKA__SSL_CA to the CA file that signed the"
        " brokers' certificates"
    ]


def test_mutual_tls_refuses_a_client_without_a_certificate(
    secure_kafka: KafkaSettings, mtls_bootstrap: str, tmp_path: Path
) -> None:
    """On the mutual-TLS listener a client with the right password but no certificate is refused."""
    without = secure_kafka.model_copy(update={"bootstrap_servers": mtls_bootstrap})
    assert _stderr(without) == [
        f"dancu-bus: the broker at {mtls_bootstrap} wants a client certificate on this port (mutual TLS):"
        " set DANCU_KAFKA__SSL_CERT and DANCU_KAFKA__SSL_KEY to this client's certificate and key"
    ]
    assert secure_kafka.ssl_ca is not None
    issued = issue_client_certificate(DevCa(secure_kafka.ssl_ca.parent), "demo-bank", tmp_path)
    with_certificate = without.model_copy(update={"ssl_cert": issued.certificate, "ssl_key": issued.key})
    assert diagnose(with_certificate) is None  # the same client with a certificate of the CA is served
    stranger = issue_client_certificate(ensure_dev_ca(tmp_path / "other-ca"), "demo-bank", tmp_path / "o")
    foreign = without.model_copy(update={"ssl_cert": stranger.certificate, "ssl_key": stranger.key})
    (line,) = _stderr(foreign)
    assert line.startswith(f"dancu-bus: the broker at {mtls_bootstrap} refused the client certificate")


def test_a_login_at_a_plain_listener_is_told_there_is_none(plain_broker: BrokerSettings) -> None:
    """SASL where the broker takes none (the fault harness's kind): set PLAINTEXT, or give its SASL port."""
    where = broker_kafka(plain_broker).bootstrap_servers
    login = KafkaSettings(
        bootstrap_servers=where,
        security_protocol="SASL_PLAINTEXT",
        username="someone",
        password=SecretStr("x"),
    )
    assert _stderr(login) == [
        f"dancu-bus: the broker at {where} takes no SASL login on this port: set"
        " DANCU_KAFKA__SECURITY_PROTOCOL=PLAINTEXT, or give its SASL port"
    ]


def test_a_service_principal_administering_the_cluster_is_told_who_may(secure_kafka: KafkaSettings) -> None:
    """The registry user creating topics: not allowed, and the administrator is who may."""
    prefix = f"err{secrets.token_hex(3)}.dancu"
    admin = secure_kafka.model_copy(update={"topic_prefix": prefix})
    passwords = {user: SecretStr(secrets.token_urlsafe(16)) for user in PLATFORM_PRINCIPALS}
    ensure_platform_principals(admin, TopicNames(prefix), passwords)
    registry = admin.model_copy(update={"username": REGISTRY, "password": passwords[REGISTRY]})
    (line,) = _stderr(registry, "topics", "apply", "--replication-factor", "1")
    assert line.startswith(f"dancu-bus: user {REGISTRY} is not allowed to create topic {prefix}.")
    assert line.endswith(
        "run this as the cluster's administrator (its super user, dancu-admin on the development broker:"
        " DANCU_KAFKA__USERNAME and DANCU_KAFKA__PASSWORD_FILE)"
    )


def test_the_sdk_names_the_cause_in_one_line_and_keeps_librdkafka_off_stderr(
    secure_kafka: KafkaSettings, capfd: pytest.CaptureFixture[str]
) -> None:
    """An SDK client with a wrong password fails at once with the cause; nothing is printed to stderr."""
    wrong = secure_kafka.model_copy(update={"username": "demo-bank", "password": SecretStr("wrong")})
    failed = r"^agency demo-bank: authentication failed for user demo-bank"
    with pytest.raises(BrokerError, match=failed), Client(ClientConfig("demo-bank", wrong)):
        pass
    assert capfd.readouterr().err == ""


def _own_broker(tmp_path: Path, *, secure: bool) -> Iterator[BrokerSettings]:
    port = _free_port()
    broker = BrokerSettings(
        home=tmp_path / "broker",
        port=port,
        controller_port=_free_port(),
        heap="384m",
        secure=secure,
        admin_password=SecretStr(secrets.token_hex(12)) if secure else None,
    )
    prepare_home(broker)
    if secure:  # its CA now, so that clients started before the broker already have the file to trust
        ensure_dev_ca(dev_ca(broker).folder)
    try:
        yield broker
    finally:
        stop_broker(broker)
        remove_home(broker)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[BrokerSettings]:
    """A secured broker of its own on free ports, not started yet; stopped and removed afterwards."""
    yield from _own_broker(tmp_path, secure=True)


@pytest.fixture
def plain_broker(tmp_path: Path) -> Iterator[BrokerSettings]:
    """A plain broker (no TLS, no SASL: the fault harness's kind), started; stopped and removed afterwards."""
    for broker in _own_broker(tmp_path, secure=False):
        start_broker(broker)
        yield broker


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as ready:
            return bool(ready.status == 200)
    except (urllib.error.URLError, ConnectionError):
        return False


def test_a_service_started_before_its_broker_waits_then_serves(own_broker: BrokerSettings) -> None:
    """The audit consumer started while nothing listens: it waits, one line per interval; then serves."""
    kafka = broker_kafka(own_broker)
    metrics = _free_port()
    env = _environment(kafka, DANCU_AUDIT__METRICS_PORT=str(metrics), DANCU_AUDIT__GROUP_ID="err.audit")
    service = subprocess.Popen([*CLI, "audit", "run"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(12)
        assert service.poll() is None, "the audit consumer exited instead of waiting for its broker"
        start_broker(own_broker)
        subprocess.run(
            [*CLI, "topics", "apply", "--replication-factor", "1"], env=_environment(kafka), check=True
        )
        deadline = time.monotonic() + 120
        while not _ready(metrics):
            assert time.monotonic() < deadline and service.poll() is None, "never became ready"
            time.sleep(1)
    finally:
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=STOP_GRACE_S + 30)
    waiting = [line for line in stderr.splitlines() if "waits for the cluster" in line]
    assert 1 <= len(waiting) <= 3 and "nothing is listening at" in waiting[0]
    assert "Traceback" not in stderr


def test_a_service_stops_within_its_bound_with_the_broker_gone(own_broker: BrokerSettings) -> None:
    """SIGTERM while the broker is down: the resolver exits within its grace period, not minutes later."""
    start_broker(own_broker)
    kafka = broker_kafka(own_broker)
    subprocess.run(
        [*CLI, "topics", "apply", "--replication-factor", "1"], env=_environment(kafka), check=True
    )
    metrics = _free_port()
    env = _environment(
        kafka,
        DANCU_RESOLVER__METRICS_PORT=str(metrics),
        DANCU_RESOLVER__AGENCIES_SOURCE="file",
        DANCU_RESOLVER__CATALOGUES_SOURCE="packaged",
        DANCU_STORE__PATH=str(own_broker.home / "population.sqlite3"),  # type: ignore[operator]
    )
    subprocess.run([*CLI, "store", "seed", "--citizens", "10"], env=env, check=True, capture_output=True)
    log = own_broker.home / "resolver.log"  # type: ignore[operator]
    with log.open("w") as stderr:
        service = subprocess.Popen([*CLI, "resolver"], env=env, stderr=stderr, text=True)
    deadline = time.monotonic() + 120
    while not _ready(metrics):
        assert time.monotonic() < deadline and service.poll() is None, "the resolver never became ready"
        time.sleep(1)
    stop_broker(own_broker)
    time.sleep(3)
    service.send_signal(signal.SIGTERM)
    try:
        service.wait(timeout=STOP_GRACE_S + 15)
    except subprocess.TimeoutExpired:
        service.kill()
        pytest.fail(f"the resolver was still running {STOP_GRACE_S + 15:g} s after SIGTERM")
    assert service.returncode == 0, log.read_text()[-3000:]
