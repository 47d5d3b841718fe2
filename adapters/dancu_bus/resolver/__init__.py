"""The resolver: admits each request against its agency, answers it from the population store."""

from dancu_bus.resolver.answers import answer, lookup, reject, verify
from dancu_bus.resolver.directory import agency_directory
from dancu_bus.resolver.policy import Admitted, Rejection, admit
from dancu_bus.resolver.service import ResolverHandler, run_resolver

__all__ = [
    "Admitted",
    "Rejection",
    "ResolverHandler",
    "admit",
    "agency_directory",
    "answer",
    "lookup",
    "reject",
    "run_resolver",
    "verify",
]
