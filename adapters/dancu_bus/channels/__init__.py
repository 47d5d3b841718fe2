"""Citizen channel adapters: each turns a channel's messages into SELF requests as its own agency.

``portal`` serves the national public service portal (Art. 9): the citizen's record at the account's
assurance level, and who read it (the access history, from the audit index).
"""

__all__: list[str] = []
