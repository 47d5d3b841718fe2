"""The registry of connected agencies: onboarding, suspension, termination, usage reports, its live view.

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
from dancu_bus.registry.usage_reports import (
    USAGE_REPORT_ANSWER,
    USAGE_REPORT_REQUEST,
    UsageRequest,
    answer_usage_report,
    open_usage_requests,
    request_usage_report,
    usage_requests,
)
from dancu_bus.registry.view import RegistryView
from dancu_bus.registry.wire import RegistryCodec

__all__ = [
    "PLATFORM_KEY",
    "SECURITY_CONFIRMATIONS",
    "STEPS",
    "USAGE_REPORT_ANSWER",
    "USAGE_REPORT_REQUEST",
    "MaintenanceWindow",
    "Platform",
    "RegistryCodec",
    "RegistryView",
    "UsageRequest",
    "answer_usage_report",
    "issue_account",
    "missing_for_account",
    "open_usage_requests",
    "record_security_review",
    "record_step",
    "register_answer_key",
    "request_usage_report",
    "resume",
    "schedule_maintenance",
    "suspend",
    "terminate",
    "usage_requests",
    "working_days",
]
