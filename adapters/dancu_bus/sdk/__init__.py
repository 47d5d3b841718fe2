"""The agency SDK: build, send and await VERIFY and LOOKUP requests, one by one or in bulk.

from dancu_bus.sdk import Client, ClientConfig, Context, VerifyQuery

kyc = Context("officer-7", "HS-2026-001", "KYC", "Luật Phòng, chống rửa tiền 2022, Điều 9")
with Client(ClientConfig("my-bank")) as client:
    answer = client.verify(VerifyQuery("001090012345", full_name="Nguyễn Văn An"), kyc)
"""

from dancu_bus.catalogues import Catalogue, CommuneConversion, Label
from dancu_bus.contracts import Address, LookupQuery, MatchOutcome, Verdict, VerifyQuery
from dancu_bus.errors import DuplicateRequest, InvalidCode, RequestTimeout
from dancu_bus.sdk.aio import AsyncClient
from dancu_bus.sdk.catalogues import convert_commune, label
from dancu_bus.sdk.client import Client
from dancu_bus.sdk.exchange import ClientConfig
from dancu_bus.sdk.requests import Context
from dancu_bus.sdk.results import LookupAnswer, VerifyAnswer

__all__ = [
    "Address",
    "AsyncClient",
    "Catalogue",
    "Client",
    "ClientConfig",
    "CommuneConversion",
    "Context",
    "DuplicateRequest",
    "InvalidCode",
    "Label",
    "LookupAnswer",
    "LookupQuery",
    "MatchOutcome",
    "RequestTimeout",
    "Verdict",
    "VerifyAnswer",
    "VerifyQuery",
    "convert_commune",
    "label",
]
