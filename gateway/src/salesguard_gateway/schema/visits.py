"""Field visits (attendance ``VisitsService``, A2–A6): plans, check-ins with photos, call logs.

Photos go straight from the device to the object store: ``createPhotoUpload``
hands out a signed upload URL, the device PUTs the bytes with exactly the
returned headers, and ``checkIn`` names the key. Download URLs are signed by
the service, and only for check-ins the caller may see; the gateway asks for
them only when the query selects ``photos { url }`` (signing is per photo).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import strawberry

from salesguard_api.attendance.v1 import visits_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.codes import CheckInReasonCode, code_of
from salesguard_gateway.schema.common import (
    JSON,
    Connection,
    Location,
    described,
    location,
    selects,
)
from salesguard_gateway.schema.conversions import (
    converted,
    enum_numbers,
    from_timestamp,
    optional,
    struct_to_json,
    to_timestamp,
)
from salesguard_gateway.schema.customers import CUSTOMER
from salesguard_gateway.schema.enums import CallDirection, Verdict
from salesguard_gateway.schema.nodes import GlobalID, Node, raw_id, reference
from salesguard_gateway.schema.people import EMPLOYEE
from salesguard_gateway.schema.resolvers import Listing, by_id, listed

# Signing a download URL costs a call to the object store per photo: only when shown.
PHOTO_URL_FIELDS = frozenset({"url", "urlExpiresAt"})
NODE_PHOTOS_PATH = ("edges", "node", "photos")


def from_field(moment: datetime | None) -> dict[str, Any]:
    """A request's field ``from`` (a Python keyword), to pass as ``**from_field(...)``."""
    return {"from": to_timestamp(moment)}


# --- check-ins -----------------------------------------------------------------


@strawberry.type(description="One finding of the verification, e.g. LOCATION_MISMATCH.")
class CheckInReason:
    code: CheckInReasonCode | None = strawberry.field(
        description="Null only for a reason newer than the gateway (it logs a warning)."
    )
    message: str = strawberry.field(description="A sentence for people, in English.")
    detail: JSON = strawberry.field(
        description="Structured facts, e.g. distance_m, speed_kmh, earlier_check_in_id."
    )


@strawberry.type(description="A photo named by a check-in, as the service read it (A4).")
class Photo:
    key: str = strawberry.field(description="The photo's object key, from createPhotoUpload.")
    url: str | None = strawberry.field(
        description=(
            "A short-lived download URL; signed only for callers allowed to see the "
            "check-in, and only when the query selects it."
        )
    )
    url_expires_at: datetime | None = strawberry.field(
        description="When url stops working; null without a url."
    )
    content_type: str = strawberry.field(description="The image's type, e.g. image/jpeg.")
    size_bytes: int = strawberry.field(description="The file's size in bytes.")
    sha256: str = strawberry.field(
        description="Of the file's bytes, hex; the same bytes on an earlier check-in are "
        "PHOTO_REUSED."
    )
    perceptual_hash: str = strawberry.field(description="64-bit perceptual hash (dHash), hex.")
    taken_at: datetime | None = strawberry.field(description="From EXIF, when the photo has it.")
    location: Location | None = strawberry.field(description="From EXIF, when the photo has it.")
    has_exif_location: bool = strawberry.field(
        description="Whether the photo's EXIF carries a GPS position."
    )


def photo_from_proto(message: visits_pb2.Photo) -> Photo:
    return converted(
        Photo,
        message,
        url_expires_at=from_timestamp(message.url_expires_at) if message.url else None,
        location=location(message.location) if message.HasField("location") else None,
    )


@strawberry.type(
    description="A check-in, stored whatever its verdict (A3). A rep sees their own, a manager "
    "their branch's (a headquarters manager: all), HR everyone's; nobody else. Outside that "
    "scope a check-in is NOT_FOUND or left out of lists."
)
class CheckIn(Node):
    at: datetime | None = strawberry.field(description="The device's time of the check-in.")
    location: Location | None = strawberry.field(description="Where the device was.")
    accuracy_m: float = strawberry.field(
        description="The device's reported accuracy, metres; a poor one is LOW_ACCURACY."
    )
    verdict: Verdict | None = strawberry.field(
        description="REJECTED for MOCK_LOCATION, IMPOSSIBLE_TRAVEL, LOCATION_MISMATCH or a "
        "photo reused byte for byte; SUSPICIOUS for any other reason; VERIFIED without one."
    )
    reasons: list[CheckInReason] = strawberry.field(
        description="The findings of the verification (A3); SHORT_VISIT is added at check-out."
    )
    photos: list[Photo] = strawberry.field(description="The photos the check-in named (A4).")
    device_id: str = strawberry.field(
        description="The device's ID; one the employee never used before is NEW_DEVICE."
    )
    mock_location: bool = strawberry.field(
        description="The device reported a mock (simulated) location."
    )
    visit_plan_id: strawberry.Private[str]

    visit_plan_id_field = reference(
        "VisitPlan", "visit_plan_id", "visitPlanId", "The visit plan it fulfils; null if unplanned."
    )
    checked_out_at: datetime | None = strawberry.field(
        description="When the visit ended; null until checked out."
    )
    check_out_location: Location | None = strawberry.field(
        description="Where the device was at check-out; null if not given."
    )
    note: str | None = strawberry.field(description="The employee's note; null if none.")
    recorded_at: datetime | None = strawberry.field(
        description="When the service stored it (`at` is the device's time)."
    )
    employee_id: strawberry.Private[str]
    customer_id: strawberry.Private[str]
    branch_id: strawberry.Private[str]

    @described("The visit's day in the branch's time zone (what a visit list groups by).")
    async def day(self, info: Info) -> date | None:
        return await info.context.loaders.local_day(self.branch_id, self.at)

    customer = CUSTOMER.field(
        "customer_id", "The customer visited, when linked; null when the caller may not see them."
    )
    employee = EMPLOYEE.field("employee_id", "Who checked in; null when not visible to the caller.")


