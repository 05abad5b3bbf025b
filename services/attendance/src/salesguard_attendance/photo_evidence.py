"""Photo evidence, handled: presigned uploads, the photos a check-in names read back and
analysed, earlier photos looked up for reuse, and the stored rows. The rules are
:mod:`salesguard_attendance.photos`'s."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.db import new_id, utcnow
from salesguard.errors import InvalidInput
from salesguard.principal import current_principal
from salesguard.service import Runtime
from salesguard.timeutil import to_timestamp
from salesguard.writes import HandedUpload
from salesguard_api.attendance.v1 import visits_pb2 as pb
from salesguard_api.common.v1 import common_pb2
from salesguard_attendance.context import branch_context
from salesguard_attendance.directory import require_active
from salesguard_attendance.models import CheckIn, CheckInPhoto, PhotoUpload
from salesguard_attendance.photos import (
    StoredPhoto,
    analyse_photo,
    check_upload,
    earliest_reuse,
    hash_bands,
    is_own_upload,
    near_hash_filter,
    to_signed_64,
    to_unsigned_64,
    upload_key,
)
from salesguard_attendance.settings import AttendanceSettings
from salesguard_attendance.verification import PhotoEvidence, ReusedPhoto


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

    def evidence(self) -> PhotoEvidence:
        return PhotoEvidence(self.key, self.taken_at, self.exif_location)


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


def photo_row(check_in: CheckIn, photo: VerifiedPhoto) -> CheckInPhoto:
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


async def photos_of(
    session: AsyncSession, check_in_ids: list[str]
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


async def reused_photos(
    session: AsyncSession, photos: list[VerifiedPhoto], max_distance: int
) -> list[ReusedPhoto]:
    """Earlier check-ins' photos with the same bytes or within the perceptual threshold.

    Each hash's four indexed 16-bit bands narrow the search (``near_hash_filter``):
    a lookup reads a handful of rows, never every hash.
    """
    if not photos:
        return []
    bands = (CheckInPhoto.band_0, CheckInPhoto.band_1, CheckInPhoto.band_2, CheckInPhoto.band_3)
    on_postgres = session.bind.dialect.name == "postgresql"
    conditions: list[Any] = [CheckInPhoto.sha256.in_([p.sha256 for p in photos])]
    for photo in photos:
        near = near_hash_filter(
            bands,
            CheckInPhoto.perceptual_hash,
            photo.perceptual_hash,
            max_distance,
            distance_in_sql=on_postgres,
        )
        if near is not None:
            conditions.append(near)
    # Plain rows, not ORM objects; the distance is checked again by earliest_reuse.
    candidates = [
        StoredPhoto(
            row.check_in_id,
            row.employee_id,
            row.key,
            row.sha256,
            to_unsigned_64(row.perceptual_hash),
            row.customer_id,
            row.at,
        )
        for row in (
            await session.execute(
                select(
                    CheckInPhoto.check_in_id,
                    CheckInPhoto.employee_id,
                    CheckInPhoto.key,
                    CheckInPhoto.sha256,
                    CheckInPhoto.perceptual_hash,
                    CheckIn.customer_id,
                    CheckIn.at,
                )
                .join(CheckIn, CheckIn.id == CheckInPhoto.check_in_id)
                .where(or_(*conditions))
                .order_by(CheckInPhoto.recorded_at)
            )
        ).all()
    ]
    found = (
        earliest_reuse(photo.key, photo.sha256, photo.perceptual_hash, candidates, max_distance)
        for photo in photos
    )
    return [reuse for reuse in found if reuse is not None]


class Photos:
    def __init__(self, runtime: Runtime[AttendanceSettings]) -> None:
        self.db = runtime.db
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.objects = runtime.objects

    async def create_upload(
        self, request: pb.CreatePhotoUploadRequest
    ) -> pb.CreatePhotoUploadResponse:
        principal = current_principal()
        (await self.policy.decide(principal, "photos.upload")).require("photos.upload")
        content_type = check_upload(
            request.content_type, request.size_bytes, self.settings.photo_max_bytes
        )
        async with self.db.read() as session:
            context = await branch_context(session, principal.branch_id, self.settings)
        now = utcnow()
        key = upload_key(principal.id, context.local_day(now), new_id(), content_type)
        ttl = timedelta(minutes=self.settings.photo_upload_ttl_minutes)
        upload = await HandedUpload.sign(
            self.objects, principal.id, key, content_type, request.size_bytes, ttl
        )
        async with self.db.transaction() as session:
            await require_active(session, principal.id)
            session.add(PhotoUpload(**upload.columns()))
        return upload.answer(pb.CreatePhotoUploadResponse)

    async def verify(self, employee_id: str, key: str, zone: ZoneInfo) -> VerifiedPhoto:
        """The photo's bytes as uploaded by the employee, read and analysed."""
        async with self.db.read() as session:
            upload = await session.get(PhotoUpload, key)
        if upload is None or not is_own_upload(key, employee_id, upload.employee_id):
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

    async def present(
        self, session: AsyncSession, check_in_ids: list[str], include_urls: bool
    ) -> dict[str, list[pb.Photo]]:
        """Each check-in's photos; download URLs only when asked for (the caller has
        passed the rows through the scope filter)."""
        photos = await photos_of(session, check_in_ids)
        ttl = timedelta(seconds=self.settings.photo_url_ttl_seconds)
        expires_at = utcnow() + ttl
        presented: dict[str, list[pb.Photo]] = {}
        for check_in_id in check_in_ids:
            messages = presented.setdefault(check_in_id, [])
            for photo in photos.get(check_in_id, []):
                url = (
                    await self.objects.download_url(photo.key, ttl, version_id=photo.version_id)
                    if include_urls
                    else ""
                )
                messages.append(photo_to_proto(photo, url, expires_at if url else None))
        return presented
