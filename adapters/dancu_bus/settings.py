"""The one settings tree, read from ``DANCU_...`` variables once, in the CLI, and passed down.

Nested values use ``__``: ``DANCU_KAFKA__BOOTSTRAP_SERVERS``, ``DANCU_STORE__PATH``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dancu_bus.errors import ConfigError
from dancu_bus.secret_files import check_private_file, read_secret

__all__ = [
    "AuditIndexSettings",
    "AuditSettings",
    "BrokerSettings",
    "ClusterSettings",
    "DeadLetterSettings",
    "KafkaSettings",
    "PortalSettings",
    "ResolverSettings",
    "SdkSettings",
    "Settings",
    "SmsSettings",
    "StoreSettings",
    "TracingSettings",
    "client_environment",
    "kafka_environment",
]


class KafkaSettings(BaseModel):
    """How every client reaches the cluster."""

    model_config = ConfigDict(frozen=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512"] = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = Field(
        default=None,
        description="a file holding the password (its owner's only): keeps it out of the environment",
    )
    ssl_ca: Path | None = Field(
        default=None,
        description="SASL_SSL: the PEM file of the CA(s) the brokers' certificates are checked against;"
        " default the system's",
    )
    ssl_cert: Path | None = Field(
        default=None, description="SASL_SSL, mutual TLS: this client's certificate (PEM), with ssl_key"
    )
    ssl_key: Path | None = Field(
        default=None, description="SASL_SSL, mutual TLS: this client's private key (PEM, its owner's only)"
    )
    topic_prefix: str = Field(default="ndxp.dancu", description="prefix of every dancu-bus topic")

    @model_validator(mode="after")
    def _password_from_file(self) -> KafkaSettings:
        if self.password is not None or self.password_file is None:
            return self
        object.__setattr__(self, "password", read_secret(self.password_file))
        return self

    @model_validator(mode="after")
    def _client_certificate(self) -> KafkaSettings:
        if (self.ssl_cert is None) != (self.ssl_key is None):
            raise ValueError("a client certificate needs both ssl_cert and ssl_key (or neither)")
        return self

    def tls_files(self) -> dict[str, Path]:
        """SASL_SSL: the CA, certificate and key files given, by role; ConfigError for one unusable now.

        Checked when a client is made, not when the settings are: a broker's CA may not exist yet.
        """
        given = {"ca": self.ssl_ca, "cert": self.ssl_cert, "key": self.ssl_key}
        files = {role: path for role, path in given.items() if path is not None}
        for role, path in files.items():
            if not path.is_file():
                raise ConfigError(
                    f"no file {path} (DANCU_KAFKA__SSL_{role.upper()}): give the PEM file's path"
                )
        if "key" in files:
            try:
                check_private_file(files["key"], "private key")
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
        return files


class BrokerSettings(BaseModel):
    """The local development broker started by ``dancu-bus dev broker``."""

    model_config = ConfigDict(frozen=True)

    home: Path | None = Field(default=None, description="jar cache and broker state; default .cache/broker")
    port: int = 9092
    controller_port: int = 9093
    heap: str = "1g"
    start_timeout_s: float = 90.0
    secure: bool = Field(
        default=False, description="TLS on every listener, SCRAM-SHA-512 logins and ACLs, no anonymous port"
    )
    mtls_port: int | None = Field(
        default=None,
        description="secured: a second client listener on this port that also requires a client"
        " certificate signed by the development CA (mutual TLS)",
    )
    admin_password: SecretStr | None = Field(
        default=None, description="secured: the super user's password; default generated into <home>"
    )


class ClusterSettings(BaseModel):
    """The local development cluster started by ``dancu-bus dev cluster``: secured KRaft nodes."""

    model_config = ConfigDict(frozen=True)

    home: Path | None = Field(
        default=None, description="jars, CA and each node's state; default .cache/cluster"
    )
    port: int = Field(
        default=29092,
        description="node 1's client port; node n listens on port + 2(n-1), its controller on the next one",
    )
    brokers: int = Field(default=3, ge=3, le=9, description="nodes, each a broker and a voter of the quorum")
    heap: str = "768m"
    start_timeout_s: float = 180.0
    admin_password: SecretStr | None = Field(
        default=None, description="the super user's password; default generated into <home>"
    )


class DeadLetterSettings(BaseModel):
    """What dead letters keep of the records they describe."""

    model_config = ConfigDict(frozen=True)

    operator_key: Path | None = Field(
        default=None,
        description="the platform operators' public JWK: what a record's sender chose is sealed to it, for"
        " replay; without it, that is dropped",
    )


class TracingSettings(BaseModel):
    """Where the services' spans go: nowhere, unless an OTLP endpoint is configured."""

    model_config = ConfigDict(frozen=True)

    otlp_endpoint: str | None = Field(
        default=None,
        description="the OTLP/HTTP collector's base URL, e.g. http://127.0.0.1:4318 (spans go to its"
        " /v1/traces); OpenTelemetry's own OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT count too. Needs the"
        " dancu-bus[otlp] extra",
    )


