"""``dancu-bus agency ...``: register, onboard (Art. 7), answer keys, publish (Art. 4.2), suspend, terminate,
usage reports (Art. 14.1.b).

Secrets never pass through argv or the terminal: an issued SCRAM secret goes to a file only its owner may
read, a generated private key likewise; what is printed are paths.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dancu_bus.admin.agencies import AgencyAdmin
from dancu_bus.agencies import Agency, SecurityReview, StepRecord, load_directory
from dancu_bus.codec import load_schemas
from dancu_bus.errors import ConfigError
from dancu_bus.keys import AnswerKey, generate_key_pair, read_public_key
from dancu_bus.operations import OPERATIONS
from dancu_bus.registry import (
    SECURITY_CONFIRMATIONS,
    STEPS,
    MaintenanceWindow,
    RegistryCodec,
    open_usage_requests,
    usage_requests,
)
from dancu_bus.secret_files import write_private
from dancu_bus.settings import Settings

__all__ = ["public_rows", "register", "shown_record", "usage_rows"]


def register(commands: Any) -> None:
    """Add ``agency`` and its actions."""
    agency = commands.add_parser("agency", help="the registry of connected agencies")
    actions = agency.add_subparsers(dest="agency_command", required=True)
    _add_register(actions)
    _add_onboarding(actions)
    _add_keys(actions)
    _add_listing(actions)
    _add_lifecycle(actions)
    _add_usage_reports(actions)


def _admin(settings: Settings) -> AgencyAdmin:
    return AgencyAdmin(settings.kafka, RegistryCodec(load_schemas(OPERATIONS)))


def _signed(parser: argparse.ArgumentParser, document: bool = True) -> None:
    parser.add_argument("--by", required=True, help="who makes the change (recorded in the history)")
    if document:
        parser.add_argument("--document", required=True, help="reference of the document the change rests on")


def _add_register(actions: Any) -> None:
    new = actions.add_parser(
        "register", help="enter a new agency from a YAML description (status ONBOARDING)"
    )
    new.add_argument(
        "file", type=Path, help="YAML: id, name, code, category, channel, focal_point, purposes, …"
    )
    _signed(new)
    new.set_defaults(run=_run_register)
    dev = actions.add_parser(
        "import", help="development and tests only: write agencies as given, no onboarding"
    )
    dev.add_argument("file", type=Path, help="an agencies file like deploy/agencies.yaml")
    _signed(dev, document=False)
    dev.set_defaults(run=_run_import)


def _add_onboarding(actions: Any) -> None:
    step = actions.add_parser(
        "onboard",
        help="record an onboarding step 1–9 (Art. 7)",
        description="\n".join(f"{n}. {t}" for n, t in STEPS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    step.add_argument("agency")
    step.add_argument("--step", type=int, required=True, choices=range(1, 10))
    step.add_argument(
        "--date", type=date.fromisoformat, required=True, help="date of the document (YYYY-MM-DD)"
    )
    step.add_argument(
        "--confirm",
        action="append",
        default=[],
        choices=sorted(SECURITY_CONFIRMATIONS),
        help="a security confirmation (step 6 needs both)",
    )
    _signed(step)
    step.set_defaults(run=_run_step)
    review = actions.add_parser("review", help="record the security review of an 'other platform' (Art. 5.3)")
    review.add_argument("agency")
    review.add_argument("--date", type=date.fromisoformat, required=True)
    review.add_argument("--rejected", action="store_true", help="the review did not approve the platform")
    _signed(review)
    review.set_defaults(run=_run_review)
    issue = actions.add_parser(
        "issue", help="step 10: issue the account (topics, SCRAM user, ACLs) and register its answer key"
    )
    issue.add_argument("agency")
    _answer_key_arguments(issue, required=False)
    issue.add_argument(
        "--secret-file",
        type=Path,
        help="secured cluster: write the agency's SCRAM secret here (mode 600); it is printed nowhere",
    )
    _signed(issue)
    issue.set_defaults(run=_run_issue)


def _answer_key_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--answer-key",
        type=Path,
        required=required,
        help="the agency's public JWK (EC P-256/384/521, RSA >= 2048 bits): personal data is sealed to it",
    )
    parser.add_argument("--key-id", help="the key's id (kid); default the JWK's own kid")


def _add_keys(actions: Any) -> None:
    rotate = actions.add_parser(
        "rotate-key", help="register a new answer key; earlier ones stay, so their answers still open"
    )
    rotate.add_argument("agency")
    _answer_key_arguments(rotate, required=True)
    _signed(rotate)
    rotate.set_defaults(run=_run_rotate)
    keygen = actions.add_parser(
        "keygen",
        help="the agency's side: a new P-256 answer key, its public JWK to register and its private half",
    )
    keygen.add_argument("--key-id", required=True, help="the new key's id, e.g. demo-bank-2026-12")
    keygen.add_argument("--out", type=Path, required=True, help="folder for <id>.public.jwk and <id>.jwks")
    keygen.set_defaults(run=_run_keygen)


def _add_listing(actions: Any) -> None:
    listing = actions.add_parser(
        "list", help="list agencies; --public: focal points and readiness (Art. 4.2)"
    )
    listing.add_argument("--public", action="store_true")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(run=_run_list)
    show = actions.add_parser("show", help="one agency's whole record, with its history, as JSON")
    show.add_argument("agency")
    show.set_defaults(run=_run_show)


def _add_lifecycle(actions: Any) -> None:
    for verb, needs_reason in (("suspend", True), ("resume", False), ("terminate", True)):
        parser = actions.add_parser(verb, help=f"{verb} one agency's connection")
        parser.add_argument("agency")
        if needs_reason:
            parser.add_argument("--reason", required=True)
        _signed(parser)
        parser.set_defaults(run=_run_lifecycle, verb=verb)
    window = actions.add_parser(
        "maintenance", help="suspend every agency for maintenance (7 working days' notice)"
    )
    window.add_argument("--start", type=datetime.fromisoformat, required=True, help="ISO time with offset")
    window.add_argument("--end", type=datetime.fromisoformat, required=True, help="ISO time with offset")
    window.add_argument("--reason", required=True)
    _signed(window)
    window.set_defaults(run=_run_maintenance)


def _add_usage_reports(actions: Any) -> None:
    ask = actions.add_parser(
        "usage-request", help="demand the agency's usage report (Art. 14.1.b); its status is unchanged"
    )
    ask.add_argument("agency")
    ask.add_argument("--reason", required=True, help="why the report is demanded (recorded in the history)")
    _signed(ask)
    ask.set_defaults(run=_run_usage_request)
    answer = actions.add_parser(
        "usage-answer", help="record the usage report the agency delivered; closes its oldest open request"
    )
    answer.add_argument("agency")
    _signed(answer)
    answer.set_defaults(run=_run_usage_answer)


def _run_register(args: argparse.Namespace, settings: Settings) -> int:
    try:
        agency = Agency.model_validate({"operations": [], "purposes": {}, **_yaml(args.file)})
    except ValidationError as exc:
        raise ConfigError(f"{args.file} is not a valid agency: {exc}") from exc
    _admin(settings).register(agency, args.document, args.by)
    print(f"registered {agency.id} (ONBOARDING); next: dancu-bus agency onboard {agency.id} --step 1 …")
    return 0


def _run_import(args: argparse.Namespace, settings: Settings) -> int:
    written = _admin(settings).import_agencies(load_directory(args.file).agencies(), args.by)
    print(f"imported {', '.join(written)} (development only: onboarding skipped)")
    return 0


def _run_step(args: argparse.Namespace, settings: Settings) -> int:
    step = StepRecord(
        step=args.step,
        document_ref=args.document,
        on=args.date,
        by=args.by,
        confirmations=tuple(args.confirm),
    )
    agency = _admin(settings).record_step(args.agency, step)
    done = sorted(s.step for s in agency.onboarding)
    print(f"{agency.id}: step {args.step} recorded; steps done: {done}")
    return 0


def _run_review(args: argparse.Namespace, settings: Settings) -> int:
    review = SecurityReview(
        document_ref=args.document, approved=not args.rejected, approved_by=args.by, on=args.date
    )
    _admin(settings).review(args.agency, review)
    print(f"{args.agency}: security review recorded ({'approved' if review.approved else 'not approved'})")
    return 0


def _run_issue(args: argparse.Namespace, settings: Settings) -> int:
    if settings.kafka.security_protocol != "PLAINTEXT" and args.secret_file is None:
        raise ConfigError("give --secret-file: the agency's SCRAM secret is written there, never printed")
    key = _answer_key(args) if args.answer_key is not None else None
    issued = _admin(settings).issue(args.agency, args.document, args.by, key)
    print(f"{args.agency}: account issued; status ACTIVE")
    if key is not None:
        print(f"answer key {key.id}: LOOKUP and SEARCH answers are sealed to it")
    if issued.secret is None:
        print("note: this cluster has no authentication, so no credentials were issued")
    else:
        _write_new_secret(args.secret_file, issued.secret.get_secret_value() + "\n")
        print(
            f"SCRAM-SHA-512 user {args.agency}: its secret is in {args.secret_file} (mode 600); hand it over"
        )
    return 0


def _run_rotate(args: argparse.Namespace, settings: Settings) -> int:
    key = _answer_key(args)
    agency = _admin(settings).register_key(args.agency, key, args.by)
    kept = ", ".join(k.id for k in agency.answer_keys[:-1]) or "none"
    print(f"{args.agency}: answers are sealed to key {key.id} from now on; earlier keys kept: {kept}")
    return 0


def _run_keygen(args: argparse.Namespace, _settings: Settings) -> int:
    public, private = generate_key_pair(args.key_id)
    args.out.mkdir(parents=True, exist_ok=True)
    public_file, private_file = args.out / f"{args.key_id}.public.jwk", args.out / f"{args.key_id}.jwks"
    _write_new_secret(private_file, private.get_secret_value() + "\n")
    public_file.write_text(public + "\n", encoding="utf-8")
    print(f"public key (register it at step 10, or with rotate-key): {public_file}")
    print(f"private key (the SDK's DANCU_SDK__ANSWER_KEYS; keep it, with earlier ones): {private_file}")
    return 0


def _answer_key(args: argparse.Namespace) -> AnswerKey:
    """The answer key of ``--answer-key`` and ``--key-id``; ConfigError naming what is wrong."""
    key = read_public_key(args.answer_key, args.key_id)
    try:
        return AnswerKey(
            id=key.id, jwk=key.jwk, registered_on=datetime.now(UTC).date(), document_ref=args.document
        )
    except ValidationError as exc:
        raise ConfigError(f"the answer key {args.answer_key}: {exc.errors()[0]['msg']}") from exc


def _run_list(args: argparse.Namespace, settings: Settings) -> int:
    agencies = _admin(settings).agencies()
    rows = public_rows(agencies) if args.public else [_summary(a) for a in agencies]
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        _table(rows)
    return 0


def _run_show(args: argparse.Namespace, settings: Settings) -> int:
    record = shown_record(_admin(settings).get(args.agency), datetime.now(UTC))
    print(json.dumps(record, ensure_ascii=False, indent=2))
    return 0


def shown_record(agency: Agency, now: datetime) -> dict[str, Any]:
    """What ``agency show`` prints: the record, then its usage-report requests as they stand at ``now``."""
    return {**agency.model_dump(mode="json"), "usage_reports": usage_rows(agency, now)}


def usage_rows(agency: Agency, now: datetime) -> list[dict[str, Any]]:
    """Each usage-report request, oldest first: open or answered, and for how many days it was open."""
    rows = []
    for usage in usage_requests(agency):
        answer = usage.answer
        rows.append(
            {
                "state": "OPEN" if answer is None else "ANSWERED",
                "requested_at": usage.request.at.isoformat(),
                "requested_by": usage.request.by,
                "document_ref": usage.request.document_ref,
                "reason": usage.request.detail,
                "days_open": usage.days_open(now),
                "answered_at": answer.at.isoformat() if answer else None,
                "answered_by": answer.by if answer else None,
                "report_ref": answer.document_ref if answer else None,
            }
        )
    return rows


def _run_usage_request(args: argparse.Namespace, settings: Settings) -> int:
    agency = _admin(settings).request_usage_report(args.agency, args.reason, args.document, args.by)
    waiting = len(open_usage_requests(agency))
    print(f"{agency.id}: usage report requested under {args.document}; open requests: {waiting}")
    return 0


def _run_usage_answer(args: argparse.Namespace, settings: Settings) -> int:
    agency = _admin(settings).answer_usage_report(args.agency, args.document, args.by)
    answer = agency.history[-1]
    waiting = len(open_usage_requests(agency))
    print(f"{agency.id}: report {args.document} recorded ({answer.detail}); open requests: {waiting}")
    return 0


def _run_lifecycle(args: argparse.Namespace, settings: Settings) -> int:
    admin = _admin(settings)
    if args.verb == "resume":
        agency = admin.resume(args.agency, args.document, args.by)
    else:
        agency = getattr(admin, args.verb)(args.agency, args.reason, args.document, args.by)
    print(f"{agency.id}: {agency.status.value}")
    return 0


def _run_maintenance(args: argparse.Namespace, settings: Settings) -> int:
    window = MaintenanceWindow(
        starts_at=args.start, ends_at=args.end, reason=args.reason, document_ref=args.document
    )
    _admin(settings).schedule_maintenance(window, args.by)
    print(f"maintenance scheduled: every agency suspended {args.start.isoformat()} – {args.end.isoformat()}")
    return 0


def public_rows(agencies: tuple[Agency, ...]) -> list[dict[str, str]]:
    """What Art. 4.2 publishes: each agency's focal point and readiness."""
    rows = []
    for agency in agencies:
        focal = agency.focal_point
        rows.append(
            {
                "id": agency.id,
                "code": agency.code or "",
                "name": agency.name,
                "status": agency.status.value,
                "focal_point": focal.name if focal else "",
                "position": focal.position if focal else "",
                "phone": focal.phone if focal else "",
                "email": focal.email if focal else "",
                "readiness": agency.readiness,
            }
        )
    return rows


def _summary(agency: Agency) -> dict[str, str]:
    return {
        "id": agency.id,
        "status": agency.status.value,
        "category": agency.category.value,
        "channel": agency.channel.value,
        "operations": ",".join(sorted(agency.operations)),
        "purposes": ",".join(sorted(agency.purposes)),
        "steps": ",".join(str(s.step) for s in agency.onboarding),
    }


def _table(rows: list[dict[str, str]]) -> None:
    if not rows:
        print("no agencies")
        return
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in rows[0]}
    print("  ".join(k.ljust(w) for k, w in widths.items()))
    for row in rows:
        print("  ".join(row[k].ljust(w) for k, w in widths.items()))


def _yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold one agency as a mapping")
    return raw


def _write_new_secret(path: Path, text: str) -> None:
    try:
        write_private(path, text)
    except FileExistsError as exc:
        raise ConfigError(f"{path} exists: choose a new file (a secret is never overwritten)") from exc
