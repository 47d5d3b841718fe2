"""``explain``: the one line said for each librdkafka error text, the first matching rule winning."""

from __future__ import annotations

from pathlib import Path

import pytest

from dancu_bus.admin.diagnosis import explain
from dancu_bus.settings import KafkaSettings

_AT = "k1.example:9093"
_PLAIN = KafkaSettings(bootstrap_servers=_AT)
_SASL = KafkaSettings(bootstrap_servers=_AT, security_protocol="SASL_PLAINTEXT", username="bank")
_TLS = KafkaSettings(
    bootstrap_servers=_AT, security_protocol="SASL_SSL", username="bank", ssl_ca=Path("/etc/ca.crt")
)
_MTLS = _TLS.model_copy(update={"ssl_cert": Path("/etc/bank.crt"), "ssl_key": Path("/etc/bank.key")})

_CASES = [
    (
        _PLAIN,
        "Connect to ipv4#127.0.0.1:9093 failed: Connection refused",
        f"nothing is listening at {_AT}: start the broker, or fix DANCU_KAFKA__BOOTSTRAP_SERVERS",
    ),
    (
        _SASL,
        "SASL authentication error: Authentication failed during authentication due to invalid credentials",
        f"authentication failed for user bank at {_AT}: check DANCU_KAFKA__USERNAME"
        " and DANCU_KAFKA__PASSWORD (or DANCU_KAFKA__PASSWORD_FILE)",
    ),
    (
        _SASL,
        "SASL handshake failed (start (-4)): SASL mechanism SCRAM-SHA-512 not supported by broker "
        "(broker's supported mechanisms:  )",
        f"the broker at {_AT} takes no SASL login on this port: set DANCU_KAFKA__SECURITY_PROTOCOL"
        "=PLAINTEXT, or give its SASL port",
    ),
    (
        _TLS,
        "SSL handshake failed: connecting to a PLAINTEXT broker listener?",
        f"the broker at {_AT} speaks no TLS on this port: use SASL_PLAINTEXT, or its TLS port",
    ),
    (
        _TLS,
        "SSL handshake failed: error:0A000412:SSL routines::sslv3 alert bad certificate",
        f"the broker at {_AT} wants a client certificate on this port (mutual TLS): set"
        " DANCU_KAFKA__SSL_CERT and DANCU_KAFKA__SSL_KEY to this client's certificate and key",
    ),
    (
        _MTLS,
        "SSL handshake failed: error:0A000418:SSL routines::tlsv1 alert unknown ca",
        f"the broker at {_AT} refused the client certificate /etc/bank.crt: it is not signed by"
        " a CA the broker trusts, or has expired; ask the operator for a certificate of the cluster's CA",
    ),
    (
        _TLS,
        "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed",
        f"the broker at {_AT} presented a certificate that /etc/ca.crt does not vouch for: set"
        " DANCU_KAFKA__SSL_CA to the CA file that signed the brokers' certificates",
    ),
    (
        _TLS,
        "SSL handshake failed: unexpected eof while reading",
        f"the TLS handshake with {_AT} failed (unexpected eof while reading): check DANCU_KAFKA__SSL_CA",
    ),
    (
        _PLAIN,
        "Disconnected: Connection closed by peer (after 0ms in state APIVERSION_QUERY)",
        f"the broker at {_AT} closed a plain connection: it wants a login; set"
        " DANCU_KAFKA__SECURITY_PROTOCOL=SASL_PLAINTEXT (or SASL_SSL) with DANCU_KAFKA__USERNAME",
    ),
]


@pytest.mark.parametrize(("kafka", "error", "line"), _CASES)
def test_each_known_error_text_gets_its_line(kafka: KafkaSettings, error: str, line: str) -> None:
    """Each kind of librdkafka failure is worded as its one actionable line, naming the bootstrap address."""
    assert explain(kafka, error) == line


def test_the_endpoint_in_the_text_is_named_rather_than_the_bootstrap() -> None:
    """When librdkafka names the broker it tried, the line names that broker, not the bootstrap list."""
    error = "sasl_ssl://k2.example:9094/2: Connect to ipv4#10.0.0.2:9094 failed: Connection refused"
    assert explain(_PLAIN, error) == (
        "nothing is listening at k2.example:9094: start the broker, or fix DANCU_KAFKA__BOOTSTRAP_SERVERS"
    )


def test_the_system_store_is_named_when_no_ca_is_set() -> None:
    """An untrusted broker certificate with no CA file set blames the system's CA store."""
    error = "SSL handshake failed: certificate verify failed"
    line = explain(_TLS.model_copy(update={"ssl_ca": None}), error)
    assert line is not None and "that the system's CA store does not vouch for" in line


def test_a_closed_connection_under_sasl_says_nothing() -> None:
    """A peer closing a SASL connection is not read as "wants a login": that rule is for PLAINTEXT only."""
    assert explain(_SASL, "Connection closed by peer") is None


def test_an_earlier_rule_wins_over_a_later_one() -> None:
    """A text matching two rules gets the earlier rule's line: a refused connection before a closed one."""
    line = explain(_PLAIN, "Connection refused; Connection closed by peer")
    assert line is not None and line.startswith("nothing is listening at")


def test_an_unrecognised_text_says_nothing() -> None:
    """A text no rule knows gives None, so the caller keeps waiting for a specific one."""
    assert explain(_PLAIN, "Broker transport failure") is None
