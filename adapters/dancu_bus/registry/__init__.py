"""The registry of connected agencies: onboarding, suspension, termination, and its live view.

Records live in the compacted topic ``ndxp.dancu.registry`` (key = agency id); the CLI writes
them and every service reads them into a ``RegistryView``.
"""

from dancu_bus.registry.lifecycle import resume, schedule_maintenance, suspend, terminate, working_days
from dancu_bus.registry.onboarding import (
    SECURITY_CONFIRMATIONS,
    STEPS,
    issue_account,
    missing_for_account,
    record_security_review,
    record_step,
    register_answer_key,
)
from dancu_bus.registry.platform import PLATFORM_KEY, MaintenanceWindow, Platform
from dancu_bus.registry.view import RegistryView
from dancu_bus.registry.wire import RegistryCodec

__all__ = [
    "PLATFORM_KEY",
    "SECURITY_CONFIRMATIONS",
    "STEPS",
    "MaintenanceWindow",
    "Platform",
    "RegistryCodec",
    "RegistryView",
    "issue_account",
    "missing_for_account",
    "record_security_review",
    "record_step",
    "register_answer_key",
    "resume",
    "schedule_maintenance",
    "suspend",
    "terminate",
    "working_days",
]
