"""The registry's write side: every ``dancu-bus agency`` action, from registration to termination.

Each action reads the registry, applies a pure rule from ``dancu_bus.registry``, provisions what the
broker needs (topics, SCRAM user, ACLs) and writes the new record, which running services pick up
within about a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from pydantic import SecretStr

from dancu_bus.access import check_agency_id
from dancu_bus.admin.cluster import broker_count
from dancu_bus.admin.registry import RegistryClient
from dancu_bus.admin.topics import apply_topics
from dancu_bus.agencies import Agency, AgencyStatus, AnswerKey, Change, SecurityReview, StepRecord
from dancu_bus.errors import RefusedChange
from dancu_bus.registry import (
    MaintenanceWindow,
    RegistryCodec,
    answer_usage_report,
    issue_account,
    record_security_review,
    record_step,
    register_answer_key,
    request_usage_report,
    resume,
    schedule_maintenance,
    suspend,
    terminate,
)
from dancu_bus.settings import KafkaSettings
from dancu_bus.topic_names import TopicNames

__all__ = ["AgencyAdmin", "Issued"]

Clock = Callable[[], datetime]


class Issued:
    """The outcome of step 10: the account's secret (None on a cluster without authentication)."""

    def __init__(self, agency: Agency, secret: SecretStr | None) -> None:
        self.agency = agency
        self.secret = secret


class AgencyAdmin:
    """Registry actions on one cluster, as one operator (``by``) under one document."""

    def __init__(self, kafka: KafkaSettings, codec: RegistryCodec, clock: Clock | None = None) -> None:
        self._kafka = kafka
        self._registry = RegistryClient(kafka, codec)
        self._names = TopicNames(kafka.topic_prefix)
        self._clock = clock or (lambda: datetime.now(UTC))

    def agencies(self) -> tuple[Agency, ...]:
        """Every agency record."""
        return self._registry.read().agencies()

    def get(self, agency_id: str) -> Agency:
        """One agency's record; RefusedChange if there is none."""
        agency = self._registry.read().record(agency_id)
        if agency is None:
            raise RefusedChange(f"no agency {agency_id!r} in the registry")
        return agency

    def register(self, agency: Agency, document_ref: str, by: str) -> Agency:
        """Enter a new agency in the registry, ONBOARDING until its account is issued."""
        check_agency_id(agency.id)  # e.g. no "dancu-…" ids that would collide with platform principals
        if self._registry.read().record(agency.id) is not None:
            raise RefusedChange(f"agency {agency.id!r} is already registered")
        change = Change(
            at=self._clock(), by=by, document_ref=document_ref, action="REGISTER", detail=agency.name
        )
        record = agency.model_copy(
            update={"status": AgencyStatus.ONBOARDING, "onboarding": (), "history": (change,)}
        )
        self._registry.write_agency(record)
        return record

    def record_step(self, agency_id: str, step: StepRecord) -> Agency:
        """Record onboarding step 1–9."""
        agency = record_step(self.get(agency_id), step, self._clock())
        self._registry.write_agency(agency)
        return agency

    def review(self, agency_id: str, review: SecurityReview) -> Agency:
        """Record the security review of an "other platform" channel."""
        agency = record_security_review(self.get(agency_id), review, self._clock())
        self._registry.write_agency(agency)
        return agency

    def issue(
        self, agency_id: str, document_ref: str, by: str, answer_key: AnswerKey | None = None
    ) -> Issued:
        """Step 10: topics, SCRAM user and ACLs, then the ACTIVE record; refused while steps are missing."""
        agency = issue_account(self.get(agency_id), document_ref, by, self._clock(), answer_key)
        apply_topics(self._kafka, [agency_id], replication_factor=_single_node_factor(self._kafka))
        secret = None
        if self._kafka.security_protocol != "PLAINTEXT":
            from dancu_bus.admin.security import issue_agency_credentials

            secret = issue_agency_credentials(self._kafka, self._names, agency_id)
        self._registry.write_agency(agency)
        return Issued(agency, secret)

    def register_key(self, agency_id: str, key: AnswerKey, by: str) -> Agency:
        """A key rotation: answers are sealed to ``key`` from the moment its record is written."""
        return self._write(register_answer_key(self.get(agency_id), key, by, self._clock()))

    def suspend(self, agency_id: str, reason: str, document_ref: str, by: str) -> Agency:
        """Suspend one agency (Art. 11)."""
        return self._write(suspend(self.get(agency_id), reason, document_ref, by, self._clock()))

    def resume(self, agency_id: str, document_ref: str, by: str) -> Agency:
        """Serve a suspended agency again."""
        return self._write(resume(self.get(agency_id), document_ref, by, self._clock()))

    def terminate(self, agency_id: str, reason: str, document_ref: str, by: str) -> Agency:
        """End the connection (Art. 12): credentials and ACLs removed, so the broker refuses the agency."""
        agency = terminate(self.get(agency_id), reason, document_ref, by, self._clock())
        if self._kafka.security_protocol != "PLAINTEXT":
            from dancu_bus.admin.security import revoke_agency_credentials

            revoke_agency_credentials(self._kafka, self._names, agency_id)
        return self._write(agency)

    def request_usage_report(self, agency_id: str, reason: str, document_ref: str, by: str) -> Agency:
        """Demand the agency's usage report (Art. 14.1.b); it keeps exchanging meanwhile."""
        return self._write(request_usage_report(self.get(agency_id), reason, document_ref, by, self._clock()))

    def answer_usage_report(self, agency_id: str, document_ref: str, by: str) -> Agency:
        """Record the report the agency delivered, closing its oldest open request."""
        return self._write(answer_usage_report(self.get(agency_id), document_ref, by, self._clock()))

    def schedule_maintenance(self, window: MaintenanceWindow, by: str) -> None:
        """Suspend every agency during ``window``; refused with under 7 working days' notice."""
        platform = schedule_maintenance(self._registry.read().platform, window, by, self._clock())
        self._registry.write_platform(platform)

    def import_agencies(self, agencies: Iterable[Agency], by: str) -> list[str]:
        """Development and tests only: write records as given, skipping onboarding."""
        now = self._clock()
        written = []
        for agency in agencies:
            change = Change(
                at=now, by=by, document_ref="DEV-IMPORT", action="IMPORT", detail="development import"
            )
            self._registry.write_agency(agency.model_copy(update={"history": (*agency.history, change)}))
            written.append(agency.id)
        return written

    def _write(self, agency: Agency) -> Agency:
        self._registry.write_agency(agency)
        return agency


def _single_node_factor(kafka: KafkaSettings) -> int | None:
    # topics.yaml asks for 3 replicas; a one-broker development cluster can only hold one.
    return 1 if broker_count(kafka) == 1 else None
