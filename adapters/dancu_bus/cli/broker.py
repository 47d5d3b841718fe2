"""``dancu-bus dev broker start|stop|status|fetch``: the local single-node development broker."""

from __future__ import annotations

import argparse
import time

from dancu_bus.admin import broker_kafka, broker_status, fetch_broker, start_broker, stop_broker
from dancu_bus.admin.devbroker import ADMIN_USER, broker_home
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


def _secured_login(broker: BrokerSettings) -> str:
    """How to log in to the secured broker as its super user."""
    kept = "DANCU_BROKER__ADMIN_PASSWORD" if broker.admin_password else broker_home(broker) / "admin.password"
    return f"broker: SASL_PLAINTEXT + SCRAM-SHA-512; super user {ADMIN_USER}, password in {kept}"
