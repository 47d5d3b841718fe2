"""``dancu-bus check hostile``: what a connected agency with valid credentials can do to the service.

``probes`` says what each attack sends and the one right answer (pure); ``battery`` runs them against
a running stack as that agency while another agency is served, and judges every answer, dead letter
and audit record; ``report`` prints the table.
"""

from dancu_bus.hostile.battery import Logins, ProbeResult, Served, Target, Witness, run_battery
from dancu_bus.hostile.probes import Arrival, Asking, Expected, Outcome, Probe, Sent, battery, judge
from dancu_bus.hostile.report import describe_results

__all__ = [
    "Arrival",
    "Asking",
    "Expected",
    "Logins",
    "Outcome",
    "Probe",
    "ProbeResult",
    "Sent",
    "Served",
    "Target",
    "Witness",
    "battery",
    "describe_results",
    "judge",
    "run_battery",
]
