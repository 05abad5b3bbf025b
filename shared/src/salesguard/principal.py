"""Who a request acts for, carried from the gateway to every service in gRPC metadata.

The gateway verifies the caller's JWT and resolves roles, team and branch from
the people directory; it then signs the principal with the internal secret so a
service never trusts an unsigned or stale identity (defence in depth behind the
network policies that let only the gateway reach the services).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from salesguard.errors import Unauthenticated
from salesguard_api.common.v1 import common_pb2

PRINCIPAL_KEY = "x-salesguard-principal-bin"
SIGNATURE_KEY = "x-salesguard-principal-sig"
SYSTEM_ROLE = "SYSTEM"
# A signed principal older than this is refused (replay protection).
MAX_AGE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    roles: tuple[str, ...] = ()
    team_id: str | None = None
    branch_id: str | None = None
    hq: bool = False

    @classmethod
    def system(cls, service: str) -> Principal:
        """The identity a service uses for its own calls to another service."""
        return cls(id=f"system:{service}", roles=(SYSTEM_ROLE,))

    @property
    def is_system(self) -> bool:
        return SYSTEM_ROLE in self.roles

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    def policy_subject(self) -> dict[str, Any]:
        """The ``subject`` of a policy input."""
        return {
            "id": self.id,
            "roles": list(self.roles),
            "team": self.team_id,
            "branch": self.branch_id,
            "hq": self.hq,
        }

    def to_proto(self) -> common_pb2.Principal:
        return common_pb2.Principal(
            id=self.id,
            roles=list(self.roles),
            team_id=self.team_id or "",
            branch_id=self.branch_id or "",
            hq=self.hq,
        )

    @classmethod
    def from_proto(cls, message: common_pb2.Principal) -> Principal:
        return cls(
            id=message.id,
            roles=tuple(message.roles),
            team_id=message.team_id or None,
            branch_id=message.branch_id or None,
            hq=message.hq,
        )


_current: ContextVar[Principal | None] = ContextVar("salesguard_principal", default=None)


def current_principal() -> Principal:
    """The principal of the request being served; refuses when there is none."""
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("no principal on this request")
    return principal


@contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    token = _current.set(principal)
    try:
        yield
    finally:
        _current.reset(token)


def _signature(secret: bytes, payload: bytes, issued_at: int) -> str:
    mac = hmac.new(secret, f"{issued_at}.".encode() + payload, hashlib.sha256)
    return f"{issued_at}.{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"


def principal_metadata(principal: Principal, secret: bytes) -> tuple[tuple[str, str | bytes], ...]:
    """Metadata entries that carry ``principal`` to a service."""
    payload = principal.to_proto().SerializeToString(deterministic=True)
    signature = _signature(secret, payload, int(time.time()))
    return ((PRINCIPAL_KEY, payload), (SIGNATURE_KEY, signature))


def principal_from_metadata(
    metadata: Sequence[tuple[str, str | bytes]] | None, secret: bytes
) -> Principal:
    """Verify and decode the principal a caller sent; raises Unauthenticated."""
    values = dict(metadata or ())
    payload = values.get(PRINCIPAL_KEY)
    signature = values.get(SIGNATURE_KEY)
    if not isinstance(payload, bytes) or not isinstance(signature, str):
        raise Unauthenticated("the call carries no principal")
    issued_at_text, _, _ = signature.partition(".")
    try:
        issued_at = int(issued_at_text)
    except ValueError:
        raise Unauthenticated("the principal signature is malformed") from None
    if abs(time.time() - issued_at) > MAX_AGE_SECONDS:
        raise Unauthenticated("the principal signature has expired")
    if not hmac.compare_digest(_signature(secret, payload, issued_at), signature):
        raise Unauthenticated("the principal signature is invalid")
    message = common_pb2.Principal()
    message.ParseFromString(payload)
    return Principal.from_proto(message)
