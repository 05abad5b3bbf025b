"""Field visits (A2–A4): photo uploads, visit plans, check-ins and check-outs.

A check-in is verified from facts gathered before its transaction (the photos
read from the object store, the customers near the point, asked of the
customers service) and facts read inside it (the previous check-in, earlier
photos, devices, plans); it is stored whatever the verdict, once per
idempotency key.
"""

from __future__ import annotations

import asyncio
import mimetypes
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf import struct_pb2
from sqlalchemy import and_, cast, func, or_, select
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import geo, validation
from salesguard.alerts import AlertDraft, raise_alert
from salesguard.attendance.v1 import visits_pb2 as pb
from salesguard.common.v1 import common_pb2
from salesguard.customers.v1 import (
    customers_pb2,
    customers_pb2_grpc,
    lookups_pb2,
    lookups_pb2_grpc,
)
from salesguard.db import lock_keys, new_id, utcnow
from salesguard.directory import not_active
from salesguard.errors import FailedPrecondition, InvalidInput, NotFound
from salesguard.idempotency import IdempotentWrites
from salesguard.pagination import (
    count_if_asked,
    keyset_page,
    keyset_query,
)
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.principal import Principal, acting_as, current_principal
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_attendance import SERVICE_NAME
from salesguard_attendance.detectors import Detectors, FieldVisitThresholds
from salesguard_attendance.directory import require_active
from salesguard_attendance.models import (
    Alert,
    Branch,
    CheckIn,
    CheckInPhoto,
    Employee,
    EmployeeDevice,
    IdempotencyKey,
    PhotoUpload,
    VisitPlan,
)
from salesguard_attendance.photos import (
    ALLOWED_CONTENT_TYPES,
    analyse_photo,
    band_probes,
    hamming,
    hash_bands,
)
from salesguard_attendance.settings import AttendanceSettings
from salesguard_attendance.verification import (
    ALERTING,
    CheckInFacts,
    EarlierPosition,
    NearbyCustomer,
    PhotoEvidence,
    PlanWindow,
    Reason,
    ReusedPhoto,
    Thresholds,
    assess,
    short_visit,
    verdict_of,
)

CHECK_IN_SCOPE = ScopeColumns(
    owner=CheckIn.employee_id, team=CheckIn.team_id, branch=CheckIn.branch_id
)
PLAN_SCOPE = ScopeColumns(
    owner=VisitPlan.employee_id, team=VisitPlan.team_id, branch=VisitPlan.branch_id
)
VERDICTS = validation.enum_names(pb.Verdict, "VERDICT_")
NEARBY_LIMIT = 5
_SIGNED_64 = 1 << 63


def informative(perceptual_hash: int) -> bool:
    """Whether a hash says something about the picture (flat pictures hash to ~0)."""
    return 8 <= perceptual_hash.bit_count() <= 56


def to_signed_64(value: int) -> int:
    """A 64-bit hash as PostgreSQL's BIGINT can hold it."""
    return value - (1 << 64) if value >= _SIGNED_64 else value


def to_unsigned_64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


@dataclass(frozen=True)
class BranchContext:
    """What a check-in is judged by: the branch's time zone and thresholds."""

    zone: ZoneInfo
    thresholds: Thresholds

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, time.min, tzinfo=self.zone)
        return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


@dataclass(frozen=True)
class VerifiedPhoto:
    key: str
    version_id: str | None
    content_type: str
    size_bytes: int
    sha256: str
    perceptual_hash: int
    taken_at: datetime | None
    exif_location: tuple[float, float] | None


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


def photo_to_proto(
    row: CheckInPhoto, url: str = "", url_expires_at: datetime | None = None
) -> pb.Photo:
    message = pb.Photo(
        key=row.key,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        perceptual_hash=f"{to_unsigned_64(row.perceptual_hash):016x}",
        taken_at=to_timestamp(row.taken_at),
        has_exif_location=row.exif_lat is not None,
        url=url,
        url_expires_at=to_timestamp(url_expires_at),
    )
    if row.exif_lat is not None and row.exif_lng is not None:
        message.location.CopyFrom(common_pb2.GeoPoint(lat=row.exif_lat, lng=row.exif_lng))
    return message