class StoreSettings(BaseModel):
    """Where the population store lives."""

    model_config = ConfigDict(frozen=True)

    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: Path = Path("data/population.sqlite3")
    dsn: SecretStr | None = Field(
        default=None, description="postgres: libpq URI, e.g. postgresql://user:password@host:5432/dancu"
    )


class AuditIndexSettings(BaseModel):
    """Where the queryable copy of the audit topic lives (``dancu-bus audit index``): the store's backends."""

    model_config = ConfigDict(frozen=True)

    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: Path = Path("data/audit-index.sqlite3")
    dsn: SecretStr | None = Field(
        default=None, description="postgres: libpq URI, e.g. postgresql://user:password@host:5432/dancu_audit"
    )


class ResolverSettings(BaseModel):
    """The resolver worker."""

    model_config = ConfigDict(frozen=True)

    group_id: str = "dancu.resolver"
    agencies_source: Literal["registry", "file"] = Field(
        default="registry", description="the registry topic's live view, or agencies_file (experiments only)"
    )
    agencies_file: Path = Path("deploy/agencies.yaml")
    catalogues_source: Literal["topics", "packaged"] = Field(
        default="topics",
        description="the catalogue topics' live view, or the packaged CSVs (experiments only)",
    )
    max_batch: int = Field(default=500, ge=1, description="records fetched and answered together")
    linger_ms: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="once a record arrives, how long to wait for more to answer in the same transaction",
    )
    metrics_port: int = 9401
    instance: str = Field(
        default_factory=socket.gethostname,
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="this resolver's name in its transactional id (default the host name): each resolver of"
        " a group needs its own; a restarted one that keeps it aborts its predecessor's open transaction"
        " at once instead of waiting for it to time out",
    )
    transaction_timeout_s: float = Field(
        default=30.0,
        ge=1,
        le=900,
        description="the broker aborts a transaction of a resolver silent this long (transaction.timeout.ms)",
    )
    session_timeout_s: float = Field(
        default=10.0,
        ge=1,
        le=300,
        description="a resolver silent this long leaves the group and its partitions go to the others",
    )
    max_request_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="a request record larger than this (key, value and headers) is rejected"
        " REQUEST_TOO_LARGE",
    )
    max_clock_skew_s: float = Field(
        default=300.0,
        gt=0,
        description="a request whose sent_at is further than this from the broker's time of it is rejected"
        " CLOCK_SKEW",
    )
    max_lifetime_s: float = Field(
        default=3600.0,
        gt=0,
        description="a request valid for longer than this (expires_at after arrival) is rejected"
        " LIFETIME_TOO_LONG",
    )
    duplicate_window_s: float = Field(
        default=300.0,
        ge=0,
        description="a request id seen again from the same agency within its validity (at most this long)"
        " is rejected DUPLICATE_REQUEST",
    )
    self_fields: dict[str, tuple[str, ...]] | None = Field(
        default=None,
        description="SELF's field set per channel: a JSON object from SMS, SMS.<group> (e.g. SMS.CCCD),"
        " PORTAL.1 and PORTAL.2 to field names (personal_id or a disclosable field; name:masked hides the"
        " middle of a text); unset: dancu_bus.operations.self_record.DEFAULT_SELF_FIELDS. Always within"
        " the registered purpose's scope",
    )
    audit_max_lag_s: float = Field(
        default=900.0,
        ge=0,
        description="no exchange without a log: while the oldest exchange not yet in the audit topic (the"
        " audit group's lag, on the resolver's clock) may be older than this, or its lag cannot be read for"
        " this long, new requests are rejected AUDIT_UNAVAILABLE; 0 turns the gate off",
    )


