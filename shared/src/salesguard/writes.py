"""What the services' write methods share: a moment a request names, the policy resource
of a record the caller makes as their own, and an upload URL handed to an employee."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from salesguard import validation
from salesguard.db import utcnow
from salesguard.errors import InvalidInput
from salesguard.objectstore import ObjectStore, PresignedUpload
from salesguard.principal import Principal
from salesguard.timeutil import from_timestamp, to_timestamp

M = TypeVar("M", bound=Message)


def past_moment(
    field: str,
    given: timestamp_pb2.Timestamp,
    *,
    skew_seconds: int,
    now: datetime | None = None,
    default: datetime | None = None,
) -> datetime:
    """The moment a request names in ``field``: required (or ``default`` when unset), and
    no later than now by more than the clocks may disagree."""
    at = from_timestamp(given, field) or default
    if at is None:
        raise InvalidInput(field, f"{field} is required")
    return validation.not_in_future(field, at, now=now or utcnow(), skew_seconds=skew_seconds)


def own_resource(principal: Principal) -> dict[str, Any]:
    """The policy resource of a record the caller makes as their own (a check-in, an order):
    theirs, in their team and branch."""
    return {
        "employee_id": principal.id,
        "team_id": principal.team_id,
        "branch_id": principal.branch_id,
    }


@dataclass(frozen=True)
class HandedUpload:
    """A signed upload URL handed to an employee: what its row remembers (the key is named
    later only by its uploader) and what the answer tells the client."""

    key: str
    employee_id: str
    content_type: str
    size_bytes: int
    created_at: datetime
    presigned: PresignedUpload

    @classmethod
    async def sign(
        cls,
        objects: ObjectStore,
        employee_id: str,
        key: str,
        content_type: str,
        size_bytes: int,
        ttl: timedelta,
    ) -> HandedUpload:
        """A URL for ``employee_id`` to PUT exactly that object onto ``key``, valid for ``ttl``."""
        created_at = utcnow()
        presigned = await objects.upload_url(key, content_type, size_bytes, ttl)
        return cls(key, employee_id, content_type, size_bytes, created_at, presigned)

    def columns(self) -> dict[str, Any]:
        """The values of the upload's row."""
        return {
            "key": self.key,
            "employee_id": self.employee_id,
            "content_type": self.content_type,
            "size_bytes": self.size_bytes,
            "created_at": self.created_at,
            "expires_at": self.presigned.expires_at,
        }

    def answer(self, response_type: type[M]) -> M:
        """The Create…UploadResponse: the key, and how and until when to PUT the bytes."""
        return response_type(
            key=self.key,
            upload_url=self.presigned.url,
            upload_headers=self.presigned.headers,
            expires_at=to_timestamp(self.presigned.expires_at),
        )