def plan_to_proto(row: VisitPlan) -> pb.VisitPlan:
    return pb.VisitPlan(
        id=row.id,
        employee_id=row.employee_id,
        customer_id=row.customer_id,
        window_start=to_timestamp(row.window_start),
        window_end=to_timestamp(row.window_end),
        note=row.note,
        created_at=to_timestamp(row.created_at),
    )


class Visits:
    def __init__(self, runtime: Runtime[AttendanceSettings], detectors: Detectors) -> None:
        self.db = runtime.db
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey)
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.objects = runtime.objects
        self.detectors = detectors
        customers_channel = runtime.channels.channel("customers")
        self._lookups = lookups_pb2_grpc.CustomerLookupServiceStub(customers_channel)
        self._customers = customers_pb2_grpc.CustomersServiceStub(customers_channel)
        self._system = Principal.system(SERVICE_NAME)

    # -- context ------------------------------------------------------------

    async def branch_context(self, session: AsyncSession, branch_id: str | None) -> BranchContext:
        branch = await session.get(Branch, branch_id) if branch_id else None
        settings = self.settings
        return BranchContext(
            zone=ZoneInfo(branch.time_zone if branch is not None else "UTC"),
            thresholds=Thresholds(
                geofence_radius_m=(
                    branch.geofence_radius_m
                    if branch and branch.geofence_radius_m
                    else settings.geofence_radius_m
                ),
                max_travel_speed_kmh=settings.max_travel_speed_kmh,
                exif_max_distance_m=settings.exif_max_distance_m,
                exif_max_minutes=settings.exif_max_minutes,
                max_accuracy_m=settings.max_accuracy_m,
                min_visit_minutes=(
                    branch.min_visit_minutes
                    if branch is not None and branch.min_visit_minutes is not None
                    else settings.min_visit_minutes
                ),
                plan_tolerance_minutes=settings.plan_tolerance_minutes,
            ),
        )

    # -- photo uploads (A4) -----------------------------------------------------

    async def create_photo_upload(
        self, request: pb.CreatePhotoUploadRequest
    ) -> pb.CreatePhotoUploadResponse:
        principal = current_principal()
        (await self.policy.decide(principal, "photos.upload")).require("photos.upload")
        content_type = request.content_type.strip().lower()
        if content_type not in ALLOWED_CONTENT_TYPES:
            raise InvalidInput(
                "content_type", f"photos must be one of {', '.join(sorted(ALLOWED_CONTENT_TYPES))}"
            )
        if not 0 < request.size_bytes <= self.settings.photo_max_bytes:
            raise InvalidInput(
                "size_bytes", f"a photo must be 1 to {self.settings.photo_max_bytes} bytes"
            )
        async with self.db.read() as session:
            context = await self.branch_context(session, principal.branch_id)
        now = utcnow()
        extension = mimetypes.guess_extension(content_type) or ".img"
        key = f"photos/{principal.id}/{context.local_day(now).isoformat()}/{new_id()}{extension}"
        ttl = timedelta(minutes=self.settings.photo_upload_ttl_minutes)
        upload = await self.objects.upload_url(key, content_type, request.size_bytes, ttl)
        async with self.db.transaction() as session:
            await require_active(session, principal.id)
            session.add(
                PhotoUpload(
                    key=key,
                    employee_id=principal.id,
                    content_type=content_type,
                    size_bytes=request.size_bytes,
                    created_at=now,
                    expires_at=upload.expires_at,
                )
            )
        return pb.CreatePhotoUploadResponse(
            key=key,
            upload_url=upload.url,
            upload_headers=upload.headers,
            expires_at=to_timestamp(upload.expires_at),
        )

    async def _verify_photo(self, principal: Principal, key: str, zone: ZoneInfo) -> VerifiedPhoto:
        """The photo's bytes as uploaded by the caller, read and analysed (A4)."""
        async with self.db.read() as session:
            upload = await session.get(PhotoUpload, key)
        if (
            upload is None
            or upload.employee_id != principal.id
            or not key.startswith(f"photos/{principal.id}/")
        ):
            raise InvalidInput("photo_keys", f"photo {key} is not one of your uploads")
        stored = await self.objects.read(key, max_bytes=self.settings.photo_max_bytes)
        if stored is None:
            raise InvalidInput("photo_keys", f"photo {key} has not been uploaded")
        if stored.truncated:
            raise InvalidInput(
                "photo_keys", f"photo {key} is larger than {self.settings.photo_max_bytes} bytes"
            )
        facts = await asyncio.to_thread(analyse_photo, stored.data, upload.content_type)
        taken_at = facts.taken_at
        if taken_at is not None and taken_at.tzinfo is None:
            # EXIF without an offset is the camera's local time: the branch's zone.
            taken_at = taken_at.replace(tzinfo=zone)
        return VerifiedPhoto(
            key=key,
            version_id=stored.info.version_id,
            content_type=facts.content_type,
            size_bytes=len(stored.data),
            sha256=facts.sha256,
            perceptual_hash=facts.perceptual_hash,
            taken_at=taken_at.astimezone(UTC) if taken_at is not None else None,
            exif_location=facts.exif_location,
        )

    # -- check-ins (A3) -------------------------------------------------------------

    def _validate(self, request: pb.CheckInRequest) -> CheckInInput:
        if not request.HasField("location"):
            raise InvalidInput("location", "location is required")
        lat, lng = validation.geo_point("location", request.location)
        at = from_timestamp(request.at, "at")
        if at is None:
            raise InvalidInput("at", "at is required")
        now = utcnow()
        if at > now + timedelta(seconds=self.settings.clock_skew_seconds):
            raise InvalidInput("at", "a check-in cannot lie in the future")
        if at < now - timedelta(days=self.settings.max_backlog_days):
            raise InvalidInput(
                "at", f"a check-in older than {self.settings.max_backlog_days} days is refused"
            )
        accuracy = request.accuracy_m
        if not (accuracy == accuracy and 0 <= accuracy <= 100_000):  # NaN fails the first test
            raise InvalidInput("accuracy_m", "accuracy_m must be between 0 and 100000")
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
            customer_id=validation.text("customer_id", request.customer_id, max_length=32) or None,
            photo_keys=[validation.text("photo_keys", key, max_length=512) for key in keys],
            visit_plan_id=validation.text("visit_plan_id", request.visit_plan_id, max_length=32)
            or None,
            note=validation.text("note", request.note, max_length=validation.MAX_NOTE),
            mock_location=request.mock_location,
        )

    async def check_in(self, request: pb.CheckInRequest) -> pb.CheckInResponse:
        principal = current_principal()
        resource = {
            "employee_id": principal.id,
            "team_id": principal.team_id,
            "branch_id": principal.branch_id,
        }
        (await self.policy.decide(principal, "checkins.create", resource)).require(
            "checkins.create"
        )
        given = self._validate(request)
        earlier = await self.idempotent.earlier(principal.id, request, pb.CheckInResponse)
        if earlier is not None:
            return earlier
        if given.customer_id:
            # The verdict would tell how far the visit was from the customer: its place.
            await self.require_readable_customer(given.customer_id)
        async with self.db.read() as session:
            context = await self.branch_context(session, principal.branch_id)
        photos, nearby, detector_thresholds = await asyncio.gather(
            asyncio.gather(
                *(self._verify_photo(principal, key, context.zone) for key in given.photo_keys)
            ),
            self._nearby(given, context.thresholds.geofence_radius_m),
            # Asked of the policy before the transaction, not while it holds a connection.
            self.detectors.field_thresholds(),
        )

        async def record(session: AsyncSession) -> pb.CheckInResponse:
            return await self._record(
                session, principal, given, context, list(photos), nearby, detector_thresholds
            )

        return await self.idempotent.run(principal.id, request, pb.CheckInResponse, record)

    async def require_readable_customer(self, customer_id: str) -> None:
        """Refuse a customer the caller may not read (SPEC §2), asked of the customers
        service as the caller: NOT_FOUND alike for one outside their scope and one that
        does not exist, so a visit tells nothing of a customer one may not see."""
        await self._customers.GetCustomer(customers_pb2.GetCustomerRequest(id=customer_id))

    async def _nearby(
        self, given: CheckInInput, radius_m: float
    ) -> lookups_pb2.FindNearbyCustomersResponse:
        with acting_as(self._system):
            response = await self._lookups.FindNearbyCustomers(
                lookups_pb2.FindNearbyCustomersRequest(
                    location=common_pb2.GeoPoint(lat=given.lat, lng=given.lng),
                    radius_m=radius_m,
                    limit=NEARBY_LIMIT,
                    customer_ids=[given.customer_id] if given.customer_id else [],
                )
            )
        if given.customer_id and given.customer_id not in {
            c.customer_id for c in response.requested
        }:
            raise InvalidInput("customer_id", f"customer {given.customer_id} does not exist")
        return response

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
        local_day = context.local_day(given.at)
        linked = next((c for c in nearby.requested if c.customer_id == given.customer_id), None)
        named_plan = await self._named_plan(session, principal, given)
        facts = CheckInFacts(
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
            previous=await self._previous_position(session, principal.id, given.at),
            photos=[PhotoEvidence(p.key, p.taken_at, p.exif_location) for p in photos],
            reused=await self._reused_photos(session, photos),
            device_is_new=await self._register_device(
                session, principal.id, given.device_id, given.at
            ),
            day_plans=await self._day_plans(session, principal.id, context, local_day),
            named_plan=named_plan,
        )
        reasons = assess(facts, context.thresholds)
        row = CheckIn(
            id=new_id(),
            employee_id=principal.id,
            team_id=principal.team_id,
            branch_id=principal.branch_id,
            customer_id=given.customer_id,
            visit_plan_id=given.visit_plan_id,
            at=given.at,
            local_day=local_day,
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
        photo_rows = [self._photo_row(row, photo) for photo in photos]
        session.add_all(photo_rows)
        await session.flush()
        await self._raise_check_in_alerts(session, row, reasons)
        await self.detectors.after_check_in(session, row, detector_thresholds)
        return pb.CheckInResponse(
            check_in=check_in_to_proto(row, [photo_to_proto(p) for p in photo_rows])
        )

    def _photo_row(self, check_in: CheckIn, photo: VerifiedPhoto) -> CheckInPhoto:
        bands = hash_bands(photo.perceptual_hash)
        return CheckInPhoto(
            id=new_id(),
            check_in_id=check_in.id,
            employee_id=check_in.employee_id,
            key=photo.key,
            version_id=photo.version_id,
            content_type=photo.content_type,
            size_bytes=photo.size_bytes,
            sha256=photo.sha256,
            perceptual_hash=to_signed_64(photo.perceptual_hash),
            band_0=bands[0],
            band_1=bands[1],
            band_2=bands[2],
            band_3=bands[3],
            taken_at=photo.taken_at,
            exif_lat=photo.exif_location[0] if photo.exif_location else None,
            exif_lng=photo.exif_location[1] if photo.exif_location else None,
            recorded_at=utcnow(),
        )

    async def _previous_position(
        self, session: AsyncSession, employee_id: str, at: datetime
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

    async def _reused_photos(
        self, session: AsyncSession, photos: list[VerifiedPhoto]
    ) -> list[ReusedPhoto]:
        """Earlier check-ins' photos with the same bytes or within the perceptual threshold.

        Each hash's four indexed 16-bit bands narrow the search: every stored
        hash within the threshold has, in some band, one of the few probe values
        (``band_probes``), so a lookup reads a handful of rows, never every hash.
        Near-blank pictures (few or almost all bits set: flat walls, black
        frames) all hash alike, so only their exact bytes count.
        """
        if not photos:
            return []
        limit = self.settings.photo_match_max_distance
        on_postgres = session.bind.dialect.name == "postgresql"
        conditions: list[Any] = [CheckInPhoto.sha256.in_([p.sha256 for p in photos])]
        for photo in photos:
            if informative(photo.perceptual_hash):
                probes = band_probes(photo.perceptual_hash, limit)
                shares_a_band = or_(
                    CheckInPhoto.band_0.in_(probes[0]),
                    CheckInPhoto.band_1.in_(probes[1]),
                    CheckInPhoto.band_2.in_(probes[2]),
                    CheckInPhoto.band_3.in_(probes[3]),
                )
                if on_postgres:
                    # The exact distance in the database: only matches travel back.
                    differing = CheckInPhoto.perceptual_hash.op("#")(
                        to_signed_64(photo.perceptual_hash)
                    )
                    conditions.append(
                        and_(shares_a_band, func.bit_count(cast(differing, BIT(64))) <= limit)
                    )
                else:
                    conditions.append(shares_a_band)
        # Plain rows, not ORM objects; the distance is checked again below for SQLite.
        candidates = (
            await session.execute(
                select(
                    CheckInPhoto.check_in_id,
                    CheckInPhoto.employee_id,
                    CheckInPhoto.key,
                    CheckInPhoto.sha256,
                    CheckInPhoto.perceptual_hash,
                )
                .where(or_(*conditions))
                .order_by(CheckInPhoto.recorded_at)
            )
        ).all()
        reused = []
        for photo in photos:
            for earlier in candidates:
                same_bytes = earlier.sha256 == photo.sha256
                distance = hamming(to_unsigned_64(earlier.perceptual_hash), photo.perceptual_hash)
                if same_bytes or (informative(photo.perceptual_hash) and distance <= limit):
                    reused.append(
                        ReusedPhoto(
                            key=photo.key,
                            earlier_check_in_id=earlier.check_in_id,
                            earlier_employee_id=earlier.employee_id,
                            earlier_key=earlier.key,
                            same_bytes=same_bytes,
                            distance_bits=0 if same_bytes else distance,
                        )
                    )
                    break  # the earliest match is the evidence
        return reused

    async def _register_device(
        self, session: AsyncSession, employee_id: str, device_id: str, at: datetime
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

    async def _day_plans(
        self, session: AsyncSession, employee_id: str, context: BranchContext, day: date
    ) -> list[PlanWindow]:
        start, end = context.day_bounds(day)
        rows = (
            await session.scalars(
                select(VisitPlan).where(
                    VisitPlan.employee_id == employee_id,
                    VisitPlan.window_start < end,
                    VisitPlan.window_end > start,
                )
            )
        ).all()
        return [
            PlanWindow(row.id, row.customer_id, row.window_start, row.window_end) for row in rows
        ]

    async def _named_plan(
        self, session: AsyncSession, principal: Principal, given: CheckInInput
    ) -> PlanWindow | None:
        if given.visit_plan_id is None:
            return None
        plan = await session.get(VisitPlan, given.visit_plan_id)
        if plan is None or plan.employee_id != principal.id:
            raise InvalidInput(
                "visit_plan_id", f"visit plan {given.visit_plan_id} is not one of yours"
            )
        return PlanWindow(plan.id, plan.customer_id, plan.window_start, plan.window_end)

    async def _raise_check_in_alerts(
        self, session: AsyncSession, row: CheckIn, reasons: list[Reason]
    ) -> None:
        for reason in reasons:
            if reason.code not in ALERTING:
                continue
            customer_id = reason.detail.get("customer_id") or row.customer_id
            if reason.code == "UNLINKED_CUSTOMER_SITE":
                dedupe = (
                    f"{reason.code}:{row.employee_id}:{customer_id}:{row.local_day.isoformat()}"
                )
            elif reason.code == "NEW_DEVICE":
                dedupe = f"{reason.code}:{row.employee_id}:{row.device_id}"
            else:
                dedupe = f"{reason.code}:{row.id}"
            await raise_alert(
                session,
                Alert,
                AlertDraft(
                    kind=reason.code,
                    dedupe_key=dedupe,
                    employee_id=row.employee_id,
                    customer_id=customer_id,
                    branch_id=row.branch_id,
                    detected_at=row.recorded_at,
                    evidence={**reason.detail, "check_in_id": row.id, "at": row.at.isoformat()},
                ),
                source=SERVICE_NAME,
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
            at = from_timestamp(request.at, "at") or utcnow()
            if at > utcnow() + timedelta(seconds=self.settings.clock_skew_seconds):
                raise InvalidInput("at", "a check-out cannot lie in the future")
            location = (
                validation.geo_point("location", request.location)
                if request.HasField("location")
                else None
            )
            if row.checked_out_at is not None:
                raise FailedPrecondition(f"check-in {row.id} is already checked out")
            if at < row.at:
                raise InvalidInput("at", "a check-out cannot precede its check-in")
            context = await self.branch_context(session, row.branch_id)
            row.checked_out_at = at
            if location is not None:
                row.check_out_lat, row.check_out_lng = location
            reason = short_visit(row.at, at, context.thresholds.min_visit_minutes)
            if reason is not None:
                row.reasons = [*row.reasons, reason.as_dict()]
                row.reason_codes = codes_column(row.reasons)
                row.verdict = verdict_of(row.reasons).value
            photos = await self._photos_of(session, [row.id])
            return pb.CheckOutResponse(
                check_in=check_in_to_proto(row, [photo_to_proto(p) for p in photos.get(row.id, [])])
            )

        return await self.idempotent.run(principal.id, request, pb.CheckOutResponse, record)

    # -- reads -----------------------------------------------------------------------

    async def _photos_of(
        self, session: AsyncSession, check_in_ids: list[str]
    ) -> dict[str, list[CheckInPhoto]]:
        rows = (
            await session.scalars(
                select(CheckInPhoto)
                .where(CheckInPhoto.check_in_id.in_(check_in_ids))
                .order_by(CheckInPhoto.recorded_at)
            )
        ).all()
        grouped: dict[str, list[CheckInPhoto]] = {}
        for row in rows:
            grouped.setdefault(row.check_in_id, []).append(row)
        return grouped

    async def present(
        self, session: AsyncSession, rows: list[CheckIn], include_photo_urls: bool
    ) -> list[pb.CheckIn]:
        """Check-ins with their photos; URLs only here, where the rows passed the scope filter."""
        photos = await self._photos_of(session, [row.id for row in rows])
        ttl = timedelta(seconds=self.settings.photo_url_ttl_seconds)
        expires_at = utcnow() + ttl
        messages = []
        for row in rows:
            photo_messages = []
            for photo in photos.get(row.id, []):
                url = (
                    await self.objects.download_url(photo.key, ttl, version_id=photo.version_id)
                    if include_photo_urls
                    else ""
                )
                photo_messages.append(photo_to_proto(photo, url, expires_at if url else None))
            messages.append(check_in_to_proto(row, photo_messages))
        return messages

    async def _read_decision(self) -> Decision:
        return (await self.policy.decide(current_principal(), "checkins.read")).require(
            "checkins.read"
        )

    async def get_check_in(self, request: pb.GetCheckInRequest) -> pb.CheckIn:
        decision = await self._read_decision()
        async with self.db.read() as session:
            row = await session.scalar(
                select(CheckIn).where(
                    CheckIn.id == request.id, scope_filter(decision, CHECK_IN_SCOPE)
                )
            )
            if row is None:
                raise NotFound(f"check-in {request.id} not found")
            return (await self.present(session, [row], request.include_photo_urls))[0]

    async def list_check_ins(self, request: pb.ListCheckInsRequest) -> pb.ListCheckInsResponse:
        requested = validation.page_size(
            "page.page_size", request.page.page_size, self.settings.page_limits
        )
        decision = await self._read_decision()
        size = decision.page_size(requested)
        check_in_filter = request.filter
        conditions: list[Any] = [scope_filter(decision, CHECK_IN_SCOPE)]
        if check_in_filter.employee_id:
            conditions.append(CheckIn.employee_id == check_in_filter.employee_id)
        if check_in_filter.customer_id:
            conditions.append(CheckIn.customer_id == check_in_filter.customer_id)
        if check_in_filter.verdicts:
            conditions.append(
                CheckIn.verdict.in_(
                    [
                        validation.enum_value("filter.verdicts", v, VERDICTS)
                        for v in check_in_filter.verdicts
                    ]
                )
            )
        for code in check_in_filter.reason_codes:
            code = validation.text("filter.reason_codes", code, max_length=40).upper()
            if not code.replace("_", "").isalnum():
                raise InvalidInput("filter.reason_codes", f"{code!r} is not a reason code")
            conditions.append(CheckIn.reason_codes.like(f"% {code} %"))
        start, end = (
            from_timestamp(getattr(check_in_filter, "from"), "from"),
            from_timestamp(check_in_filter.to, "to"),
        )
        if start:
            conditions.append(CheckIn.at >= start)
        if end:
            conditions.append(CheckIn.at < end)
        query = keyset_query(
            select(CheckIn).where(*conditions), request.page, size, CheckIn.at, CheckIn.id
        )
        async with self.db.read() as session:
            rows = list((await session.scalars(query)).all())
            total = await count_if_asked(
                request.page, session, select(func.count()).select_from(CheckIn).where(*conditions)
            )
            page = keyset_page(rows, size, lambda row: (row.at, row.id))
            messages = await self.present(session, page.rows, request.include_photo_urls)
        return pb.ListCheckInsResponse(
            check_ins=messages, cursors=page.cursors, page_info=page.page_info(total)
        )

    # -- visit plans (A2) ----------------------------------------------------------------

    async def plan_visit(self, request: pb.PlanVisitRequest) -> pb.VisitPlan:
        principal = current_principal()
        employee_id = (
            validation.text("employee_id", request.employee_id, max_length=64) or principal.id
        )
        # Planning one's own visits: FORBIDDEN once not active; someone else's: VALIDATION.
        named = None if employee_id == principal.id else "employee_id"
        async with self.db.read() as session:
            employee = await session.get(Employee, employee_id)
        # Authorised first: whether someone outside the caller's scope exists or is
        # active is not the caller's to learn (an unknown ID is in nobody's scope).
        resource = {
            "employee_id": employee_id,
            "team_id": employee.team_id if employee is not None else None,
            "branch_id": employee.branch_id if employee is not None else None,
        }
        (await self.policy.decide(principal, "visits.plan", resource)).require("visits.plan")
        if employee is None or employee.status != "ACTIVE":
            raise not_active(employee_id, named)
        window_start, window_end = (
            from_timestamp(request.window_start, "window_start"),
            from_timestamp(request.window_end, "window_end"),
        )
        if window_start is None or window_end is None:
            raise InvalidInput("window_start", "a plan needs a start and an end")
        if not window_start < window_end <= window_start + timedelta(hours=24):
            raise InvalidInput(
                "window_end", "a plan's window ends after it starts, within 24 hours"
            )
        customer_id = validation.text(
            "customer_id", request.customer_id, required=True, max_length=32
        )
        note = validation.text("note", request.note, max_length=validation.MAX_NOTE)
        await self.require_readable_customer(customer_id)

        async def insert(session: AsyncSession) -> pb.PlanVisitResponse:
            # Still active as the plan is written (the check above chose the policy's resource).
            await require_active(session, employee.id, field=named)
            row = VisitPlan(
                id=new_id(),
                employee_id=employee.id,
                team_id=employee.team_id,
                branch_id=employee.branch_id,
                customer_id=customer_id,
                window_start=window_start,
                window_end=window_end,
                note=note,
                created_by=principal.id,
                created_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            return pb.PlanVisitResponse(visit_plan=plan_to_proto(row))

        response = await self.idempotent.run(principal.id, request, pb.PlanVisitResponse, insert)
        return response.visit_plan

    async def list_visit_plans(
        self, request: pb.ListVisitPlansRequest
    ) -> pb.ListVisitPlansResponse:
        requested = validation.page_size(
            "page.page_size", request.page.page_size, self.settings.page_limits
        )
        decision = (await self.policy.decide(current_principal(), "visits.read")).require(
            "visits.read"
        )
        size = decision.page_size(requested)
        conditions: list[Any] = [scope_filter(decision, PLAN_SCOPE)]
        if request.employee_id:
            conditions.append(VisitPlan.employee_id == request.employee_id)
        start, end = (
            from_timestamp(getattr(request, "from"), "from"),
            from_timestamp(request.to, "to"),
        )
        if start:
            conditions.append(VisitPlan.window_end > start)
        if end:
            conditions.append(VisitPlan.window_start < end)
        query = keyset_query(
            select(VisitPlan).where(*conditions),
            request.page,
            size,
            VisitPlan.window_start,
            VisitPlan.id,
            newest_first=False,
        )
        async with self.db.read() as session:
            rows = list((await session.scalars(query)).all())
            total = await count_if_asked(
                request.page,
                session,
                select(func.count()).select_from(VisitPlan).where(*conditions),
            )
        page = keyset_page(rows, size, lambda row: (row.window_start, row.id))
        return pb.ListVisitPlansResponse(
            visit_plans=[plan_to_proto(row) for row in page.rows],
            cursors=page.cursors,
            page_info=page.page_info(total),
        )


def codes_column(reasons: list[Reason] | list[dict[str, Any]]) -> str:
    """Reason codes space-delimited with a space on both ends, for a portable LIKE filter."""
    codes = [r.code if isinstance(r, Reason) else r["code"] for r in reasons]
    return f" {' '.join(codes)} " if codes else " "
