"""The secured development broker's settings and the aiokafka SASL options, without a broker."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import SecretStr

from dancu_bus.dev.broker import ADMIN_USER, _environment, broker_home, broker_kafka
from dancu_bus.errors import ConfigError
from dancu_bus.settings import BrokerSettings, KafkaSettings
from dancu_bus.transport.kafka import kafka_options


def test_secured_and_plain_brokers_default_to_different_homes() -> None:
    """A secured broker never reuses the plain broker's storage by default."""
    assert broker_home(BrokerSettings()).name == "broker"
    assert broker_home(BrokerSettings(secure=True)).name == "secure-broker"


def test_plain_broker_clients_need_no_credentials() -> None:
    """The plain broker is reached over PLAINTEXT, as before."""
    kafka = broker_kafka(BrokerSettings(port=9092))
    assert kafka.security_protocol == "PLAINTEXT" and kafka.username is None


def test_secured_broker_clients_log_in_as_the_super_user_with_the_kept_password(tmp_path: Path) -> None:
    """Without a password in the settings, the one broker.sh generated into the home is used."""
    (tmp_path / "admin.password").write_text("generated-0123\n")
    kafka = broker_kafka(BrokerSettings(home=tmp_path, port=19192, secure=True))
    assert kafka.bootstrap_servers == "127.0.0.1:19192"
    assert kafka.security_protocol == "SASL_SSL" and kafka.username == ADMIN_USER
    assert kafka.ssl_ca == tmp_path / "tls" / "ca.crt"  # the development CA, made at its first start
    assert kafka.password is not None and kafka.password.get_secret_value() == "generated-0123"


def test_secured_broker_without_a_password_anywhere_says_how_to_get_one(tmp_path: Path) -> None:
    """No password in the settings and none generated yet is a ConfigError naming both remedies."""
    with pytest.raises(ConfigError, match="DANCU_BROKER__ADMIN_PASSWORD"):
        broker_kafka(BrokerSettings(home=tmp_path, secure=True))


def test_the_script_gets_the_mode_and_only_the_settings_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """broker.sh is told the mode, and a stray DANCU_BROKER_ADMIN_PASSWORD never overrides the settings."""
    monkeypatch.setenv("DANCU_BROKER_ADMIN_PASSWORD", "stray")
    plain = _environment(BrokerSettings())
    given = _environment(BrokerSettings(secure=True, admin_password=SecretStr("given-0123")))
    assert plain["DANCU_BROKER_SECURE"] == "0" and "DANCU_BROKER_ADMIN_PASSWORD" not in plain
    assert given["DANCU_BROKER_SECURE"] == "1" and given["DANCU_BROKER_ADMIN_PASSWORD"] == "given-0123"


def test_aiokafka_gets_scram_options_for_sasl() -> None:
    """The services' aiokafka clients log in with SCRAM-SHA-512 and the password revealed."""
    kafka = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", username="dancu-resolver", password=SecretStr("s3cret")
    )
    options = kafka_options(kafka)
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("dancu-resolver", "s3cret")
    assert "ssl_context" not in options


def test_aiokafka_gets_a_tls_context_for_sasl_ssl() -> None:
    """SASL_SSL gets a TLS context that verifies the broker, which aiokafka does not make by itself."""
    kafka = KafkaSettings(security_protocol="SASL_SSL", username="u", password=SecretStr("p"))
    context = kafka_options(kafka)["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode is ssl.CERT_REQUIRED


def test_aiokafka_without_credentials_for_sasl_is_a_config_error() -> None:
    """A SASL protocol without a username and password is refused before any connection."""
    with pytest.raises(ConfigError, match="DANCU_KAFKA__USERNAME"):
        kafka_options(KafkaSettings(security_protocol="SASL_PLAINTEXT"))


def test_plaintext_aiokafka_options_carry_no_credentials() -> None:
    """PLAINTEXT clients never get SASL options, so credentials never travel in clear."""
    kafka = KafkaSettings(username="u", password=SecretStr("p"))
    assert not any(key.startswith("sasl") for key in kafka_options(kafka))
