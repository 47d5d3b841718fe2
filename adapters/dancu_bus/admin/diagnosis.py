"""Why a client cannot use the cluster, in one line an operator can act on.

librdkafka says "Broker transport failure" for a broker that is down, a listener that wants SASL,
and a wrong password alike; the cause is only in the error callbacks and its log. ``diagnose``
connects as the settings say and classifies what comes back (``explain``, pure): nothing listening,
the broker wanting SASL or not taking it, TLS on the wrong port, the login refused. ``not_allowed``
words an authorisation refusal with the principal that would be allowed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from dancu_bus.admin.config import client_config
from dancu_bus.settings import KafkaSettings

__all__ = ["ClusterWatch", "diagnose", "explain", "not_allowed", "wait_for_cluster"]

log = logging.getLogger(__name__)
_PROBE_S = 5.0
_REPORT_EVERY_S = 10.0

_AUTHORISATION = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED: "topic",
    KafkaError.GROUP_AUTHORIZATION_FAILED: "group",
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: "cluster",
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: "transactional id",
}
# TLS alerts a broker sends when it wants a client certificate, or does not accept the one it got.
_CERTIFICATE_ALERTS = (
    "alert bad certificate",
    "certificate required",
    "alert certificate unknown",
    "alert unknown ca",
    "alert certificate expired",
)
_ENDPOINT = re.compile(r"(?:^|[\s:/])(?P<where>[A-Za-z0-9.\-]+:\d+)/")


@dataclass(frozen=True)
class _Failure:
    """One librdkafka error text with what the rules read of it: the settings, endpoint and lower case."""

    kafka: KafkaSettings
    error: str
    where: str
    text: str


def _nothing_listening(f: _Failure) -> str | None:
    if "connection refused" not in f.text and "failed to resolve" not in f.text:
        return None
    return f"nothing is listening at {f.where}: start the broker, or fix DANCU_KAFKA__BOOTSTRAP_SERVERS"


def _login_refused(f: _Failure) -> str | None:
    if "invalid credentials" not in f.text and "authentication failed" not in f.text:
        return None
    return (
        f"authentication failed for user {f.kafka.username} at {f.where}: check DANCU_KAFKA__USERNAME"
        " and DANCU_KAFKA__PASSWORD (or DANCU_KAFKA__PASSWORD_FILE)"
    )


def _no_sasl_on_port(f: _Failure) -> str | None:
    if "handshake failed" not in f.text or "supported mechanisms:  " not in f.error:
        return None
    return (
        f"the broker at {f.where} takes no SASL login on this port: set DANCU_KAFKA__SECURITY_PROTOCOL"
        "=PLAINTEXT, or give its SASL port"
    )


def _no_tls_on_port(f: _Failure) -> str | None:
    if "connecting to a plaintext broker listener" not in f.text:
        return None
    return f"the broker at {f.where} speaks no TLS on this port: use SASL_PLAINTEXT, or its TLS port"


def _certificate_alert(f: _Failure) -> bool:
    return any(alert in f.text for alert in _CERTIFICATE_ALERTS)


def _client_certificate_missing(f: _Failure) -> str | None:
    if not _certificate_alert(f) or f.kafka.ssl_cert is not None:
        return None
    return (
        f"the broker at {f.where} wants a client certificate on this port (mutual TLS): set"
        " DANCU_KAFKA__SSL_CERT and DANCU_KAFKA__SSL_KEY to this client's certificate and key"
    )


def _client_certificate_refused(f: _Failure) -> str | None:
    if not _certificate_alert(f) or f.kafka.ssl_cert is None:
        return None
    return (
        f"the broker at {f.where} refused the client certificate {f.kafka.ssl_cert}: it is not signed by"
        " a CA the broker trusts, or has expired; ask the operator for a certificate of the cluster's CA"
    )


def _broker_certificate_untrusted(f: _Failure) -> str | None:
    if "certificate verify failed" not in f.text:
        return None
    trusted = f.kafka.ssl_ca or "the system's CA store"
    return (
        f"the broker at {f.where} presented a certificate that {trusted} does not vouch for: set"
        " DANCU_KAFKA__SSL_CA to the CA file that signed the brokers' certificates"
    )


def _tls_handshake_failed(f: _Failure) -> str | None:
    if "ssl handshake failed" not in f.text:
        return None
    cause = f.error.split(": ", 1)[-1]
    return f"the TLS handshake with {f.where} failed ({cause}): check DANCU_KAFKA__SSL_CA"


def _login_wanted(f: _Failure) -> str | None:
    if "connection closed by peer" not in f.text or f.kafka.security_protocol != "PLAINTEXT":
        return None
    return (
        f"the broker at {f.where} closed a plain connection: it wants a login; set"
        " DANCU_KAFKA__SECURITY_PROTOCOL=SASL_PLAINTEXT (or SASL_SSL) with DANCU_KAFKA__USERNAME"
    )


# In order: the first rule that recognises the text words it. The generic TLS handshake rule comes
# after the certificate rules, whose texts also contain "ssl handshake failed".
_RULES: tuple[Callable[[_Failure], str | None], ...] = (
    _nothing_listening,
    _login_refused,
    _no_sasl_on_port,
    _no_tls_on_port,
    _client_certificate_missing,
    _client_certificate_refused,
    _broker_certificate_untrusted,
    _tls_handshake_failed,
    _login_wanted,
)


def explain(kafka: KafkaSettings, error: str) -> str | None:
    """The one-line cause of a librdkafka error text, or None when it says nothing specific."""
    failure = _Failure(kafka, error, _endpoint(error) or kafka.bootstrap_servers, error.lower())
    return next((message for rule in _RULES if (message := rule(failure)) is not None), None)


class _Captured:
    """librdkafka's log lines of one probe, kept rather than printed (the cause is often only there)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, level: int, message: str, *args: object) -> None:
        self.lines.append(message % args if args else message)


