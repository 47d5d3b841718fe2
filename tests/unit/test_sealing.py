"""Answers sealed to the asking agency's key (JWE) and opened by its SDK; answer keys and their checks."""

from __future__ import annotations

import base64
import dataclasses
import json
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from dancu_bus.contracts import Address, DisclosedField, LookupResult, Response
from dancu_bus.errors import ConfigError, SealedAnswerError
from dancu_bus.keys import AnswerKey, PrivateKeys, generate_key_pair, public_key
from dancu_bus.operations import LOOKUP, VERIFY, SealedOperation, platform_codec
from dancu_bus.sealing import open_sealed, seal
from tests.unit import samples

CODEC = platform_codec()
NAME = "Nguyễn Thị Ánh"  # composed (NFC): the resolver's form; NFD spells the same name in other bytes
OLD = Address("DVHC-2004", "01", "00004", "001", "Số 12, phố Quán Thánh")
RESPONSE = dataclasses.replace(
    samples.LOOKUP_RESPONSE,
    result=LookupResult(
        True,
        (
            DisclosedField("full_name", NAME, "BO-TU-PHAP-HO-TICH", date(2020, 1, 2)),
            DisclosedField("birth_date", date(1990, 5, 17), "BO-TU-PHAP-HO-TICH", date(2020, 1, 2)),
            DisclosedField("household_id", "HK-0790017711", "BO-CONG-AN-CU-TRU", date(2025, 7, 1)),
            DisclosedField(
                "permanent_address",
                samples.ADDRESS,
                "BO-CONG-AN-CU-TRU",
                date(2025, 7, 1),
                converted_from=OLD,
                alternatives=(Address("DVHC-2025", "01", "00007", None, "Số 12"),),
            ),
            DisclosedField("phone", None, "BO-CONG-AN-CU-TRU", date(2025, 7, 1)),  # not on record
        ),
    ),
)


def _key(kid: str, tmp_path: Path) -> tuple[AnswerKey, PrivateKeys]:
    public, private = generate_key_pair(kid)
    path = tmp_path / f"{kid}.jwks"
    path.write_text(private.get_secret_value())
    path.chmod(0o600)
    return AnswerKey(id=kid, jwk=public, registered_on=date(2026, 12, 1), document_ref="QD-10"), (
        PrivateKeys.from_file(path)
    )


def _modulus(key: rsa.RSAPrivateKey) -> str:
    n = key.public_key().public_numbers().n
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def _wire(response: Response) -> bytes:
    return CODEC.encode_response(response)


def test_a_sealed_answer_keeps_no_value_in_clear_and_opens_to_the_same_answer(tmp_path: Path) -> None:
    """Names, sources, dates and on-record flags stay; values are in the JWE only; opening restores all."""
    key, keys = _key("bank-1", tmp_path)
    sealed = seal(RESPONSE, key, CODEC, LOOKUP)
    assert sealed.lookup is not None and sealed.lookup.sealed is not None
    assert sealed.lookup.sealed.key_id == "bank-1"
    assert [(f.name, f.sealed, f.value) for f in sealed.lookup.fields] == [
        ("full_name", True, None),
        ("birth_date", True, None),
        ("household_id", True, None),
        ("permanent_address", True, None),
        ("phone", False, None),
    ]
    assert sealed.fields_disclosed == RESPONSE.fields_disclosed  # what the audit records is unchanged
    data = _wire(sealed)
    for secret in (NAME, unicodedata.normalize("NFD", NAME), "1990-05-17", "HK-0790017711", "Quán Thánh"):
        assert secret.encode() not in data, secret
    received = CODEC.decode_response(data)
    assert open_sealed(received, keys, CODEC, LOOKUP) == RESPONSE


def test_an_answer_without_values_is_not_sealed(tmp_path: Path) -> None:
    """VERIFY is no sealed operation (it has no hooks); a LOOKUP of nobody carries no personal data."""
    key, _ = _key("bank-1", tmp_path)
    nobody = dataclasses.replace(RESPONSE, result=LookupResult(False))
    assert not isinstance(VERIFY, SealedOperation) and isinstance(LOOKUP, SealedOperation)
    assert seal(nobody, key, CODEC, LOOKUP) == nobody


def test_another_agencys_keys_do_not_open_it_and_say_which_key_it_needs(tmp_path: Path) -> None:
    """Another agency's key file lacks the key id; the error names the request, the key and the file."""
    key, _ = _key("bank-1", tmp_path)
    _, province = _key("province-1", tmp_path)
    sealed = CODEC.decode_response(_wire(seal(RESPONSE, key, CODEC, LOOKUP)))
    with pytest.raises(SealedAnswerError) as refused:
        open_sealed(sealed, province, CODEC, LOOKUP)
    message = str(refused.value)
    assert RESPONSE.request_id in message and "'bank-1'" in message and "province-1.jwks" in message
    assert "holds province-1" in message


