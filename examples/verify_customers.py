"""How an agency's system uses the SDK (mypy --strict in CI; run by tests/integration/test_readme.py).

With the demo left running (``dancu-bus demo --keep-running``) and the variables it prints exported:
``.venv/bin/python examples/verify_customers.py 001090012345``.
"""

from __future__ import annotations

import sys
from datetime import date

from dancu_bus.sdk import (
    Client,
    ClientConfig,
    Context,
    LookupQuery,
    MatchOutcome,
    RequestTimeout,
    Verdict,
    VerifyQuery,
)

KYC = Context(
    officer_id="can-bo-0042",
    case_no="HS-KYC-2026-0001",
    purpose_code="KYC",
    legal_basis="Luật Phòng, chống rửa tiền 2022, Điều 9",
)
KYC_LOOKUP = Context(
    officer_id="can-bo-0042",
    case_no="HS-KYC-2026-0002",
    purpose_code="KYC-LOOKUP",
    legal_basis="Luật Các tổ chức tín dụng 2024, Điều 11",
)


def check(client: Client, personal_id: str, full_name: str, birth_date: date) -> bool:
    """True when the customer's id, name and birth date all match the population record."""
    answer = client.verify(VerifyQuery(personal_id, full_name=full_name, birth_date=birth_date), KYC)
    if not answer.ok:
        print(f"refused: {answer.reason_code}: {answer.message_en}")
        return False
    mismatched = [name for name, outcome in answer.fields.items() if outcome is MatchOutcome.MISMATCH]
    print(f"{personal_id}: {answer.verdict} {mismatched or ''}")
    if answer.verdict is Verdict.MATCH_WITHOUT_DIACRITICS:
        # The name agrees only once its diacritics are dropped (we hold it in ASCII): not an exact match.
        print("the name on record has diacritics: ask the customer for the name as written on the card")
    return answer.verdict is Verdict.MATCH


def main(personal_id: str) -> int:
    """Verify one customer, then look up the fields the bank's purpose allows."""
    with Client(ClientConfig("demo-bank")) as client:
        try:
            check(client, personal_id, "Nguyễn Văn An", date(1990, 1, 1))
            found = client.lookup(LookupQuery(personal_id, ("full_name", "birth_date")), KYC_LOOKUP)
        except RequestTimeout as exc:
            print(f"no answer: {exc}")
            return 1
    for name, field in found.fields.items():
        print(f"{name}: {field.value} (source {field.source}, updated {field.updated_on})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "001090012345"))
