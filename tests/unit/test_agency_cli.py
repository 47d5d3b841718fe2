"""What ``dancu-bus agency list --public`` publishes (Art. 4.2)."""

from __future__ import annotations

from pathlib import Path

from dancu_bus.agencies import load_directory
from dancu_bus.cli.agency import public_rows

AGENCIES = Path(__file__).resolve().parents[2] / "deploy" / "agencies.yaml"


def test_public_rows_carry_focal_point_and_readiness_only() -> None:
    """Each published row names the focal point and readiness, and nothing of purposes or quotas."""
    rows = {row["id"]: row for row in public_rows(load_directory(AGENCIES).agencies())}
    bank = rows["demo-bank"]
    assert (bank["focal_point"], bank["position"], bank["email"]) == (
        "Trần Thị Mai",
        "Giám đốc Khối Công nghệ",
        "mai.tt@demo-bank.vn",
    )
    assert bank["readiness"].startswith("Sẵn sàng")
    assert set(bank) == {
        "id",
        "code",
        "name",
        "status",
        "focal_point",
        "position",
        "phone",
        "email",
        "readiness",
    }
