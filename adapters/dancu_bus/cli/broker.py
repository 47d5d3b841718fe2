"""``dancu-bus dev broker start|stop|status|fetch``, the local broker; ``dev cert``, a client certificate.

``dev cluster``, the local three-node cluster, is ``cli.cluster``'s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dancu_bus.cli.cluster import register_cluster
from dancu_bus.dev import broker_kafka, broker_status, fetch_broker, start_broker, stop_broker
from dancu_bus.dev.broker import ADMIN_USER, broker_home, dev_ca
from dancu_bus.dev.ca import issue_client_certificate
from dancu_bus.settings import BrokerSettings, Settings

__all__ = ["register"]

# ``broker.sh status`` exits with 3 when the broker is not running; so does this command.
_NOT_RUNNING = 3


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dev broker``."""
    dev = commands.add_parser("dev", help="development helpers")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True)
    broker = dev_commands.add_parser(
        "broker",
        help="a single-node Kafka on 127.0.0.1 from Maven Central jars (DANCU_BROKER__* settings)",
    )
    broker.add_argument("action", choices=["start", "stop", "status", "fetch"])
    broker.set_defaults(run=run_broker)
    cert = dev_commands.add_parser(
        "cert",
        help="a client certificate for mutual TLS, signed by the secured development broker's CA",
    )
    cert.add_argument("name", help="the certificate's common name: the agency or service id")
    cert.add_argument("--out", type=Path, required=True, help="folder for <name>.crt and <name>.key (0600)")
    cert.set_defaults(run=run_cert)
    register_cluster(dev_commands)


def run_broker(args: argparse.Namespace, settings: Settings) -> int:
    """Run one broker action; the script's progress is shown as it happens."""
    broker = settings.broker
    if args.action == "status":
        status = broker_status(broker)
        print(status.detail)
        return 0 if status.running else _NOT_RUNNING
    if args.action == "fetch":
        fetch_broker(broker, echo=True)
    elif args.action == "stop":
        stop_broker(broker, echo=True)
    else:
        began = time.monotonic()
        if not start_broker(broker, echo=True):
            print(broker_status(broker).detail)
        where = broker_kafka(broker).bootstrap_servers
        print(f"broker: ready at {where} ({time.monotonic() - began:.1f} s)")
        if broker.secure:
            print(_secured_login(broker))
    return 0


def run_cert(args: argparse.Namespace, settings: Settings) -> int:
    """Issue ``<out>/<name>.crt`` and ``.key``; print the settings that use them."""
    issued = issue_client_certificate(dev_ca(settings.broker), args.name, args.out)
    print(f"cert: {issued.certificate} and {issued.key} (signed by {dev_ca(settings.broker).certificate})")
    print(f"  export DANCU_KAFKA__SSL_CERT={issued.certificate} DANCU_KAFKA__SSL_KEY={issued.key}")
    return 0


def _secured_login(broker: BrokerSettings) -> str:
    """How to log in to the secured broker as its super user."""
    kept = "DANCU_BROKER__ADMIN_PASSWORD" if broker.admin_password else broker_home(broker) / "admin.password"
    ca = dev_ca(broker).certificate
    return f"broker: SASL_SSL + SCRAM-SHA-512, CA {ca}; super user {ADMIN_USER}, password in {kept}"
