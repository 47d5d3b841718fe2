"""``dancu-bus demo``: the whole exchange on a secured local broker, printed; and its helpers."""

from dancu_bus.demo.report import describe_audit, describe_exchange, read_audit
from dancu_bus.demo.run import DEMO_CITIZENS, run_demo

__all__ = ["DEMO_CITIZENS", "describe_audit", "describe_exchange", "read_audit", "run_demo"]
