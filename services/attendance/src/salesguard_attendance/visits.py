"""Check-ins and check-outs, recorded and read.

A check-in is verified (:mod:`salesguard_attendance.verification`) from facts gathered
before its transaction (the photos read from the object store, the customers near the
point, asked of the customers service) and facts read inside it (the previous check-in,
earlier photos, devices, plans); it is stored whatever the verdict, once per
idempotency key.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.protobuf import struct_pb2
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import geo, validation
from salesguard.alerts import raise_alert
from salesguard.db import lock_keys, new_id, utcnow
from salesguard.errors import (
    ErrorCode,
    FailedPrecondition,
    InvalidInput,
    NotFound,
    ServiceError,
)
from salesguard.idempotency import IdempotentWrites
from salesguard.listing import (
    enum_filter,
    equal_to,
    one_of_ids,
    period,
    scoped_page_size,
)
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.principal import Principal, current_principal
from salesguard.reads import Listing, one_by_id
from salesguard.service import Runtime
from salesguard.timeutil import to_timestamp
from salesguard.writes import own_resource, past_moment
from salesguard_api.attendance.v1 import visits_pb2 as pb
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import lookups_pb2
from salesguard_attendance import SERVICE_NAME
from salesguard_attendance.context import BranchContext, branch_context
from salesguard_attendance.customer_lookups import CustomerLookups
from salesguard_attendance.detectors import Detectors
from salesguard_attendance.directory import require_active
from salesguard_attendance.facts import facts_of
from salesguard_attendance.models import Alert, CheckIn, EmployeeDevice, IdempotencyKey
from salesguard_attendance.photo_evidence import (
    Photos,
    VerifiedPhoto,
    photo_row,
    photo_to_proto,
    reused_photos,
)
from salesguard_attendance.plans import covering_plan, day_plans, named_plan
from salesguard_attendance.rules.streaks import FieldVisitThresholds
from salesguard_attendance.settings import AttendanceSettings
from salesguard_attendance.verification import (
    CheckInFacts,
    EarlierPosition,
    NearbyCustomer,
    RecordedCheckIn,
    assess,
    check_in_alerts,
    codes_column,
    reason_filter,
    short_visit,
    verdict_of,
)

CHECK_IN_SCOPE = ScopeColumns(
    owner=CheckIn.employee_id, team=CheckIn.team_id, branch=CheckIn.branch_id
)
CHECK_IN_LISTING = Listing(CheckIn, CheckIn.at, CheckIn.id)
VERDICTS = validation.enum_names(pb.Verdict, "VERDICT_")
MAX_ACCURACY_M = 100_000


@dataclass(frozen=True)
class CheckInInput:
    at: datetime
    lat: float
    lng: float
    accuracy_m: float
    device_id: str
    customer_id: str | None
    photo_keys: list[str]
    visit_plan_id: str | None
    note: str
    mock_location: bool


def reason_to_proto(reason: dict[str, Any]) -> pb.Reason:
    detail = struct_pb2.Struct()
    detail.update(reason.get("detail") or {})
    return pb.Reason(code=reason["code"], message=reason["message"], detail=detail)


def check_in_to_proto(row: CheckIn, photos: list[pb.Photo]) -> pb.CheckIn:
    message = pb.CheckIn(
        id=row.id,
        employee_id=row.employee_id,
        customer_id=row.customer_id or "",
        at=to_timestamp(row.at),
        location=common_pb2.GeoPoint(lat=row.lat, lng=row.lng),
        accuracy_m=row.accuracy_m,
        device_id=row.device_id,
        mock_location=row.mock_location,
        photos=photos,
        verdict=pb.Verdict.Value(f"VERDICT_{row.verdict}"),
        reasons=[reason_to_proto(reason) for reason in row.reasons],
        visit_plan_id=row.visit_plan_id or "",
        team_id=row.team_id or "",
        branch_id=row.branch_id or "",
        recorded_at=to_timestamp(row.recorded_at),
        checked_out_at=to_timestamp(row.checked_out_at),
        note=row.note,
    )
    if row.check_out_lat is not None and row.check_out_lng is not None:
        message.check_out_location.CopyFrom(
            common_pb2.GeoPoint(lat=row.check_out_lat, lng=row.check_out_lng)
        )
    return message


async def previous_position(
    session: AsyncSession, employee_id: str, at: datetime
) -> EarlierPosition | None:
    previous = (
        await session.scalars(
            select(CheckIn)
            .where(CheckIn.employee_id == employee_id, CheckIn.at <= at)
            .order_by(CheckIn.at.desc())
            .limit(1)
        )
    ).first()
    if previous is None:
        return None
    return EarlierPosition(previous.id, previous.at, previous.lat, previous.lng)


async def register_device(
    session: AsyncSession, employee_id: str, device_id: str, at: datetime
) -> bool:
    """Record the device; True when it is new for an employee who has used others."""
    if await session.get(EmployeeDevice, (employee_id, device_id)) is not None:
        return False
    used_others = bool(
        await session.scalar(
            select(func.count())
            .select_from(EmployeeDevice)
            .where(EmployeeDevice.employee_id == employee_id)
        )
    )
    session.add(EmployeeDevice(employee_id=employee_id, device_id=device_id, first_seen_at=at))
    await session.flush()
    return used_others


class Visits:
    def __init__(
        self,
        runtime: Runtime[AttendanceSettings],
        detectors: Detectors,
        lookups: CustomerLookups,
        photos: Photos,
    ) -> None:
        self.db = runtime.db
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey)
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.detectors = detectors
        self.lookups = lookups
        self.photos = photos

    # -- check-ins -------------------------------------------------------------------

    def _validate(self, request: pb.CheckInRequest) -> CheckInInput:
        if not request.HasField("location"):
            raise InvalidInput("location", "location is required")
        lat, lng = validation.geo_point("location", request.location)
        now = utcnow()
        at = past_moment("at", request.at, now=now, skew_seconds=self.settings.clock_skew_seconds)
        if at < now - timedelta(days=self.settings.max_backlog_days):
            raise InvalidInput(
                "at", f"a check-in older than {self.settings.max_backlog_days} days is refused"
            )
        accuracy = request.accuracy_m
        # NaN fails the first test.
        if not (accuracy == accuracy and 0 <= accuracy <= MAX_ACCURACY_M):
            raise InvalidInput("accuracy_m", f"accuracy_m must be between 0 and {MAX_ACCURACY_M}")
        keys = list(dict.fromkeys(request.photo_keys))
        if len(keys) > self.settings.max_photos_per_check_in:
            raise InvalidInput(
                "photo_keys", f"at most {self.settings.max_photos_per_check_in} photos"
            )
        return CheckInInput(
            at=at,
            lat=lat,
            lng=lng,
            accuracy_m=accuracy,
            device_id=validation.text(
                "device_id", request.device_id, required=True, max_length=128
            ),
            customer_id=validation.record_id("customer_id", request.customer_id) or None,
            photo_keys=[
                validation.text("photo_keys", key, max_length=validation.OBJECT_KEY_LENGTH)
                for key in keys
            ],
            visit_plan_id=validation.record_id("visit_plan_id", request.visit_plan_id) or None,
            note=validation.text("note", request.note, max_length=validation.MAX_NOTE),
            mock_location=request.mock_location,
        )

    async def check_in(self, request: pb.CheckInRequest) -> pb.CheckInResponse:
        principal = current_principal()
        resource = own_resource(principal)
        (await self.policy.decide(principal, "checkins.create", resource)).require(
            "checkins.create"
        )
        given = self._validate(request)
        earlier = await self.idempotent.earlier(principal.id, request, pb.CheckInResponse)
        if earlier is not None:
            return earlier
        async with self.db.read() as session:
            context = await branch_context(session, principal.branch_id, self.settings)
        if given.customer_id:
            await self._require_linkable(principal.id, given.customer_id, given.at, context)
        photos, nearby, detector_thresholds = await asyncio.gather(
            asyncio.gather(
                *(self.photos.verify(principal.id, key, context.zone) for key in given.photo_keys)
            ),
            self.lookups.nearby(
                given.lat, given.lng, context.thresholds.geofence_radius_m, given.customer_id
            ),
            # Asked of the policy before the transaction, not while it holds a connection.
            self.detectors.field_thresholds(),
        )

        async def record(session: AsyncSession) -> pb.CheckInResponse:
            return await self._record(
                session, principal, given, context, list(photos), nearby, detector_thresholds
            )

        return await self.idempotent.run(principal.id, request, pb.CheckInResponse, record)

    async def _require_linkable(
        self, employee_id: str, customer_id: str, at: datetime, context: BranchContext
    ) -> None:
        """Refuse a customer the employee may neither read nor cover. The verdict would tell
        how far the visit was from the customer: its place. Covering a colleague's customer
        takes a visit plan someone else made for the employee around the check-in's time
        (:func:`~salesguard_attendance.plans.covering_plan`); the place then stays in the
        verdict, and the customer's contact fields out of the employee's reach."""
        try:
            await self.lookups.require_readable(customer_id)
        except ServiceError as refused:
            if refused.code is not ErrorCode.NOT_FOUND:
                raise
            tolerance = timedelta(minutes=context.thresholds.plan_tolerance_minutes)
            async with self.db.read() as session:
                plan = await covering_plan(session, employee_id, customer_id, at, tolerance)
            if plan is None:
                raise

    async def _facts(
        self,
        session: AsyncSession,
        employee_id: str,
        given: CheckInInput,
        context: BranchContext,
        photos: list[VerifiedPhoto],
        nearby: lookups_pb2.FindNearbyCustomersResponse,
    ) -> CheckInFacts:
        """What the check-in is judged by, read in its transaction."""
        linked = next((c for c in nearby.requested if c.customer_id == given.customer_id), None)
        plan = await named_plan(session, employee_id, given.visit_plan_id)
        return CheckInFacts(
            employee_id=employee_id,
            at=given.at,
            lat=given.lat,
            lng=given.lng,
            accuracy_m=given.accuracy_m,
            mock_location=given.mock_location,
            device_id=given.device_id,
            linked_customer_id=given.customer_id,
            linked_distance_m=linked.distance_m
            if linked is not None and linked.distance_m >= 0
            else None,
            nearby=[NearbyCustomer(c.customer_id, c.owner_id, c.distance_m) for c in nearby.nearby],
            previous=await previous_position(session, employee_id, given.at),
            photos=[photo.evidence() for photo in photos],
            reused=await reused_photos(session, photos, self.settings.photo_match_max_distance),
            device_is_new=await register_device(session, employee_id, given.device_id, given.at),
            day_plans=await day_plans(session, employee_id, context, context.local_day(given.at)),
            named_plan=plan,
        )

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        given: CheckInInput,
        context: BranchContext,
        photos: list[VerifiedPhoto],
        nearby: lookups_pb2.FindNearbyCustomersResponse,
        detector_thresholds: FieldVisitThresholds,
    ) -> pb.CheckInResponse:
        # One employee's check-ins one at a time (their devices, travel, streaks), and one
        # photo's: a racing check-in must see the one before it, or PHOTO_REUSED goes unseen.
        await lock_keys(
            session, f"check-in:{principal.id}", *(f"photo:{photo.sha256}" for photo in photos)
        )
        await require_active(session, principal.id)
        reasons = assess(
            await self._facts(session, principal.id, given, context, photos, nearby),
            context.thresholds,
        )
        row = CheckIn(
            id=new_id(),
            employee_id=principal.id,
            team_id=principal.team_id,
            branch_id=principal.branch_id,
            customer_id=given.customer_id,
            visit_plan_id=given.visit_plan_id,
            at=given.at,
            local_day=context.local_day(given.at),
            lat=given.lat,
            lng=given.lng,
            geohash=geo.encode(given.lat, given.lng),
            accuracy_m=given.accuracy_m,
            device_id=given.device_id,
            mock_location=given.mock_location,
            has_photo=bool(photos),
            verdict=verdict_of(reasons).value,
            reasons=[reason.as_dict() for reason in reasons],
            reason_codes=codes_column(reasons),
            note=given.note,
            recorded_at=utcnow(),
        )
        session.add(row)
        await session.flush()
        photo_rows = [photo_row(row, photo) for photo in photos]
        session.add_all(photo_rows)
        await session.flush()
        for alert in check_in_alerts(facts_of(RecordedCheckIn, row), reasons):
            await raise_alert(session, Alert, alert, source=SERVICE_NAME)
        await self.detectors.after_check_in(session, row, detector_thresholds)
        return pb.CheckInResponse(
            check_in=check_in_to_proto(row, [photo_to_proto(p) for p in photo_rows])
        )

    # -- check-out -----------------------------------------------------------------

    async def check_out(self, request: pb.CheckOutRequest) -> pb.CheckOutResponse:
        principal = current_principal()

        async def record(session: AsyncSession) -> pb.CheckOutResponse:
            row = await session.get(CheckIn, request.check_in_id, with_for_update=True)
            if row is None or row.employee_id != principal.id:
                raise NotFound(f"check-in {request.check_in_id} not found")
            await require_active(session, principal.id)
            # Judged once the check-in is the caller's (issue 11 item 12).
            at = past_moment(
                "at", request.at, default=utcnow(), skew_seconds=self.settings.clock_skew_seconds
            )
            location = (
                validation.geo_point("location", request.location)
                if request.HasField("location")
                else None
            )
            if row.checked_out_at is not None:
                raise FailedPrecondition(f"check-in {row.id} is already checked out")
            if at < row.at:
                raise InvalidInput("at", "a check-out cannot precede its check-in")
            context = await branch_context(session, row.branch_id, self.settings)
            row.checked_out_at = at
            if location is not None:
                row.check_out_lat, row.check_out_lng = location
            reason = short_visit(row.at, at, context.thresholds.min_visit_minutes)
            if reason is not None:
                row.reasons = [*row.reasons, reason.as_dict()]
                row.reason_codes = codes_column(row.reasons)
                row.verdict = verdict_of(row.reasons).value
            return pb.CheckOutResponse(check_in=(await self.present(session, [row], False))[0])

        return await self.idempotent.run(principal.id, request, pb.CheckOutResponse, record)

    # -- reads -----------------------------------------------------------------------

    async def present(
        self, session: AsyncSession, rows: list[CheckIn], include_photo_urls: bool
    ) -> list[pb.CheckIn]:
        """Check-ins with their photos; URLs only here, where the rows passed the scope filter."""
        photos = await self.photos.present(session, [row.id for row in rows], include_photo_urls)
        return [check_in_to_proto(row, photos[row.id]) for row in rows]

    async def _read_decision(self) -> Decision:
        return (await self.policy.decide(current_principal(), "checkins.read")).require(
            "checkins.read"
        )

    async def get_check_in(self, request: pb.GetCheckInRequest) -> pb.CheckIn:
        decision = await self._read_decision()
        async with self.db.read() as session:
            row = await one_by_id(
                session,
                CheckIn,
                request.id,
                scope_filter(decision, CHECK_IN_SCOPE),
                noun="check-in",
            )
            return (await self.present(session, [row], request.include_photo_urls))[0]

    async def list_check_ins(self, request: pb.ListCheckInsRequest) -> pb.ListCheckInsResponse:
        decision, size = await scoped_page_size(
            self.policy, "checkins.read", request.page, self.settings.page_limits
        )
        check_in_filter = request.filter
        conditions: list[Any] = [scope_filter(decision, CHECK_IN_SCOPE)]
        conditions += equal_to(
            (CheckIn.employee_id, check_in_filter.employee_id),
            (CheckIn.customer_id, check_in_filter.customer_id),
        )
        conditions += enum_filter(
            CheckIn.verdict, "filter.verdicts", check_in_filter.verdicts, VERDICTS
        )
        for code in check_in_filter.reason_codes:
            code = validation.text("filter.reason_codes", code, max_length=40).upper()
            if not code.replace("_", "").isalnum():
                raise InvalidInput("filter.reason_codes", f"{code!r} is not a reason code")
            conditions.append(reason_filter(CheckIn.reason_codes, code))
        conditions += period(CheckIn.at, getattr(check_in_filter, "from"), check_in_filter.to)
        conditions += one_of_ids(CheckIn.id, "filter.ids", check_in_filter.ids)
        async with self.db.read() as session:
            page, total = await CHECK_IN_LISTING.read(session, conditions, request.page, size)
            messages = await self.present(session, page.rows, request.include_photo_urls)
        return pb.ListCheckInsResponse(
            check_ins=messages, cursors=page.cursors, page_info=page.page_info(total)
        )
