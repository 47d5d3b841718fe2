"""The resolver: admits each request against its agency, answers it through its operation."""

from dancu_bus.resolver.answers import reject, respond
from dancu_bus.resolver.directory import agency_directory
from dancu_bus.resolver.handler import ResolverHandler
from dancu_bus.resolver.policy import Admission, AdmissionLimits, Admitted, Rejection
from dancu_bus.resolver.service import Edges, run_resolver

__all__ = [
    "Admission",
    "AdmissionLimits",
    "Admitted",
    "Edges",
    "Rejection",
    "ResolverHandler",
    "agency_directory",
    "reject",
    "respond",
    "run_resolver",
]
