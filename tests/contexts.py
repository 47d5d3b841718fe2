"""Who asks and why, for the demo agencies of deploy/agencies.yaml: purposes with their legal basis."""

from __future__ import annotations

from dancu_bus.sdk import Context

KYC = Context("can-bo-1", "HS-1", "KYC", "Luật Phòng, chống rửa tiền 2022, Điều 9")
KYC_LOOKUP = Context("can-bo-1", "HS-2", "KYC-LOOKUP", "Luật Các tổ chức tín dụng 2024, Điều 11")
SIM = Context("can-bo-9", "SIM-2026", "SIM-OWNER", "Nghị định 163/2024/NĐ-CP, Điều 17")
PUBLIC_SERVICE = Context("can-bo-1107", "HS-DVC-1", "PUBLIC-SERVICE", "Nghị định 45/2020/NĐ-CP, Điều 11")
NOTARY = Context("cong-chung-vien-1", "CC-1", "NOTARISATION", "Luật Công chứng 2024, Điều 42")