def check_in_from_proto(message: visits_pb2.CheckIn) -> CheckIn:
    return converted(
        CheckIn,
        message,
        location=location(message.location) if message.HasField("location") else None,
        reasons=[
            CheckInReason(
                code=code_of(CheckInReasonCode, reason.code),
                message=reason.message,
                detail=JSON(struct_to_json(reason.detail)),
            )
            for reason in message.reasons
        ],
        photos=[photo_from_proto(photo) for photo in message.photos],
        checked_out_at=from_timestamp(message.checked_out_at),
        check_out_location=(
            location(message.check_out_location) if message.HasField("check_out_location") else None
        ),
        note=optional(message.note),
        recorded_at=from_timestamp(message.recorded_at),
    )


CheckInConnection = Connection[CheckIn]


@strawberry.input(
    description="Which check-ins to list, within the caller's scope; the conditions given all "
    "apply."
)
class CheckInFilter:
    employee_id: GlobalID | None = strawberry.field(
        default=None, description="Only check-ins of this employee (an employee's ID)."
    )
    customer_id: GlobalID | None = strawberry.field(
        default=None, description="Only check-ins linked to this customer (a customer's ID)."
    )
    verdicts: list[Verdict] | None = strawberry.field(
        default=None, description="Only check-ins with one of these verdicts."
    )
    reason_codes: list[CheckInReasonCode] | None = strawberry.field(
        default=None, description="Check-ins carrying every one of these reason codes."
    )
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Only check-ins at or after this moment."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Only check-ins before this moment."
    )

    def to_proto(self) -> visits_pb2.CheckInFilter:
        return visits_pb2.CheckInFilter(
            employee_id=raw_id(self.employee_id, "Employee", "filter.employeeId"),
            customer_id=raw_id(self.customer_id, "Customer", "filter.customerId"),
            verdicts=enum_numbers(self.verdicts),
            reason_codes=[code.value for code in self.reason_codes or ()],
            to=to_timestamp(self.to),
            **from_field(self.from_),
        )


CHECK_INS = Listing(
    "visits",
    visits_pb2.ListCheckInsRequest,
    "check_ins",
    check_in_from_proto,
    visits_pb2.CheckInFilter,
    lambda info: {"include_photo_urls": selects(info, PHOTO_URL_FIELDS, NODE_PHOTOS_PATH)},
)


# --- visit plans ---------------------------------------------------------------


@strawberry.type(
    description="A planned visit: employee, customer, time window (A2). A rep sees their own, "
    "a manager their branch's (a headquarters manager: all), HR everyone's; nobody else."
)
class VisitPlan(Node):
    window_start: datetime | None = strawberry.field(description="When the visit may start.")
    window_end: datetime | None = strawberry.field(
        description="When it should be over: after windowStart, within 24 hours."
    )
    note: str | None = strawberry.field(description="The planner's note; null if none.")
    created_at: datetime | None = strawberry.field(description="When it was planned.")
    employee_id: strawberry.Private[str]
    customer_id: strawberry.Private[str]

    employee = EMPLOYEE.field(
        "employee_id", "Who is to visit; null when not visible to the caller."
    )
    customer = CUSTOMER.field("customer_id", "Null when the caller may not see the customer.")


def visit_plan_from_proto(message: visits_pb2.VisitPlan) -> VisitPlan:
    return converted(VisitPlan, message)


VisitPlanConnection = Connection[VisitPlan]


