"""Why a request is refused (Art. 14.1.a: a refusal states its reason), in Vietnamese and English."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

__all__ = ["HIDING_REFUSALS", "MESSAGES", "Message", "Reason", "Rejection", "worded"]


class Reason(StrEnum):
    """Reason codes of REJECTED responses."""

    UNKNOWN_AGENCY = "UNKNOWN_AGENCY"
    AGENCY_MISMATCH = "AGENCY_MISMATCH"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    UNKNOWN_OPERATION = "UNKNOWN_OPERATION"
    OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"
    PURPOSE_MISSING = "PURPOSE_MISSING"
    PURPOSE_NOT_REGISTERED = "PURPOSE_NOT_REGISTERED"
    FIELD_OUT_OF_SCOPE = "FIELD_OUT_OF_SCOPE"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    INVALID_PERSONAL_ID = "INVALID_PERSONAL_ID"
    INVALID_CODE = "INVALID_CODE"
    EXPIRED = "EXPIRED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"
    INVALID_OFFICER_ID = "INVALID_OFFICER_ID"
    INVALID_CASE_NO = "INVALID_CASE_NO"
    INVALID_PURPOSE_CODE = "INVALID_PURPOSE_CODE"
    LEGAL_BASIS_MISMATCH = "LEGAL_BASIS_MISMATCH"
    CLOCK_SKEW = "CLOCK_SKEW"
    LIFETIME_TOO_LONG = "LIFETIME_TOO_LONG"
    NOTHING_TO_VERIFY = "NOTHING_TO_VERIFY"
    NO_ANSWER_KEY = "NO_ANSWER_KEY"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    AUDIT_UNAVAILABLE = "AUDIT_UNAVAILABLE"
    HIDING_NOT_ALLOWED = "HIDING_NOT_ALLOWED"
    INVALID_HIDDEN_UNTIL = "INVALID_HIDDEN_UNTIL"
    INVALID_HIDING_LEGAL_BASIS = "INVALID_HIDING_LEGAL_BASIS"
    NOT_BOUND = "NOT_BOUND"
    NOT_OWN_RECORD = "NOT_OWN_RECORD"


# Refusals of a request's mark hiding it from the citizen: the mark hid nothing, the citizen sees the request.
HIDING_REFUSALS = frozenset(
    {Reason.HIDING_NOT_ALLOWED, Reason.INVALID_HIDDEN_UNTIL, Reason.INVALID_HIDING_LEGAL_BASIS}
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refusal with its reason and a specific detail (which field, which value)."""

    reason: Reason
    detail: str = ""


class Message(NamedTuple):
    """A reason's text in Vietnamese and English."""

    vi: str
    en: str


