"""The demo's secured platform: the broker's super user, the services' own principals, onboarded agencies."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TextIO

from pydantic import SecretStr

from dancu_bus.access import AUDIT, PLATFORM_PRINCIPALS, REGISTRY, RESOLVER, platform_ids
from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.admin.security import ensure_platform_principals, issue_agency_credentials
from dancu_bus.agencies import Agency, AgencyStatus, AnswerKey, StepRecord
from dancu_bus.codec import load_schemas
from dancu_bus.demo.keys import SampleKey
from dancu_bus.errors import RefusedChange
from dancu_bus.operations import OPERATIONS
from dancu_bus.registry import RegistryCodec
from dancu_bus.settings import KafkaSettings, Settings
from dancu_bus.topic_names import TopicNames

__all__ = ["Logins", "login", "onboard_agencies", "set_up_principals"]

Logins = dict[str, KafkaSettings]
_BY = "demo-operator"
_CONFIRMATIONS = ("INFOSEC_LEVEL", "PERSONAL_DATA_PROTECTION")


def login(admin: KafkaSettings, user: str, password: SecretStr) -> KafkaSettings:
    """Client settings of ``user`` on the cluster ``admin`` reaches."""
    return admin.model_copy(update={"username": user, "password": password})


def set_up_principals(settings: Settings, admin: KafkaSettings, out: TextIO) -> Logins:
    """SCRAM users for the resolver, the audit consumer and the registry, each with only its ACLs."""
    passwords = {user: SecretStr(secrets.token_urlsafe(24)) for user in PLATFORM_PRINCIPALS}
    ensure_platform_principals(admin, TopicNames(admin.topic_prefix), passwords, platform_ids(settings))
    print(f"security: principals {', '.join(PLATFORM_PRINCIPALS)} with their own ACLs", file=out)
    return {user: login(admin, user, password) for user, password in passwords.items()}


def onboard_agencies(
    admin: KafkaSettings, agencies: Sequence[Agency], keys: Mapping[str, SampleKey], out: TextIO
) -> Logins:
    """Take each agency through the ten steps of Art. 7 (or rotate its secret if it is already active).

    Agencies that ask for personal data register their answer key at step 10 (``keys``).
    """
    registry = AgencyAdmin(admin, RegistryCodec(load_schemas(OPERATIONS)))
    known = {a.id: a for a in registry.agencies()}
    logins: Logins = {}
    for agency in agencies:
        current = known.get(agency.id)
        key = keys[agency.id].public if agency.id in keys else None
        if current is None:
            secret = _onboard(registry, agency, key, out, show_refusal=not logins)
        else:
            secret = _reactivate(registry, admin, current, key, out)
        logins[agency.id] = login(admin, agency.id, secret)
    return logins


def _onboard(
    registry: AgencyAdmin, agency: Agency, key: AnswerKey | None, out: TextIO, show_refusal: bool
) -> SecretStr:
    registry.register(agency, "DEMO-CV-0", _BY)
    for step in range(1, 10):
        if step == 6 and show_refusal:
            _show_refused_issue(registry, agency.id, out)
        confirmations = _CONFIRMATIONS if step == 6 else ()
        record = StepRecord(
            step=step,
            document_ref=f"DEMO-CV-{step}",
            on=date(2026, 11, step),
            by=_BY,
            confirmations=confirmations,
        )
        registry.record_step(agency.id, record)
    issued = registry.issue(agency.id, "DEMO-QD-10", _BY, key)
    assert issued.secret is not None, "the demo runs on a secured broker"
    sealed = f", answer key {key.id}" if key is not None else ""
    print(
        f"onboarding: {agency.id}: steps 1–9 recorded, account issued (SCRAM user, ACLs, topics{sealed})",
        file=out,
    )
    return issued.secret


def _show_refused_issue(registry: AgencyAdmin, agency_id: str, out: TextIO) -> None:
    try:
        registry.issue(agency_id, "DEMO-QD-10", _BY)
    except RefusedChange as refusal:
        # Shown once, to make the rule visible: the account comes only after steps 1–9.
        print(f"onboarding: {refusal}".replace("\n", "\n            "), file=out)


def _reactivate(
    registry: AgencyAdmin, admin: KafkaSettings, agency: Agency, key: AnswerKey | None, out: TextIO
) -> SecretStr:
    if agency.status is AgencyStatus.SUSPENDED:
        registry.resume(agency.id, "DEMO-RESUME", _BY)
    if key is not None and key.id not in {k.id for k in agency.answer_keys}:
        registry.register_key(agency.id, key, _BY)  # its key files were made anew: a rotation
    # Secrets are shown once and not kept: an agency onboarded by an earlier run gets a new one.
    secret = issue_agency_credentials(admin, TopicNames(admin.topic_prefix), agency.id)
    print(f"onboarding: {agency.id}: already connected; its secret was rotated", file=out)
    return secret


def service_logins(logins: Logins) -> tuple[KafkaSettings, KafkaSettings, KafkaSettings]:
    """The resolver's, the audit consumer's and the registry's logins."""
    return logins[RESOLVER], logins[AUDIT], logins[REGISTRY]
