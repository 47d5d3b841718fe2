"""How the demo prints exchanges and audit records, and how it reads the audit topic back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from dancu_bus.admin.reader import TopicRecord, read_to_end, read_topic
from dancu_bus.codec import Codec
from dancu_bus.contracts import Address, AuditRecord, DisclosedField, Request, Response
from dancu_bus.settings import KafkaSettings
from dancu_bus.topic_names import TopicNames

__all__ = ["describe_audit", "describe_exchange", "read_audit", "sealed_on_the_broker"]


def read_audit(
    kafka: KafkaSettings, codec: Codec, request_ids: Sequence[str], timeout_s: float = 60
) -> list[AuditRecord]:
    """The latest audit record of each request id, read back from the audit topic.

    The audit is keyed by exchange id; a request id the agency used for several request records has
    several exchanges, and this gives the last one recorded.
    """
    wanted = set(request_ids)
    latest: dict[str, AuditRecord] = {}
    read = 0

    def done(records: Sequence[TopicRecord]) -> bool:
        nonlocal read
        for record in records[read:]:
            audit = codec.decode_audit(record.value) if record.value is not None else None
            if audit is not None and audit.request_id in wanted:
                latest[audit.request_id] = audit
        read = len(records)
        return wanted <= latest.keys()

    read_topic(kafka, TopicNames(kafka.topic_prefix).audit, done, timeout_s)
    return [latest[rid] for rid in request_ids if rid in latest]


def sealed_on_the_broker(
    kafka: KafkaSettings, codec: Codec, exchanges: Sequence[tuple[Request, Response]]
) -> tuple[bool, str]:
    """Whether every answer that disclosed values lies sealed on its response topic, and a line saying so.

    The answers the demo printed were opened by each agency's SDK; this reads the records themselves,
    as the broker keeps them.
    """
    disclosing = {r.request_id: r.agency for r, a in exchanges if a.fields_disclosed}
    keys: dict[str, str | None] = {}
    for agency in sorted(set(disclosing.values())):
        for record in read_to_end(kafka, TopicNames(kafka.topic_prefix).response(agency)):
            stored = codec.decode_response(record.value)
            if stored.request_id in disclosing and stored.lookup is not None:
                keys[stored.request_id] = stored.lookup.sealed.key_id if stored.lookup.sealed else None
    sealed = [k for rid, k in keys.items() if k is not None]
    ok = len(sealed) == len(disclosing)
    named = ", ".join(sorted(set(sealed))) or "none"
    line = (
        f"on the broker: {len(sealed)} of {len(disclosing)} answers with personal data sealed (keys {named})"
    )
    return ok, line + ("" if ok else "; SOME IN CLEAR")


def describe_exchange(request: Request, response: Response) -> str:
    """One readable block per exchange."""
    head = f"{request.agency} {request.operation} {request.personal_id} purpose={request.purpose_code or '∅'}"
    if response.reason_code is not None:
        return f"{head}\n    REJECTED {response.reason_code}: {response.message_vi} / {response.message_en}"
    if response.verify is not None:
        fields = ", ".join(
            f"{m.field}={m.outcome.value}"
            for m in response.verify.fields
            if m.outcome.value != "NOT_SUPPLIED"
        )
        return f"{head}\n    OK verdict={response.verify.verdict.value} [{fields}]"
    assert response.lookup is not None
    lines = [f"{head}\n    OK found={response.lookup.found}"]
    lines += [
        f"      {f.name} = {_text(f.value)}  (source {f.source}, updated {f.updated_on}){_conversion(f)}"
        for f in response.lookup.fields
    ]
    return "\n".join(lines)


def _conversion(field: DisclosedField) -> str:
    if field.converted_from is None:
        return ""
    others = f", {len(field.alternatives)} other candidate(s)" if field.alternatives else ""
    return f"\n        converted from {_text(field.converted_from)}{others}"


def _text(value: str | date | Address | None) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Address):
        district = f"/{value.district_code}" if value.district_code else ""
        return f"{value.detail}, {value.scheme} {value.province_code}{district}/{value.commune_code}"
    return "∅" if value is None else value


def describe_audit(record: AuditRecord) -> str:
    """One line per audit record."""
    disclosed = ",".join(record.fields_disclosed) or "-"
    return (
        f"audit {record.exchange_id[:8]} {record.agency} officer={record.officer_id} case={record.case_no} "
        f"{record.operation} id={record.personal_id} {record.status} {record.reason_code or ''} "
        f"disclosed={disclosed}"
    )