class AuditSettings(BaseModel):
    """The audit consumer."""

    model_config = ConfigDict(frozen=True)

    group_id: str = "dancu.audit"
    max_batch: int = Field(default=500, ge=1)
    unanswered_after_s: float = Field(
        default=300.0,
        gt=0,
        description="record a request still without its response as UNANSWERED after this",
    )
    lone_response_after_s: float = Field(
        default=86_400.0, gt=0, description="forget a response whose request never came after this"
    )
    max_pending: int = Field(
        default=100_000,
        ge=1,
        description="halves of exchanges held at once: past it, request topics are paused until responses"
        " catch up",
    )
    tick_s: float = Field(default=1.0, gt=0, description="how often waiting halves are checked when idle")
    metrics_port: int = 9402
    signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM, mode 600) signing each audit partition's head; none: unsigned",
    )
    checkpoint_interval_s: float = Field(
        default=60.0, gt=0, description="how often each partition's head is signed, when it moved"
    )


class SdkSettings(BaseModel):
    """Defaults of the agency SDK (``ClientConfig`` reads them from the environment too)."""

    model_config = ConfigDict(frozen=True)

    agency: str = "demo-bank"
    lifetime_s: float = Field(
        default=60.0,
        gt=0,
        description="how long each request stays valid (its expires_at): longer than a failover takes",
    )
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="how long a caller waits for an answer before RequestTimeout; default lifetime + 10 s",
    )
    max_in_flight: int = Field(default=10_000, ge=1)
    answer_keys: Path | None = Field(
        default=None,
        description="the agency's private answer keys (a JWK Set file, its owner's only): sealed LOOKUP"
        " answers are opened with the key each names",
    )


class SmsSettings(BaseModel):
    """The SMS adapter (``dancu-bus sms``): the agency it is, its syntax's groups, replies, rate limits."""

    model_config = ConfigDict(frozen=True)

    agency: str = Field(default="sms", description="the connected agency the adapter asks SELF as")
    group_id: str = Field(
        default="sms.mo", description="its consumer group: an agency's groups start with its id and a dot"
    )
    purpose_code: str = Field(default="ART8-SELF", description="the sms agency's registered purpose")
    legal_basis: str = "Thông tư kết nối Cơ sở dữ liệu quốc gia về dân cư, Điều 8"
    groups: tuple[str, ...] = Field(
        default=("HOTEN", "CCCD", "DIACHI"),
        description="field group names a citizen may add (DC <id> <group>); the resolver's SELF_FIELDS"
        " has a set SMS.<group> for each",
    )
    diacritics: bool = Field(
        default=True, description="replies in Vietnamese with diacritics (UCS-2); false: without (GSM-7)"
    )
    max_segments: int = Field(default=4, ge=1, le=255, description="a longer reply is cut, with an ellipsis")
    phone_limit: int = Field(default=5, ge=1, description="messages per phone per phone_period_s")
    phone_period_s: float = Field(default=600.0, gt=0)
    id_limit: int = Field(default=3, ge=1, description="lookups of one personal id per id_period_s")
    id_period_s: float = Field(default=3600.0, gt=0)
    max_tracked: int = Field(
        default=100_000, ge=1, description="phones (and ids) the rate limits remember at most, each"
    )
    answer_timeout_s: float = Field(
        default=30.0, gt=0, description="how long a reply waits for the resolver before 'try later'"
    )
    max_message_bytes: int = Field(
        default=8192, ge=256, description="a larger MO record is a dead letter, not decoded"
    )
    max_batch: int = Field(default=100, ge=1, description="MO records read and answered together")
    metrics_port: int = Field(default=9403, description="/metrics, /healthz, /readyz; 0: any free port")


class PortalSettings(BaseModel):
    """The public service portal adapter (``dancu-bus portal``): agency ``portal`` on the bus."""

    model_config = ConfigDict(frozen=True)

    agency: str = Field(default="portal", description="the registry's agency the adapter asks as")
    group_id: str = Field(
        default="portal.adapter",
        description="consumer group of the portal's requests: the agency's id and a dot start it (its ACLs)",
    )
    # As deploy/agencies.yaml registers the portal's purpose (operations.self_record.PORTAL_PURPOSE).
    purpose_code: str = Field(default="ART9-SELF", description="the portal agency's registered purpose")
    legal_basis: str = Field(
        default="Thông tư kết nối Cơ sở dữ liệu quốc gia về dân cư, Điều 9",
        description="that purpose's legal basis",
    )
    answer_keys: Path | None = Field(
        default=None,
        description="the portal agency's private answer keys (JWK Set): SELF answers open with them",
    )
    max_page_size: int = Field(default=100, ge=1, le=100, description="history entries per page at most")
    max_request_bytes: int = Field(default=16 * 1024, ge=256, description="a larger request is a dead letter")
    max_batch: int = Field(default=100, ge=1, description="requests fetched and answered together")
    answer_timeout_s: float = Field(
        default=15.0, gt=0, description="how long the resolver's answer is awaited"
    )
    metrics_port: int = 9404


