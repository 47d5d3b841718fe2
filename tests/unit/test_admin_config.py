"""librdkafka configuration built from KafkaSettings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from dancu_bus.admin.config import client_config
from dancu_bus.errors import ConfigError
from dancu_bus.settings import KafkaSettings


def test_plaintext_config_has_no_credentials() -> None:
    """A PLAINTEXT cluster gets only the bootstrap servers and the protocol."""
    config = client_config(KafkaSettings(bootstrap_servers="k1:9092,k2:9092"))
    assert config == {"bootstrap.servers": "k1:9092,k2:9092", "security.protocol": "PLAINTEXT"}


def test_plaintext_never_sends_credentials() -> None:
    """Credentials set for a PLAINTEXT cluster are not put in the config, so they never travel in clear."""
    kafka = KafkaSettings(username="admin", password=SecretStr("s3cret"))
    assert not any(key.startswith("sasl.") for key in client_config(kafka))


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_config_carries_scram_credentials(protocol: str) -> None:
    """A SASL cluster gets the SCRAM mechanism, the username and the secret password revealed."""
    kafka = KafkaSettings.model_validate(
        {"security_protocol": protocol, "username": "dancu-resolver", "password": "s3cret"}
    )
    assert client_config(kafka) == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": protocol,
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "dancu-resolver",
        "sasl.password": "s3cret",
    }


def test_sasl_without_credentials_is_a_config_error() -> None:
    """SASL without a username and password is refused up front, naming the variables to set."""
    kafka = KafkaSettings(security_protocol="SASL_SSL", username="dancu-audit")
    with pytest.raises(ConfigError, match="DANCU_KAFKA__PASSWORD"):
        client_config(kafka)
