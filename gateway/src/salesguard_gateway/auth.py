"""Who is calling: the bearer token's ``sub``, resolved by the people directory.

The token is verified locally (no call); the directory (attendance
``ResolvePrincipal``) then gives roles, team and branch, asked as the
gateway's own system principal. Answers, including refusals, are reused for
``principal_cache_seconds`` at most, and only while the gateway's watch of the
directory's changes is live (:mod:`salesguard.directory`): a change of an
employee's status, roles, team or branch, made through any replica, drops their
entry in every replica as it commits (upsertEmployee answers once the watches were
sent it), so their next request meets it; with the watch down every
request asks the directory (and fails closed, 503, when it is down too).
Concurrent first requests of one employee share one call; a directory outage is
not cached.

A subscription asks again before each event (``recheck``): an answer stays good there past
``principal_cache_seconds`` for as long as the watch stays live and reports no change of
that employee or of any branch, so a thousand subscribers cost no directory call per
event, and a leaver or a changed scope still meets the change on the next event.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from salesguard.directory import DirectoryCache
from salesguard.errors import ErrorCode, ServiceError, Unauthenticated
from salesguard.principal import Principal, acting_as
from salesguard.tokens import TokenVerifier
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_gateway.observability import note_caller

log = logging.getLogger(__name__)

GATEWAY_PRINCIPAL = Principal.system("gateway")
MAX_CACHED_PRINCIPALS = 10_000
MAX_CACHED_TOKENS = 10_000

_REFUSED_STATUSES = {
    directory_pb2.EMPLOYEE_STATUS_LEFT: "has left the company",
    directory_pb2.EMPLOYEE_STATUS_SUSPENDED: "is suspended",
}


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated, active employee (or the bootstrap admin)."""

    principal: Principal
    name: str
    status: int
    # Their own directory record, as the directory would show it to them (None when it
    # would not, or for the bootstrap admin): `me` is answered from it without a call.
    employee: directory_pb2.Employee | None = None


