"""librdkafka configuration from the settings tree; pure, shared by the admin code and the SDK."""

from __future__ import annotations

from dancu_bus.errors import ConfigError
from dancu_bus.settings import KafkaSettings

__all__ = ["client_config"]


def client_config(kafka: KafkaSettings) -> dict[str, str]:
    """The librdkafka properties that reach and authenticate to the cluster ``kafka`` describes."""
    config = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol,
    }
    if kafka.security_protocol == "PLAINTEXT":
        return config
    if kafka.username is None or kafka.password is None:
        raise ConfigError(
            f"security protocol {kafka.security_protocol} needs a username and a password"
            " (DANCU_KAFKA__USERNAME, DANCU_KAFKA__PASSWORD)"
        )
    config["sasl.mechanism"] = kafka.sasl_mechanism
    config["sasl.username"] = kafka.username
    config["sasl.password"] = kafka.password.get_secret_value()
    if kafka.security_protocol == "SASL_SSL":
        # librdkafka checks the broker's name against its certificate by default (since 2.0).
        locations = {"ca": "ssl.ca.location", "cert": "ssl.certificate.location", "key": "ssl.key.location"}
        for role, path in kafka.tls_files().items():
            config[locations[role]] = str(path)
    return config
