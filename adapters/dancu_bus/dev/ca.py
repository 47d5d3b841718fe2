"""The development CA: the local broker's TLS certificate, and client certificates for mutual TLS.

``dancu-bus dev broker start`` (secured) makes the CA once in ``<broker home>/tls`` and a broker
certificate signed by it for 127.0.0.1 and localhost, in the PEM files Kafka reads natively (KIP-651):
``ca.crt`` (its trust store, and every client's ``DANCU_KAFKA__SSL_CA``) and ``broker.pem`` (the
broker's private key followed by its certificate). ``dancu-bus dev cert`` issues a client certificate
for mutual TLS. Production certificates come from the operator's own CA; only this module makes keys.
Private keys are written readable by their owner only, from the first byte.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dancu_bus.errors import ConfigError
from dancu_bus.secret_files import write_private

__all__ = ["BROKER_HOSTS", "ClientCertificate", "DevCa", "ensure_dev_ca", "issue_client_certificate"]

# Names the local broker is reached by; a client checks the one it dialled against these.
BROKER_HOSTS = ("127.0.0.1", "localhost")
_CA_YEARS = 10
_LEAF_DAYS = 397  # the longest leaf lifetime browsers and most TLS stacks still accept
_RENEW_WITHIN = dt.timedelta(days=30)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class DevCa:
    """The CA's files in ``folder``: ``ca.crt``, ``ca.key`` (0600), ``broker.pem`` (key + chain, 0600)."""

    folder: Path

    @property
    def certificate(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def broker_pem(self) -> Path:
        return self.folder / "broker.pem"


@dataclass(frozen=True)
class ClientCertificate:
    """A client's certificate and its private key (0600), for ``DANCU_KAFKA__SSL_CERT`` / ``SSL_KEY``."""

    certificate: Path
    key: Path


def ensure_dev_ca(folder: Path, hosts: tuple[str, ...] = BROKER_HOSTS) -> DevCa:
    """The CA in ``folder`` (made on first use), with a broker certificate for ``hosts`` valid a month on."""
    ca = DevCa(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not ca.certificate.exists() or not ca.key.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dancu-bus development CA")])
        now = _now()
        certificate = (
            _builder(name, name, key.public_key(), now, now + dt.timedelta(days=365 * _CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        write_private(ca.key, _pem_key(key), replace=True)
        ca.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        ca.broker_pem.unlink(missing_ok=True)  # signed by a CA that is gone
    if not _current(ca.broker_pem, hosts):
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = _issue(ca, key.public_key(), "dancu-bus broker", hosts, server=True)
        write_private(
            ca.broker_pem, _pem_key(key) + leaf.public_bytes(serialization.Encoding.PEM), replace=True
        )
    return ca


def issue_client_certificate(ca: DevCa, name: str, folder: Path) -> ClientCertificate:
    """A client certificate (CN ``name``) signed by ``ca``, in ``<folder>/<name>.crt`` and ``.key``."""
    if not ca.key.exists():
        raise ConfigError(f"no development CA in {ca.folder}: start the secured broker once to make it")
    if not _NAME.fullmatch(name):
        raise ConfigError(f"certificate name {name!r}: use letters, digits, '.', '_' and '-' (an agency id)")
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _issue(ca, key.public_key(), name, (), server=False)
    issued = ClientCertificate(folder / f"{name}.crt", folder / f"{name}.key")
    write_private(issued.key, _pem_key(key), replace=True)
    issued.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return issued


def _issue(
    ca: DevCa, public: ec.EllipticCurvePublicKey, name: str, hosts: tuple[str, ...], *, server: bool
) -> x509.Certificate:
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.certificate.read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{ca.key} is not the development CA's EC key: remove {ca.folder} to make a new CA")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    # The broker's certificate serves clients and, on the inter-broker listener, is its client one too.
    purposes = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
    builder = (
        _builder(subject, ca_cert.subject, public, now, now + dt.timedelta(days=_LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    start: dt.datetime,
    end: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        # An hour back: a client whose clock is a little behind still accepts a certificate made now.
        .not_valid_before(start - dt.timedelta(hours=1))
        .not_valid_after(end)
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _current(pem: Path, hosts: tuple[str, ...]) -> bool:
    """Whether ``pem`` holds a certificate for every one of ``hosts`` valid for a while yet."""
    try:
        leaf = x509.load_pem_x509_certificate(pem.read_bytes())
    except (OSError, ValueError):
        return False
    try:
        present = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return set(_names(hosts)) <= set(present) and leaf.not_valid_after_utc - _now() > _RENEW_WITHIN


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8: the form Kafka's PEM key store reads; unencrypted, so the file's mode is what guards it.
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