class AuthError(Exception):
    """A request refused before GraphQL runs; carries its HTTP status."""

    def __init__(self, status_code: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError(
            401,
            ErrorCode.UNAUTHENTICATED,
            "authentication required: send 'Authorization: Bearer <token>'",
        )
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError(
            401,
            ErrorCode.UNAUTHENTICATED,
            "the Authorization header must be 'Bearer <token>'",
        )
    return token


class Authenticator:
    def __init__(
        self,
        verifier: TokenVerifier,
        directory: Callable[[], directory_pb2_grpc.DirectoryServiceAsyncStub],
        *,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._verifier = verifier
        self._directory = directory
        self._cache_seconds = cache_seconds
        self._cache: DirectoryCache[Caller | AuthError] = DirectoryCache(
            directory,
            GATEWAY_PRINCIPAL,
            ttl_seconds=cache_seconds,
            max_entries=MAX_CACHED_PRINCIPALS,
            clock=clock,
        )
        # Calls in flight, with the watch generation they started in: one call per employee.
        self._pending: dict[str, tuple[int, asyncio.Future[Caller | AuthError]]] = {}
        # Verified tokens (signature checks cost ~0.1 ms): token -> (valid until, subject).
        self._tokens: OrderedDict[str, tuple[float, str]] = OrderedDict()
        # For recheck: employee -> (the watch's generation before it was asked, the answer).
        self._confirmed: OrderedDict[str, tuple[int, Caller | AuthError]] = OrderedDict()

    @property
    def directory(self) -> DirectoryCache[Caller | AuthError]:
        """The gateway's watched cache of the directory: its watch (``unchanged_since``) also
        keeps other reads of the directory current (schema/alerts_subscription.py)."""
        return self._cache

    async def close(self) -> None:
        """Stop watching the directory (the app's shutdown)."""
        await self._cache.close()

    async def authenticate(self, authorization: str | None) -> Caller:
        token = bearer_token(authorization)
        employee_id = await self._subject(token)
        note_caller(employee_id)
        outcome = await self._resolve(employee_id)
        if isinstance(outcome, AuthError):
            raise outcome
        return outcome

    async def recheck(self, authorization: str | None) -> Caller:
        """``authenticate`` again for a long-lived operation (a subscription, before each
        event): the token is verified as for any request (an expired one is refused), and
        the directory's answer about its subject is reused while the watch has reported no
        change of theirs since it was given (``DirectoryCache.unchanged_since``)."""
        token = bearer_token(authorization)
        employee_id = await self._subject(token)
        note_caller(employee_id)
        confirmed = self._confirmed.get(employee_id)
        if confirmed is not None and self._cache.unchanged_since(employee_id, confirmed[0]):
            outcome = confirmed[1]
        else:
            snapshot = self._cache.snapshot()
            outcome = await self._resolve(employee_id)
            if snapshot is not None:
                self._confirmed[employee_id] = (snapshot, outcome)
                self._confirmed.move_to_end(employee_id)
                while len(self._confirmed) > MAX_CACHED_PRINCIPALS:
                    self._confirmed.popitem(last=False)
        if isinstance(outcome, AuthError):
            raise outcome
        return outcome

    async def _subject(self, token: str) -> str:
        """The token's verified subject; a token verified before is reused until it expires."""
        verified = self._tokens.get(token)
        if verified is not None and verified[0] > time.time():
            return verified[1]
        try:
            employee_id = await self._verifier.subject(token)
        except Unauthenticated as error:
            raise AuthError(401, ErrorCode.UNAUTHENTICATED, error.message) from None
        expires_at = _expiry(token)
        if self._cache_seconds > 0 and expires_at is not None:
            self._tokens[token] = (min(expires_at, time.time() + self._cache_seconds), employee_id)
            while len(self._tokens) > MAX_CACHED_TOKENS:
                self._tokens.popitem(last=False)
        return employee_id

    async def _resolve(self, employee_id: str) -> Caller | AuthError:
        cached = self._cache.get(employee_id, None)
        if cached is not None:
            return cached
        generation = self._cache.watch.generation
        pending = self._pending.get(employee_id)
        # A call that started before a change the watch has since reported may answer from
        # before it: this request asks again.
        if pending is not None and pending[0] == generation:
            return await asyncio.shield(pending[1])
        snapshot = self._cache.snapshot()
        future: asyncio.Future[Caller | AuthError] = asyncio.get_running_loop().create_future()
        entry = (generation, future)
        self._pending[employee_id] = entry
        try:
            outcome = await self._ask_directory(employee_id)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            # Retrieved here so a lone failure does not warn "exception never retrieved".
            future.exception()
            raise
        else:
            future.set_result(outcome)
            self._cache.put(employee_id, outcome, snapshot)
            return outcome
        finally:
            if self._pending.get(employee_id) is entry:
                del self._pending[employee_id]

    async def _ask_directory(self, employee_id: str) -> Caller | AuthError:
        request = directory_pb2.ResolvePrincipalRequest(employee_id=employee_id)
        try:
            with acting_as(GATEWAY_PRINCIPAL):
                response = await self._directory().ResolvePrincipal(request)
        except ServiceError as error:
            # UNAUTHENTICATED here means the directory refused the gateway itself (a
            # secret mismatch): a deployment fault, answered as 503 below, not the user's.
            if error.code is ErrorCode.NOT_FOUND:
                return AuthError(
                    401,
                    ErrorCode.UNAUTHENTICATED,
                    f"employee {employee_id} is not in the people directory",
                )
            if error.code in (ErrorCode.UNAVAILABLE, ErrorCode.POLICY_UNAVAILABLE):
                raise AuthError(
                    503,
                    ErrorCode.UNAVAILABLE,
                    "the people directory is unavailable; try again shortly",
                ) from None
            # Anything else is the directory's or the deployment's fault, not the caller's.
            log.error("the directory could not resolve %s: %r", employee_id, error)
            raise AuthError(
                503, ErrorCode.UNAVAILABLE, "the caller's roles cannot be resolved right now"
            ) from None
        refusal = _REFUSED_STATUSES.get(response.status)
        if refusal is not None:
            return AuthError(403, ErrorCode.FORBIDDEN, f"employee {employee_id} {refusal}")
        principal = Principal.from_proto(response.principal)
        if not principal.id:
            principal = replace(principal, id=employee_id)
        elif principal.id != employee_id:
            # Never act for anyone but the token's subject.
            return AuthError(
                401, ErrorCode.UNAUTHENTICATED, f"the directory cannot vouch for {employee_id}"
            )
        return Caller(
            principal=principal,
            name=response.name,
            status=response.status,
            employee=response.employee if response.HasField("employee") else None,
        )


def _expiry(token: str) -> float | None:
    """The ``exp`` claim of a token whose signature was just verified."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None