class Settings(BaseSettings):
    """Root of the settings tree."""

    model_config = SettingsConfigDict(env_prefix="DANCU_", env_nested_delimiter="__", frozen=True)

    kafka: KafkaSettings = KafkaSettings()
    broker: BrokerSettings = BrokerSettings()
    cluster: ClusterSettings = ClusterSettings()
    store: StoreSettings = StoreSettings()
    audit_index: AuditIndexSettings = AuditIndexSettings()
    resolver: ResolverSettings = ResolverSettings()
    audit: AuditSettings = AuditSettings()
    sdk: SdkSettings = SdkSettings()
    sms: SmsSettings = SmsSettings()
    portal: PortalSettings = PortalSettings()
    dead_letters: DeadLetterSettings = DeadLetterSettings()
    tracing: TracingSettings = TracingSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_host: str = Field(
        default="127.0.0.1",
        description="the address each service's /metrics, /healthz and /readyz endpoint binds"
        " (DANCU_METRICS_HOST): loopback unless set; 0.0.0.0 in a container, where the kubelet's probes and"
        " Prometheus reach the pod's own address",
    )
    lag_interval_s: float = Field(
        default=15.0,
        gt=0,
        description="how often the resolver and the audit read their group's lag (DANCU_LAG_INTERVAL_S)",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text: one line per event for a person; json: one JSON object per line for a log"
        " pipeline (timestamp, level, logger, event, and request_id, agency, operation, trace_id when known)",
    )
    chromium: str | None = Field(
        default=None,
        description="the Chromium that prints inspection reports to PDF (DANCU_CHROMIUM);"
        " default: chromium on the PATH",
    )

    @model_validator(mode="after")
    def _gate_outlasts_polls(self) -> Settings:
        # Between two polls the gate takes the audit's lag to grow with the time since the last one.
        bound = self.resolver.audit_max_lag_s
        if 0 < bound < 2 * self.lag_interval_s:
            raise ValueError(
                f"DANCU_RESOLVER__AUDIT_MAX_LAG_S ({bound:g} s) must be 0 (off) or at least twice"
                f" DANCU_LAG_INTERVAL_S ({self.lag_interval_s:g} s): the audit's lag is read that often"
            )
        return self


class _ClientEnvironment(BaseSettings):
    """The part of the settings tree an agency's SDK reads: the cluster, and its own defaults."""

    model_config = SettingsConfigDict(
        env_prefix="DANCU_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    kafka: KafkaSettings = KafkaSettings()
    sdk: SdkSettings = SdkSettings()


def client_environment() -> tuple[KafkaSettings, SdkSettings]:
    """``DANCU_KAFKA__*`` and ``DANCU_SDK__*`` as they are now: the SDK's defaults (arguments win)."""
    environment = _ClientEnvironment()
    return environment.kafka, environment.sdk


def kafka_environment(kafka: KafkaSettings) -> dict[str, str]:
    """The ``DANCU_KAFKA__*`` variables that give a child process the settings ``kafka``.

    A password read from a file is passed as that file's path, never as its value.
    """
    env = {
        "DANCU_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "DANCU_KAFKA__SECURITY_PROTOCOL": kafka.security_protocol,
        "DANCU_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
    }
    if kafka.username is not None:
        env["DANCU_KAFKA__USERNAME"] = kafka.username
    if kafka.password_file is not None:
        env["DANCU_KAFKA__PASSWORD_FILE"] = str(kafka.password_file)
    elif kafka.password is not None:
        env["DANCU_KAFKA__PASSWORD"] = kafka.password.get_secret_value()
    for name, path in (("SSL_CA", kafka.ssl_ca), ("SSL_CERT", kafka.ssl_cert), ("SSL_KEY", kafka.ssl_key)):
        if path is not None:
            env[f"DANCU_KAFKA__{name}"] = str(path)
    return env
