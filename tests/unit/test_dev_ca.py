"""The development CA: broker and client certificates, the TLS files clients are given, their checks."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from pydantic import SecretStr

from dancu_bus.admin.config import client_config
from dancu_bus.dev.ca import ensure_dev_ca, issue_client_certificate
from dancu_bus.errors import ConfigError
from dancu_bus.settings import KafkaSettings, kafka_environment
from dancu_bus.transport.kafka import kafka_options


def _leaf(pem: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.read_bytes())


def test_the_broker_certificate_names_loopback_and_is_signed_by_the_ca(tmp_path: Path) -> None:
    """127.0.0.1 and localhost in its names, serverAuth and clientAuth, the CA's signature; keys 0600."""
    ca = ensure_dev_ca(tmp_path / "tls")
    leaf, root = _leaf(ca.broker_pem), _leaf(ca.certificate)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    purposes = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(purposes)
    leaf.verify_directly_issued_by(root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (ca.key.stat().st_mode & 0o777, ca.broker_pem.stat().st_mode & 0o777) == (0o600, 0o600)
    assert b"PRIVATE KEY" in ca.broker_pem.read_bytes()  # Kafka's PEM key store: key then chain


def test_the_ca_is_made_once_and_the_broker_certificate_renewed_for_new_names(tmp_path: Path) -> None:
    """A second call keeps CA and certificate; other host names get a new certificate of the same CA."""
    first = ensure_dev_ca(tmp_path / "tls")
    root, leaf = first.certificate.read_bytes(), first.broker_pem.read_bytes()
    again = ensure_dev_ca(tmp_path / "tls")
    assert (again.certificate.read_bytes(), again.broker_pem.read_bytes()) == (root, leaf)
    wider = ensure_dev_ca(tmp_path / "tls", ("127.0.0.1", "localhost", "broker-2.dancu.internal"))
    assert wider.certificate.read_bytes() == root and wider.broker_pem.read_bytes() != leaf
    _leaf(wider.broker_pem).verify_directly_issued_by(_leaf(wider.certificate))


def test_a_client_certificate_is_for_client_authentication_only(tmp_path: Path) -> None:
    """CN is the agency, clientAuth only, EC P-256, the key its owner's only."""
    ca = ensure_dev_ca(tmp_path / "tls")
    issued = issue_client_certificate(ca, "demo-bank", tmp_path / "clients")
    leaf = _leaf(issued.certificate)
    assert leaf.subject.rfc4514_string() == "CN=demo-bank"
    purposes = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(purposes) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert issued.key.stat().st_mode & 0o777 == 0o600
    leaf.verify_directly_issued_by(_leaf(ca.certificate))


@pytest.mark.parametrize("name", ["../etc/passwd", "", "a b", "x" * 65])
def test_a_certificate_name_that_is_no_agency_id_is_refused(tmp_path: Path, name: str) -> None:
    """The name becomes file names: path separators, blanks and overlong names are refused."""
    ca = ensure_dev_ca(tmp_path / "tls")
    with pytest.raises(ConfigError, match="certificate name"):
        issue_client_certificate(ca, name, tmp_path / "clients")


def _tls(ca: Path, cert: Path | None = None, key: Path | None = None) -> KafkaSettings:
    return KafkaSettings(
        security_protocol="SASL_SSL",
        username="u",
        password=SecretStr("p"),
        ssl_ca=ca,
        ssl_cert=cert,
        ssl_key=key,
    )


def test_both_clients_trust_the_given_ca_and_present_the_given_certificate(tmp_path: Path) -> None:
    """librdkafka gets the three locations; aiokafka a context that loaded them."""
    ca = ensure_dev_ca(tmp_path / "tls")
    issued = issue_client_certificate(ca, "demo-bank", tmp_path / "clients")
    kafka = _tls(ca.certificate, issued.certificate, issued.key)
    config = client_config(kafka)
    assert config["ssl.ca.location"] == str(ca.certificate)
    assert (config["ssl.certificate.location"], config["ssl.key.location"]) == (
        str(issued.certificate),
        str(issued.key),
    )
    context: ssl.SSLContext = kafka_options(kafka)["ssl_context"]
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "dancu-bus development CA"),),)
    ]


def test_a_missing_ca_file_or_a_key_others_may_read_is_refused_by_name(tmp_path: Path) -> None:
    """The error names the file and the setting, before any connection is tried."""
    missing = _tls(tmp_path / "nowhere.crt")
    with pytest.raises(ConfigError, match=r"no file .*nowhere\.crt \(DANCU_KAFKA__SSL_CA\)"):
        client_config(missing)
    ca = ensure_dev_ca(tmp_path / "tls")
    issued = issue_client_certificate(ca, "demo-bank", tmp_path / "clients")
    issued.key.chmod(0o644)
    readable = _tls(ca.certificate, issued.certificate, issued.key)
    with pytest.raises(ConfigError, match="may be read by others"):
        kafka_options(readable)


def test_a_certificate_without_its_key_is_refused() -> None:
    """ssl_cert and ssl_key come together."""
    with pytest.raises(ValueError, match="both ssl_cert and ssl_key"):
        KafkaSettings(security_protocol="SASL_SSL", ssl_cert=Path("/tmp/c.crt"))


def test_a_child_process_gets_the_password_file_not_the_password(tmp_path: Path) -> None:
    """kafka_environment passes a file's path when the password came from one, and the TLS files."""
    secret = tmp_path / "bank.password"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    kafka = KafkaSettings(
        security_protocol="SASL_SSL", username="demo-bank", password_file=secret, ssl_ca=tmp_path / "ca.crt"
    )
    env = kafka_environment(kafka)
    assert env["DANCU_KAFKA__PASSWORD_FILE"] == str(secret) and "DANCU_KAFKA__PASSWORD" not in env
    assert env["DANCU_KAFKA__SSL_CA"] == str(tmp_path / "ca.crt")
    assert "s3cret" not in "".join(env.values())