def test_a_different_key_under_the_same_id_fails_to_open_it(tmp_path: Path) -> None:
    """A key id is no proof: a key that is not the one sealed to is refused by the decryption itself."""
    key, _ = _key("bank-1", tmp_path)
    (tmp_path / "other").mkdir()
    _, impostor = _key("bank-1", tmp_path / "other")
    sealed = seal(RESPONSE, key, CODEC, LOOKUP)
    with pytest.raises(SealedAnswerError, match="does not open it"):
        open_sealed(sealed, impostor, CODEC, LOOKUP)


def test_no_keys_configured_names_the_setting(tmp_path: Path) -> None:
    """A sealed answer and no key file: the error says to set DANCU_SDK__ANSWER_KEYS."""
    key, _ = _key("bank-1", tmp_path)
    with pytest.raises(SealedAnswerError, match="DANCU_SDK__ANSWER_KEYS"):
        open_sealed(seal(RESPONSE, key, CODEC, LOOKUP), None, CODEC, LOOKUP)


def test_a_sealed_part_moved_into_another_response_is_refused(tmp_path: Path) -> None:
    """The plaintext names its exchange: pasted into another exchange's response, it does not open."""
    key, keys = _key("bank-1", tmp_path)
    sealed = seal(RESPONSE, key, CODEC, LOOKUP)
    moved = dataclasses.replace(sealed, exchange_id=samples.VERIFY_EXCHANGE)
    with pytest.raises(SealedAnswerError, match="it was moved"):
        open_sealed(moved, keys, CODEC, LOOKUP)


def test_after_a_rotation_answers_sealed_to_the_old_key_still_open(tmp_path: Path) -> None:
    """The agency's key file holds old and new keys: each answer opens with the key its id names."""
    old_public, old_private = generate_key_pair("bank-2026-11")
    new_public, new_private = generate_key_pair("bank-2026-12")
    both = {"keys": [*json.loads(old_private.get_secret_value())["keys"]]}
    both["keys"] += json.loads(new_private.get_secret_value())["keys"]
    keys = PrivateKeys.from_jwks(both, "keys.jwks")
    for kid, public in (("bank-2026-11", old_public), ("bank-2026-12", new_public)):
        key = AnswerKey(id=kid, jwk=public, registered_on=date(2026, 12, 1), document_ref="QD")
        assert open_sealed(seal(RESPONSE, key, CODEC, LOOKUP), keys, CODEC, LOOKUP) == RESPONSE


def test_rsa_keys_are_sealed_to_with_rsa_oaep_256(tmp_path: Path) -> None:
    """An RSA key of 2048 bits is accepted too; its answers use RSA-OAEP-256 and A256GCM."""
    private = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    key = AnswerKey(
        id="rsa-1",
        jwk=json.dumps(private.as_dict(private=False)),
        registered_on=date(2026, 12, 1),
        document_ref="Q",
    )
    sealed = seal(RESPONSE, key, CODEC, LOOKUP)
    assert sealed.lookup is not None and sealed.lookup.sealed is not None
    header = json.loads(_b64(sealed.lookup.sealed.jwe.split(".")[0]))
    assert (header["alg"], header["enc"], header["kid"]) == ("RSA-OAEP-256", "A256GCM", "rsa-1")
    keys = PrivateKeys.from_jwks(KeySet([private]).as_dict(private=True), "rsa.jwks")
    assert open_sealed(sealed, keys, CODEC, LOOKUP) == RESPONSE


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize(
    ("jwk", "refusal"),
    [
        (ECKey.generate_key("P-256").as_dict(private=True), "this is a private key"),
        ({"kty": "RSA", "n": _modulus(rsa.generate_private_key(65537, 1024)), "e": "AQAB"}, "1024 bits"),
        (OKPKey.generate_key("X25519").as_dict(private=False), "key type 'OKP' is not accepted"),
        ({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}, "malformed"),
        ({"kty": "oct", "k": "c2VjcmV0"}, "key type 'oct' is not accepted"),
    ],
)
def test_keys_unfit_to_seal_to_are_refused_with_the_reason(jwk: dict[str, object], refusal: str) -> None:
    """Private halves, short RSA, other key types and broken keys never become answer keys."""
    with pytest.raises(ValueError, match=refusal):
        public_key(json.dumps(jwk))


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    """The agency's private keys: a file readable by others is a ConfigError naming it and the fix."""
    _, private = generate_key_pair("bank-1")
    path = tmp_path / "keys.jwks"
    path.write_text(private.get_secret_value())
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        PrivateKeys.from_file(path)


def test_a_public_key_in_the_private_key_file_is_refused() -> None:
    """The SDK's key file must hold private keys: a public one is named."""
    public, _ = generate_key_pair("bank-1")
    with pytest.raises(ConfigError, match="key bank-1 is public"):
        PrivateKeys.from_jwks({"keys": [json.loads(public)]}, "keys.jwks")
