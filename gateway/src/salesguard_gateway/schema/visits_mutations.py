"""Field visits' mutations (attendance ``VisitsService``, A2–A6): photo uploads, plans,
check-ins and check-outs, call-log imports, detector runs.

A check-in a mutation returns is read again with signed photo URLs only when the
query shows them (schema/visits.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry

from salesguard import validation
from salesguard_api.attendance.v1 import visits_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.codes import AlertKind, codes_of
from salesguard_gateway.schema.common import JSON, LocationInput, idempotency_key_field, selects
from salesguard_gateway.schema.conversions import (
    copied,
    optional,
    to_timestamp,
    upload_payload,
    upload_size,
)
from salesguard_gateway.schema.enums import CallDirection
from salesguard_gateway.schema.nodes import GlobalID, raw_id
from salesguard_gateway.schema.resolvers import mutation
from salesguard_gateway.schema.visits import (
    PHOTO_URL_FIELDS,
    CheckIn,
    VisitPlan,
    check_in_from_proto,
    visit_plan_from_proto,
)


def _location(field: str, value: LocationInput) -> LocationInput:
    """Latitude and longitude in range, checked as the services check them."""
    validation.geo_point(field, value.to_proto())
    return value


async def _shown(info: Info, message: visits_pb2.CheckIn, path: Sequence[str]) -> CheckIn:
    """A check-in a mutation returns, read again with signed URLs when the query shows them."""
    if message.photos and selects(info, PHOTO_URL_FIELDS, path):
        response = await info.context.clients.visits.GetCheckIn(
            visits_pb2.GetCheckInRequest(id=message.id, include_photo_urls=True)
        )
        message = response.check_in
    return check_in_from_proto(message)


# --- mutations' inputs and payloads ----------------------------------------------


@strawberry.input(description="A check-in photo the device is about to upload (A4).")
class CreatePhotoUploadInput:
    content_type: str = strawberry.field(description="image/jpeg, image/png or image/heic.")
    size_bytes: int = strawberry.field(
        description="The exact size to upload, positive; part of the upload's signature."
    )


@strawberry.type(
    description="A signed upload: PUT the photo's bytes to uploadUrl with uploadHeaders, once, "
    "before expiresAt."
)
class CreatePhotoUploadPayload:
    key: str = strawberry.field(description="Name this key in checkIn's photoKeys.")
    upload_url: str = strawberry.field(description="PUT the bytes here, once.")
    upload_headers: JSON = strawberry.field(
        description="Send exactly these headers with the PUT (header name → value)."
    )
    expires_at: datetime | None = strawberry.field(
        description="When uploadUrl stops accepting the upload."
    )


@strawberry.input(description="A visit to plan (A2).")
class PlanVisitInput:
    customer_id: GlobalID = strawberry.field(description="The customer's ID.")
    window_start: datetime = strawberry.field(description="When the visit may start.")
    window_end: datetime = strawberry.field(description="After windowStart, within 24 hours.")
    note: str | None = strawberry.field(default=None, description="A note for the visitor.")
    employee_id: GlobalID | None = strawberry.field(
        default=None, description="Defaults to the caller; a manager may plan for a rep."
    )
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="The result of planVisit.")
class PlanVisitPayload:
    visit_plan: VisitPlan = strawberry.field(description="The visit plan stored.")


@strawberry.input(description="A check-in (A3), credited to the caller.")
class CheckInInput:
    at: datetime = strawberry.field(
        description="The device's time of the check-in: not in the future, not older than the "
        "service's backlog limit."
    )
    location: LocationInput = strawberry.field(description="Where the device is.")
    accuracy_m: float = strawberry.field(description="The device's reported accuracy, metres.")
    customer_id: GlobalID | None = strawberry.field(
        default=None, description="The customer visited, when the rep links one."
    )
    photo_keys: list[str] | None = strawberry.field(
        default=None, description="Keys from createPhotoUpload, uploaded before."
    )
    device_id: str = strawberry.field(
        description="The device's ID; one the caller never used before is NEW_DEVICE."
    )
    mock_location: bool = strawberry.field(
        default=False, description="The device reports a mock (simulated) location."
    )
    visit_plan_id: GlobalID | None = strawberry.field(
        default=None, description="The caller's own visit plan this check-in carries out."
    )
    note: str | None = strawberry.field(default=None, description="What to note.")
    idempotency_key: str | None = idempotency_key_field(
        "A retried check-in with the same key returns the first record."
    )


@strawberry.type(description="The result of checkIn.")
class CheckInPayload:
    check_in: CheckIn = strawberry.field(
        description="The check-in stored, with its verdict and reasons."
    )


@strawberry.input(description="The end of a visit: a check-out of the caller's own check-in.")
class CheckOutInput:
    check_in_id: GlobalID = strawberry.field(
        description="The check-in's ID; one not the caller's is NOT_FOUND."
    )
    at: datetime | None = strawberry.field(
        default=None, description="Not before the check-in, not in the future; defaults to now."
    )
    location: LocationInput | None = strawberry.field(
        default=None, description="Where the device is."
    )
    accuracy_m: float | None = strawberry.field(
        default=None, description="The device's reported accuracy, metres."
    )
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="The result of checkOut.")
class CheckOutPayload:
    check_in: CheckIn = strawberry.field(
        description="The check-in, checked out; SHORT_VISIT added when the visit was too short."
    )


@strawberry.input(description="One call as the telephony system reports it (A6).")
class CallLogEntryInput:
    employee_id: GlobalID = strawberry.field(
        description="The employee's ID: whose phone made or took the call."
    )
    number: str = strawberry.field(description="As the telephony system gives it.")
    direction: CallDirection = strawberry.field(description="OUTGOING or INCOMING.")
    started_at: datetime = strawberry.field(description="When the call started.")
    duration_seconds: int = strawberry.field(description="How long it lasted, in seconds.")


@strawberry.input(description="Calls to import (A6).")
class ImportCallLogsInput:
    entries: list[CallLogEntryInput] = strawberry.field(
        description="At least one call, at most the service's limit per import."
    )
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="An entry the import refused; the others were imported.")
class RejectedCallLog:
    index: int = strawberry.field(description="Position in the input's entries, from 0.")
    field: str | None = strawberry.field(
        description="The entry's field at fault; null when no single field is."
    )
    reason: str = strawberry.field(description="What is wrong, in English.")


@strawberry.type(description="The result of importCallLogs.")
class ImportCallLogsPayload:
    accepted: int = strawberry.field(description="Calls stored now.")
    duplicates: int = strawberry.field(description="Calls imported before; not counted twice.")
    rejected: list[RejectedCallLog] = strawberry.field(description="The entries refused, with why.")
    alerts_raised: list[AlertKind] = strawberry.field(
        description="Alert kinds this import raised, e.g. ABNORMAL_CALL_PATTERN."
    )


@strawberry.input(description="The range to run the detectors over: at most 92 days.")
class RunDetectorsInput:
    from_: datetime = strawberry.field(name="from", description="The range's start.")
    to: datetime = strawberry.field(description="The range's end, after from.")
    employee_id: GlobalID | None = strawberry.field(
        default=None, description="Defaults to every employee."
    )


@strawberry.type(description="The result of runDetectors.")
class RunDetectorsPayload:
    alerts_raised: int = strawberry.field(description="Alerts raised now; earlier ones are kept.")
    employees_checked: int = strawberry.field(description="Employees whose records were checked.")


@strawberry.type
class VisitsMutation:
    @mutation(
        "A signed URL to upload one photo to, before the check-in that names it; reps and managers.",
        input="The photo to upload.",
    )
    async def create_photo_upload(
        self, info: Info, input: CreatePhotoUploadInput
    ) -> CreatePhotoUploadPayload:
        response = await info.context.clients.visits.CreatePhotoUpload(
            visits_pb2.CreatePhotoUploadRequest(
                content_type=input.content_type, size_bytes=upload_size(input.size_bytes)
            )
        )
        return upload_payload(CreatePhotoUploadPayload, response)

    @mutation(
        "Plan a visit (A2): a rep for themselves, a manager for an employee of their branch; "
        "nobody else. On a day with plans, a check-in matching none of them is OUTSIDE_PLAN.",
        input="The visit to plan.",
    )
    async def plan_visit(self, info: Info, input: PlanVisitInput) -> PlanVisitPayload:
        request = visits_pb2.PlanVisitRequest(
            customer_id=raw_id(input.customer_id, "Customer", "input.customerId"),
            window_start=to_timestamp(input.window_start),
            window_end=to_timestamp(input.window_end),
            note=input.note or "",
            employee_id=raw_id(input.employee_id, "Employee", "input.employeeId"),
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.visits.PlanVisit(request)
        return PlanVisitPayload(visit_plan=visit_plan_from_proto(response.visit_plan))

    @mutation(
        "Record a visit, credited to the caller (a rep or a manager, active); it is stored "
        "whatever its verdict (A3).",
        input="The check-in.",
    )
    async def check_in(self, info: Info, input: CheckInInput) -> CheckInPayload:
        request = visits_pb2.CheckInRequest(
            at=to_timestamp(input.at),
            location=_location("location", input.location).to_proto(),
            accuracy_m=input.accuracy_m,
            customer_id=raw_id(input.customer_id, "Customer", "input.customerId"),
            photo_keys=list(input.photo_keys or ()),
            device_id=input.device_id,
            mock_location=input.mock_location,
            visit_plan_id=raw_id(input.visit_plan_id, "VisitPlan", "input.visitPlanId"),
            note=input.note or "",
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.visits.CheckIn(request)
        return CheckInPayload(check_in=await _shown(info, response.check_in, ("checkIn", "photos")))

    @mutation(
        "End a visit of the caller's; one shorter than the branch's minimum adds SHORT_VISIT. "
        "A second check-out is FAILED_PRECONDITION.",
        input="The check-out.",
    )
    async def check_out(self, info: Info, input: CheckOutInput) -> CheckOutPayload:
        request = visits_pb2.CheckOutRequest(
            check_in_id=raw_id(input.check_in_id, "CheckIn", "input.checkInId"),
            at=to_timestamp(input.at),
            location=(
                _location("location", input.location).to_proto()
                if input.location is not None
                else None
            ),
            accuracy_m=input.accuracy_m or 0.0,
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.visits.CheckOut(request)
        return CheckOutPayload(
            check_in=await _shown(info, response.check_in, ("checkIn", "photos"))
        )

    @mutation(
        "Calls from the telephony system, idempotent per call (employee, number, start and "
        "direction), matched to customers by number (A6); HR and admins.",
        input="The calls.",
    )
    async def import_call_logs(
        self, info: Info, input: ImportCallLogsInput
    ) -> ImportCallLogsPayload:
        request = visits_pb2.ImportCallLogsRequest(
            entries=[
                visits_pb2.CallLogEntry(
                    employee_id=raw_id(entry.employee_id, "Employee", "entries.employeeId"),
                    number=entry.number,
                    direction=entry.direction.value,
                    started_at=to_timestamp(entry.started_at),
                    duration_seconds=entry.duration_seconds,
                )
                for entry in input.entries
            ],
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.visits.ImportCallLogs(request)
        return copied(
            ImportCallLogsPayload,
            response,
            rejected=[
                copied(RejectedCallLog, item, field=optional(item.field))
                for item in response.rejected
            ],
            alerts_raised=codes_of(AlertKind, response.alerts_raised),
        )

    @mutation(
        "Re-run the visit and call detectors over a range (A5, A6); idempotent. HR and admins.",
        input="The range and employee.",
    )
    async def run_detectors(self, info: Info, input: RunDetectorsInput) -> RunDetectorsPayload:
        request = visits_pb2.RunDetectorsRequest(
            to=to_timestamp(input.to),
            employee_id=raw_id(input.employee_id, "Employee", "input.employeeId"),
            **{"from": to_timestamp(input.from_)},
        )
        response = await info.context.clients.visits.RunDetectors(request)
        return copied(RunDetectorsPayload, response)
