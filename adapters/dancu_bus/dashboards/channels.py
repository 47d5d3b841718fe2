"""The citizens' channels (Art. 8, 9): are SMS lookups and the portal answered, and how?

The adapters are agencies of the bus, so their requests, refusals and latency are on the agency
dashboard (agency ``sms``, ``portal``); this one shows what only the adapters see: MOs by what became of
them, the segments and their encoding, the portal's answers by service, dead letters, the processes.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as model

from dancu_bus.dashboards._sections import PORTAL_JOB, SMS_JOB, process_panels
from dancu_bus.dashboards._widgets import (
    EVENTS_PER_SECOND,
    Panel,
    Query,
    frame,
    numbered,
    rate,
    rates_by,
    section,
    stat_panel,
    timeseries_panel,
)

__all__ = ["channels"]

# Either adapter may be absent, and a sum over no series is empty: each side counts 0 then.
_SMS_DEAD_LETTERS = "(sum(" + rate("dancu_sms_messages_total", 'outcome="DEAD_LETTER"') + ") or vector(0))"
_PORTAL_DEAD_LETTERS = "(sum(" + rate("dancu_portal_dead_letters_total") + ") or vector(0))"
_REPLIED = "sum(" + rate("dancu_sms_messages_total", 'outcome!~"SILENT|DEAD_LETTER"') + ")"


def channels() -> model.Dashboard:
    """SMS messages and segments, portal answers, dead letters, and each adapter's processes."""
    board = frame(
        "dancu-channels",
        "dancu-bus citizens' channels",
        "SMS lookups (Art. 8) and the public service portal (Art. 9): what the adapters answered",
        ["channels"],
    )
    section(board, "Now", _headline())
    section(board, "SMS", _sms())
    section(board, "Portal", _portal())
    section(board, "SMS adapter processes", process_panels(SMS_JOB))
    section(board, "Portal adapter processes", process_panels(PORTAL_JOB))
    return numbered(board.build())


def _headline() -> list[Panel]:
    return [
        stat_panel(
            "SMS read",
            "MOs read from the gateway per second, whatever became of them",
            EVENTS_PER_SECOND,
            Query(f"sum({rate('dancu_sms_messages_total')})", "MOs"),
        ),
        stat_panel(
            "SMS lookups",
            "SELF requests the SMS adapter sent the resolver per second (after syntax and rate limits)",
            EVENTS_PER_SECOND,
            Query(f"sum({rate('dancu_sms_lookups_total')})", "lookups"),
        ),
        stat_panel(
            "Portal answers",
            "Portal requests answered per second, every service and status",
            EVENTS_PER_SECOND,
            Query(f"sum({rate('dancu_portal_answers_total')})", "answers"),
        ),
        stat_panel(
            "Channel dead letters",
            "Records of the gateway or the portal set aside as unusable, per second",
            EVENTS_PER_SECOND,
            Query(f"{_SMS_DEAD_LETTERS} + {_PORTAL_DEAD_LETTERS}", "dead letters"),
        ),
    ]


def _sms() -> list[Panel]:
    return [
        rates_by(
            "MOs by outcome",
            "RECORD (the citizen's record sent), NOT_BOUND (the sender is not the phone on the record, or no"
            " such id), HELP, TRY_LATER (a rate limit, told once), SILENT (rate-limited, already told),"
            " UNAVAILABLE (no answer from the resolver), DEAD_LETTER",
            "dancu_sms_messages_total",
            "outcome",
        ).span(8),
        rates_by(
            "Segments by encoding",
            "SMS segments written in replies: GSM-7 when the text allows, UCS-2 to keep diacritics",
            "dancu_sms_segments_total",
            "encoding",
        ).span(8),
        timeseries_panel(
            "Segments per reply",
            "Segments written per MO replied to (not SILENT, not dead letters): what the replies cost",
            "short",
            [Query(f"sum({rate('dancu_sms_segments_total')}) / {_REPLIED}", "segments per reply")],
        ).span(8),
    ]


def _portal() -> list[Panel]:
    return [
        rates_by(
            "Answers by service",
            "CITIZEN_INFO (the citizen's own record) and ACCESS_HISTORY (who read my data)",
            "dancu_portal_answers_total",
            "service",
        ),
        rates_by(
            "Answers by status",
            "OK, or REJECTED with a reason (another person's id, level 1 asking the history, …)",
            "dancu_portal_answers_total",
            "status",
        ),
    ]