def diagnose(kafka: KafkaSettings, timeout_s: float = 10.0) -> str | None:
    """None when a metadata request succeeds within ``timeout_s``; else why not, in one line."""
    errors: list[str] = []
    captured = _Captured()
    config: dict[str, Any] = {
        **client_config(kafka),
        "error_cb": lambda error: errors.append(error.str()),
        "reconnect.backoff.max.ms": 1000,
    }
    probe = Producer(config, logger=captured)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                probe.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
                return None
            except KafkaException:
                pass  # the reason is in the error callbacks
            probe.poll(0)
            seen = [*errors, *captured.lines]
            if kafka.security_protocol != "SASL_SSL" and any("closed by peer" in line for line in seen):
                tls = _tls_endpoint(kafka.bootstrap_servers)
                if tls is not None:
                    return (
                        f"the broker at {tls} speaks TLS on this port: set DANCU_KAFKA__SECURITY_PROTOCOL"
                        "=SASL_SSL, with DANCU_KAFKA__SSL_CA naming the CA file of its certificate"
                    )
            found = next((reason for e in seen if (reason := explain(kafka, e)) is not None), None)
            if found is not None:
                return found
    finally:
        probe.flush(0)
    last = errors[-1] if errors else "no answer"
    return f"Kafka at {kafka.bootstrap_servers} did not answer within {timeout_s:g} s ({last})"


def not_allowed(kafka: KafkaSettings, error: KafkaError, what: str, needs: str) -> str | None:
    """An authorisation refusal of ``what`` as one line naming who would be allowed; None for others."""
    kind = _AUTHORISATION.get(error.code())
    if kind is None:
        return None
    user = kafka.username or "(anonymous)"
    return f"user {user} is not allowed to {what} (a {kind} ACL): {needs}"


def _tls_endpoint(bootstrap: str) -> str | None:
    """The first bootstrap address that completes a TLS handshake (any certificate), or None.

    A clear-text client is disconnected alike by a listener that wants SASL and by one that wants
    TLS; only trying TLS tells them apart.
    """
    for where in bootstrap.split(","):
        host, _, port = where.strip().rpartition(":")
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # a probe: no data is sent
        try:
            with (
                socket.create_connection((host, int(port)), timeout=2.0) as raw,
                context.wrap_socket(raw, server_hostname=host),
            ):
                return where.strip()
        except (OSError, ValueError):
            continue
    return None


def _endpoint(error: str) -> str | None:
    found = _ENDPOINT.search(error)
    return found.group("where") if found else None


async def wait_for_cluster(kafka: KafkaSettings, stop: asyncio.Event, what: str) -> bool:
    """Wait until the cluster answers (True) or ``stop`` is set (False), logging why once per interval.

    A service started while the broker is down waits for it instead of exiting: one line says why
    it waits (``diagnose``), then one line every ten seconds with how long it has been waiting.
    """
    started, reported, delay = time.monotonic(), -_REPORT_EVERY_S, 0.5
    while not stop.is_set():
        problem = await asyncio.to_thread(diagnose, kafka, _PROBE_S)
        if problem is None:
            if reported >= 0:
                log.info("%s: the cluster answers now, after %.0f s", what, time.monotonic() - started)
            return True
        waited = time.monotonic() - started
        if waited - reported >= _REPORT_EVERY_S:
            log.warning("%s waits for the cluster (%.0f s so far): %s", what, waited, problem)
            reported = waited
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            delay = min(delay * 2, _REPORT_EVERY_S)
    return False


class ClusterWatch:
    """Whether the cluster answers now, checked every ``every_s`` in the background: for ``/readyz``."""

    def __init__(self, kafka: KafkaSettings, every_s: float = 15.0) -> None:
        self._kafka = kafka
        self._every_s = every_s
        self.problem: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ClusterWatch:
        self._task = asyncio.create_task(self._watch(), name="cluster-watch")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch(self) -> None:
        while True:
            problem = await asyncio.to_thread(diagnose, self._kafka, _PROBE_S)
            if problem != self.problem:
                (log.warning if problem else log.info)("cluster: %s", problem or "answers again")
            self.problem = problem
            await asyncio.sleep(self._every_s)
