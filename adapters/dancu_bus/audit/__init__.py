"""The audit consumer (Art. 13): an independent witness that records every exchange."""

from dancu_bus.audit.service import AuditHandler, run_audit
from dancu_bus.audit.witness import Pairing, SeenRequest, SeenResponse, audit_record

__all__ = ["AuditHandler", "Pairing", "SeenRequest", "SeenResponse", "audit_record", "run_audit"]