MESSAGES: dict[Reason, Message] = {
    Reason.UNKNOWN_AGENCY: Message(
        "Cơ quan, tổ chức chưa được kết nối với Cơ sở dữ liệu quốc gia về dân cư.",
        "The agency is not connected to the National Population Database.",
    ),
    Reason.AGENCY_MISMATCH: Message(
        "Cơ quan ghi trong yêu cầu không trùng với cơ quan của kênh kết nối.",
        "The agency named in the request is not the agency of the topic it arrived on.",
    ),
    Reason.SUSPENDED: Message(
        "Kết nối của cơ quan đang bị tạm dừng.",
        "The agency's connection is suspended.",
    ),
    Reason.TERMINATED: Message(
        "Kết nối của cơ quan đã bị chấm dứt.",
        "The agency's connection has been terminated.",
    ),
    Reason.UNKNOWN_OPERATION: Message(
        "Loại yêu cầu không được hỗ trợ.",
        "The operation is unknown.",
    ),
    Reason.OPERATION_NOT_ALLOWED: Message(
        "Cơ quan không được phép thực hiện loại yêu cầu này.",
        "The agency is not allowed this operation.",
    ),
    Reason.PURPOSE_MISSING: Message(
        "Yêu cầu thiếu mục đích khai thác dữ liệu.",
        "The request does not state its purpose.",
    ),
    Reason.PURPOSE_NOT_REGISTERED: Message(
        "Mục đích khai thác chưa được đăng ký cho cơ quan và loại yêu cầu này.",
        "The purpose is not registered for this agency and operation.",
    ),
    Reason.FIELD_OUT_OF_SCOPE: Message(
        "Yêu cầu có trường thông tin ngoài phạm vi được phép khai thác.",
        "The request names a field outside the purpose's scope.",
    ),
    Reason.UNKNOWN_FIELD: Message(
        "Yêu cầu có trường thông tin không tồn tại.",
        "The request names a field that does not exist.",
    ),
    Reason.INVALID_PERSONAL_ID: Message(
        "Số định danh cá nhân không đúng cấu trúc.",
        "The personal identification number is malformed.",
    ),
    Reason.INVALID_CODE: Message(
        "Mã danh mục không hợp lệ.",
        "A catalogue code is not valid.",
    ),
    Reason.EXPIRED: Message(
        "Yêu cầu đã quá thời hạn xử lý.",
        "The request expired before it was processed.",
    ),
    Reason.QUOTA_EXCEEDED: Message(
        "Cơ quan đã vượt hạn mức khai thác.",
        "The agency has exceeded its quota.",
    ),
    Reason.MALFORMED_REQUEST: Message(
        "Yêu cầu không đúng định dạng.",
        "The request is malformed.",
    ),
    Reason.REQUEST_TOO_LARGE: Message(
        "Yêu cầu vượt quá kích thước cho phép.",
        "The request record (key, value and headers) is larger than allowed.",
    ),
    Reason.DUPLICATE_REQUEST: Message(
        "Mã yêu cầu trùng với một yêu cầu đã nhận và còn hiệu lực.",
        "The request id repeats a request already received and still valid.",
    ),
    Reason.INVALID_OFFICER_ID: Message(
        "Mã cán bộ thực hiện không hợp lệ (trống, quá dài hoặc có ký tự không được phép).",
        "The officer id is empty, too long or has characters that are not allowed.",
    ),
    Reason.INVALID_CASE_NO: Message(
        "Số hồ sơ không hợp lệ (trống, quá dài hoặc có ký tự không được phép).",
        "The case number is empty, too long or has characters that are not allowed.",
    ),
    Reason.INVALID_PURPOSE_CODE: Message(
        "Mã mục đích khai thác không hợp lệ (quá dài hoặc có ký tự không được phép).",
        "The purpose code is too long or has characters that are not allowed.",
    ),
    Reason.LEGAL_BASIS_MISMATCH: Message(
        "Căn cứ pháp lý không đúng với căn cứ đã đăng ký cho mục đích khai thác.",
        "The legal basis is not the one registered for the purpose.",
    ),
    Reason.CLOCK_SKEW: Message(
        "Thời điểm gửi yêu cầu lệch quá nhiều so với thời điểm hệ thống nhận được.",
        "The request's sent_at is too far from the time the broker received it.",
    ),
    Reason.LIFETIME_TOO_LONG: Message(
        "Thời hạn hiệu lực của yêu cầu dài hơn mức cho phép.",
        "The request's lifetime (expires_at) is longer than allowed.",
    ),
    Reason.NOTHING_TO_VERIFY: Message(
        "Yêu cầu xác thực không có trường thông tin nào để đối chiếu.",
        "The VERIFY request supplies no field to compare.",
    ),
    Reason.NO_ANSWER_KEY: Message(
        "Cơ quan chưa đăng ký khóa công khai để mã hóa dữ liệu cá nhân trả về.",
        "The agency has registered no public key to seal personal data to: register one (onboarding"
        " step 10).",
    ),
    Reason.BATCH_TOO_LARGE: Message(
        "Yêu cầu xác thực theo lô có nhiều mục hơn mức cho phép.",
        "The VERIFY_BATCH request has more items than allowed.",
    ),
    Reason.AUDIT_UNAVAILABLE: Message(
        "Nhật ký trao đổi dữ liệu đang bị chậm: tạm từ chối yêu cầu mới cho đến khi nhật ký được ghi đầy"
        " đủ; đề nghị gửi lại sau.",
        "The exchange log is behind: new requests are refused until it catches up; send again later.",
    ),
    Reason.HIDING_NOT_ALLOWED: Message(
        "Mục đích khai thác không cho phép ẩn yêu cầu với công dân.",
        "The purpose does not allow hiding the request from the citizen.",
    ),
    Reason.INVALID_HIDDEN_UNTIL: Message(
        "Thời hạn ẩn yêu cầu với công dân không hợp lệ (đã qua hoặc dài hơn mức cho phép).",
        "The date the request is hidden from the citizen until is in the past or further ahead than allowed.",
    ),
    Reason.INVALID_HIDING_LEGAL_BASIS: Message(
        "Căn cứ pháp lý của việc ẩn yêu cầu với công dân không hợp lệ (thiếu, quá dài hoặc có ký tự không"
        " được phép).",
        "The legal basis for hiding the request from the citizen is missing, too long or has characters"
        " that are not allowed.",
    ),
    # One text whether the id exists or not: it must say nothing about which (SELF).
    Reason.NOT_BOUND: Message(
        "Không thể trả lời yêu cầu tra cứu: thông tin tra cứu không khớp với thông tin đăng ký của công dân.",
        "The lookup cannot be answered: it does not match what the citizen has registered.",
    ),
    Reason.NOT_OWN_RECORD: Message(
        "Tài khoản chỉ được tra cứu thông tin của chính công dân sở hữu tài khoản.",
        "An account may look up only the record of the citizen it belongs to.",
    ),
}


def worded(rejection: Rejection) -> Message:
    """The refusal's message in Vietnamese and English, its detail after each in parentheses."""
    message = MESSAGES[rejection.reason]
    suffix = f" ({rejection.detail})" if rejection.detail else ""
    return Message(message.vi + suffix, message.en + suffix)
