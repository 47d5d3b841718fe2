"""The sample agencies' answer keys: made once into a folder of the demo's, kept across runs.

In production each agency makes its own key (``dancu-bus agency keygen``) and registers only the
public half; the demo plays both sides, so it keeps the private halves where the agency would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dancu_bus.agencies import Agency
from dancu_bus.keys import AnswerKey, generate_key_pair
from dancu_bus.operations import OPERATIONS
from dancu_bus.secret_files import write_private

__all__ = ["SampleKey", "operator_keys", "sample_keys", "with_keys"]


@dataclass(frozen=True)
class SampleKey:
    """An agency's answer key: the public record to register, and the file of its private half."""

    public: AnswerKey
    private_file: Path


def sample_keys(agencies: Iterable[Agency], folder: Path, on: date) -> dict[str, SampleKey]:
    """An answer key for each agency that asks for personal data: ``<folder>/<id>.jwks``, made if missing."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = {}
    for agency in agencies:
        if not agency.needs_answer_key(OPERATIONS.sealed_names()):
            continue
        private, public = folder / f"{agency.id}.jwks", folder / f"{agency.id}.public.jwk"
        if not (private.exists() and public.exists()):
            jwk, secret = generate_key_pair(f"{agency.id}-1")
            write_private(private, secret.get_secret_value() + "\n", replace=True)
            public.write_text(jwk + "\n", encoding="utf-8")
        jwk = public.read_text(encoding="utf-8").strip()
        kid = json.loads(jwk)["kid"]
        keys[agency.id] = SampleKey(
            AnswerKey(id=kid, jwk=jwk, registered_on=on, document_ref="DEMO-KEY"), private
        )
    return keys


def with_keys(agencies: Iterable[Agency], keys: dict[str, SampleKey]) -> list[Agency]:
    """The agencies with their sample key registered (for a directory that skips onboarding)."""
    return [
        a.model_copy(update={"answer_keys": (keys[a.id].public,)}) if a.id in keys else a for a in agencies
    ]


def operator_keys(folder: Path) -> tuple[Path, Path]:
    """The platform operators' dead-letter key in ``folder``, made if missing: (public JWK, private JWKS)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    public, private = folder / "operators.public.jwk", folder / "operators.jwks"
    if not (public.exists() and private.exists()):
        jwk, secret = generate_key_pair("operators-1")
        write_private(private, secret.get_secret_value() + "\n", replace=True)
        public.write_text(jwk + "\n", encoding="utf-8")
    return public, private
