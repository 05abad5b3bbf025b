"""Uploads to the object store: bank statements (CSV) and payment vouchers (photos).

CreateUpload hands out a presigned URL under a key of the caller's; a voucher is then
named by RecordPayment and a statement by ImportPayments, each only by its uploader.
"""

from __future__ import annotations

from datetime import timedelta

from salesguard import validation
from salesguard.db import new_id, utcnow
from salesguard.errors import InvalidInput
from salesguard.principal import current_principal
from salesguard.writes import HandedUpload
from salesguard_api.orders.v1 import payments_pb2 as pb
from salesguard_orders.models import Upload
from salesguard_orders.ordering import OrdersPart

UPLOAD_PURPOSES = validation.enum_names(pb.UploadPurpose, "UPLOAD_PURPOSE_")
STATEMENT_CONTENT_TYPES = {"text/csv": ".csv"}
VOUCHER_CONTENT_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/heic": ".heic"}


class Uploads(OrdersPart):
    async def create_upload(self, request: pb.CreateUploadRequest) -> pb.CreateUploadResponse:
        principal = current_principal()
        (await self.policy.decide(principal, "payments.upload")).require("payments.upload")
        purpose = validation.enum_value("purpose", request.purpose, UPLOAD_PURPOSES)
        content_type = request.content_type.strip().lower()
        if purpose == "STATEMENT":
            allowed, limit, folder = (
                STATEMENT_CONTENT_TYPES,
                self.settings.statement_max_bytes,
                "statements",
            )
        else:
            allowed, limit, folder = (
                VOUCHER_CONTENT_TYPES,
                self.settings.voucher_max_bytes,
                "vouchers",
            )
        if content_type not in allowed:
            raise InvalidInput(
                "content_type",
                f"a {purpose.lower()} upload must be one of {', '.join(sorted(allowed))}",
            )
        if not 0 < request.size_bytes <= limit:
            raise InvalidInput("size_bytes", f"a {purpose.lower()} must be 1 to {limit} bytes")
        zone = await self.zones.zone(principal.branch_id)
        now = utcnow()
        day = now.astimezone(zone).date().isoformat()
        key = f"{folder}/{principal.id}/{day}/{new_id()}{allowed[content_type]}"
        ttl = timedelta(minutes=self.settings.upload_ttl_minutes)
        upload = await HandedUpload.sign(
            self.runtime.objects, principal.id, key, content_type, request.size_bytes, ttl
        )
        async with self.db.transaction() as session:
            session.add(Upload(purpose=purpose, **upload.columns()))
        return upload.answer(pb.CreateUploadResponse)

    async def voucher(self, principal_id: str, key: str) -> str | None:
        """The voucher a payment names (None for none): one of the caller's voucher uploads,
        uploaded, within the size limit."""
        key = validation.text("voucher_key", key, max_length=validation.OBJECT_KEY_LENGTH)
        if not key:
            return None
        async with self.db.read() as session:
            upload = await session.get(Upload, key)
        if upload is None or upload.purpose != "VOUCHER" or upload.employee_id != principal_id:
            raise InvalidInput("voucher_key", f"voucher {key} is not one of your voucher uploads")
        info = await self.runtime.objects.stat(key)
        if info is None:
            raise InvalidInput("voucher_key", f"voucher {key} has not been uploaded")
        if info.size > self.settings.voucher_max_bytes:
            raise InvalidInput("voucher_key", f"voucher {key} is too large")
        return key