@strawberry.input(
    description="Which visit plans to list, within the caller's scope; the conditions given "
    "all apply."
)
class VisitPlanFilter:
    employee_id: GlobalID | None = strawberry.field(
        default=None, description="Only plans of this employee (an employee's ID)."
    )
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Plans whose window ends after this."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Plans whose window starts before this."
    )

    def request_fields(self) -> dict[str, Any]:
        """The list request's fields this filter sets."""
        return {
            "employee_id": raw_id(self.employee_id, "Employee", "filter.employeeId"),
            "to": to_timestamp(self.to),
            "from": to_timestamp(self.from_),
        }


VISIT_PLANS = Listing(
    "visits", visits_pb2.ListVisitPlansRequest, "visit_plans", visit_plan_from_proto
)


async def list_visit_plans(
    info: Info, first: int | None, after: str | None, filter: VisitPlanFilter | None
) -> VisitPlanConnection:
    return await VISIT_PLANS.first(
        info, first, after, **(filter or VisitPlanFilter()).request_fields()
    )


# --- call logs -------------------------------------------------------------------


@strawberry.type(
    description="One call from the telephony system (A6). A rep sees their own calls, a "
    "manager their branch's (a headquarters manager: all), HR everyone's; nobody else."
)
class CallLog(Node):
    number: str = strawberry.field(description="Masked, e.g. 138****5678.")
    direction: CallDirection | None = strawberry.field(description="OUTGOING or INCOMING.")
    started_at: datetime | None = strawberry.field(description="When the call started.")
    duration_seconds: int = strawberry.field(description="How long it lasted, in seconds.")
    employee_id: strawberry.Private[str]
    customer_id: strawberry.Private[str]

    employee = EMPLOYEE.field(
        "employee_id", "Who made or took the call; null when not visible to the caller."
    )
    customer = CUSTOMER.field(
        "customer_id", "The customer the number belongs to, when matched and visible to the caller."
    )


def call_log_from_proto(message: visits_pb2.CallLog) -> CallLog:
    return converted(CallLog, message)


CallLogConnection = Connection[CallLog]


@strawberry.input(
    description="Which calls to list, within the caller's scope; the conditions given all apply."
)
class CallLogFilter:
    employee_id: GlobalID | None = strawberry.field(
        default=None, description="Only calls of this employee (an employee's ID)."
    )
    customer_id: GlobalID | None = strawberry.field(
        default=None,
        description="Only calls matched to this customer's number (a customer's ID).",
    )
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Only calls started at or after this moment."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Only calls started before this moment."
    )

    def request_fields(self) -> dict[str, Any]:
        """The list request's fields this filter sets."""
        return {
            "employee_id": raw_id(self.employee_id, "Employee", "filter.employeeId"),
            "customer_id": raw_id(self.customer_id, "Customer", "filter.customerId"),
            "to": to_timestamp(self.to),
            "from": to_timestamp(self.from_),
        }


CALL_LOGS = Listing("visits", visits_pb2.ListCallLogsRequest, "call_logs", call_log_from_proto)


async def list_call_logs(
    info: Info, first: int | None, after: str | None, filter: CallLogFilter | None
) -> CallLogConnection:
    return await CALL_LOGS.first(info, first, after, **(filter or CallLogFilter()).request_fields())


async def read_check_in(info: Info, check_in_id: str) -> CheckIn:
    """One check-in by its service ID (photo URLs signed only when the query shows them)."""
    response = await info.context.clients.visits.GetCheckIn(
        visits_pb2.GetCheckInRequest(
            id=check_in_id, include_photo_urls=selects(info, PHOTO_URL_FIELDS, ("photos",))
        )
    )
    return check_in_from_proto(response.check_in)


async def read_check_ins(info: Info, check_in_ids: Sequence[str]) -> list[CheckIn]:
    """The check-ins among ``check_in_ids`` the caller may see, in one call (Relay's nodes)."""
    photo_urls = selects(info, PHOTO_URL_FIELDS, ("photos",))
    return await CHECK_INS.by_ids(info, check_in_ids, include_photo_urls=photo_urls)


# --- roots -------------------------------------------------------------------------


@strawberry.type
class VisitsQuery:
    check_in = by_id(
        CheckIn,
        "The check-in's ID.",
        read_check_in,
        "One check-in; null (NOT_FOUND) when unknown or outside the caller's scope (see CheckIn).",
    )
    check_ins = listed(
        CheckIn,
        CHECK_INS.first,
        CheckInFilter,
        "Which check-ins to list.",
        "Check-ins the caller may see (see CheckIn), newest first; anyone but reps, managers "
        "and HR is FORBIDDEN.",
    )
    visit_plans = listed(
        VisitPlan,
        list_visit_plans,
        VisitPlanFilter,
        "Which plans to list.",
        "Visit plans the caller may see (see VisitPlan), by window start, the earliest first.",
    )
    call_logs = listed(
        CallLog,
        list_call_logs,
        CallLogFilter,
        "Which calls to list.",
        "Imported calls the caller may see (see CallLog), newest first.",
    )
