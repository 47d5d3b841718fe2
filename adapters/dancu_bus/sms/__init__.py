"""The SMS channel (Art. 8): citizens look up their own record by SMS, free of charge.

``dancu-bus sms`` reads the gateway's incoming messages (``vn.dancu.SmsMo`` on ``<prefix>.sms.mo``),
asks the resolver SELF as the connected agency ``sms`` (bound by the sender's phone), and writes the
replies (``vn.dancu.SmsMt`` on ``<prefix>.sms.mt``), GSM-7 or UCS-2 in concatenated segments.
The syntax (``syntax``), the segments (``segments``), the rate limits (``limits``), the texts
(``replies``) and the decisions (``desk``) are pure; ``service`` is the process.
"""

from dancu_bus.sms.desk import Ask, Desk, Reply
from dancu_bus.sms.replies import Kind
from dancu_bus.sms.segments import Encoding, Segment, reassemble, segments
from dancu_bus.sms.service import SmsAdapter, run_sms
from dancu_bus.sms.syntax import Help, Lookup, parse
from dancu_bus.sms.wire import Mo, Mt, SmsWire

__all__ = [
    "Ask",
    "Desk",
    "Encoding",
    "Help",
    "Kind",
    "Lookup",
    "Mo",
    "Mt",
    "Reply",
    "Segment",
    "SmsAdapter",
    "SmsWire",
    "parse",
    "reassemble",
    "run_sms",
    "segments",
]
