"""Typed errors, one vocabulary from the services' gRPC status to GraphQL's ``extensions.code``.

A service raises a :class:`ServiceError`; the server interceptor turns it into
a gRPC status carrying a ``google.rpc.ErrorInfo`` (reason = the code) and, for
bad input, a ``google.rpc.BadRequest`` naming the field. Clients turn the
status back into the same :class:`ServiceError`.
"""

from __future__ import annotations

from enum import StrEnum

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from salesguard.translations import SOURCE_LANGUAGE, Translatable

ERROR_DOMAIN = "salesguard"


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    VALIDATION = "VALIDATION"
    CONFLICT = "CONFLICT"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    # A one-time resource (a download) already used or expired: HTTP 410.
    GONE = "GONE"
    DUPLICATE_CUSTOMER = "DUPLICATE_CUSTOMER"
    EXPORT_WITHOUT_APPROVAL = "EXPORT_WITHOUT_APPROVAL"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    POLICY_UNAVAILABLE = "POLICY_UNAVAILABLE"
    UNAVAILABLE = "UNAVAILABLE"
    # A caller used up a bounded resource (e.g. a watch that fell too far behind).
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    INTERNAL = "INTERNAL"


# What each code means, for a caller who has no message of the service's own (a foreign
# status, a crashed peer) or wants the gist in their language.
CODE_MESSAGES: dict[ErrorCode, Translatable] = {
    ErrorCode.UNAUTHENTICATED: Translatable(
        "error:UNAUTHENTICATED", "the caller is not signed in or the token is not valid"
    ),
    ErrorCode.FORBIDDEN: Translatable("error:FORBIDDEN", "this is not among your grants"),
    ErrorCode.NOT_FOUND: Translatable("error:NOT_FOUND", "not found"),
    ErrorCode.VALIDATION: Translatable("error:VALIDATION", "the input is not valid"),
    ErrorCode.CONFLICT: Translatable(
        "error:CONFLICT", "the record was changed by someone else meanwhile; try again"
    ),
    ErrorCode.FAILED_PRECONDITION: Translatable(
        "error:FAILED_PRECONDITION", "the record is not in a state that allows this"
    ),
    ErrorCode.GONE: Translatable("error:GONE", "the link has been used or has expired"),
    ErrorCode.DUPLICATE_CUSTOMER: Translatable(
        "error:DUPLICATE_CUSTOMER", "the customer is registered already"
    ),
    ErrorCode.EXPORT_WITHOUT_APPROVAL: Translatable(
        "error:EXPORT_WITHOUT_APPROVAL", "an export needs an approved export request"
    ),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: Translatable(
        "error:IDEMPOTENCY_KEY_REUSED", "the idempotency key was used for a different request"
    ),
    ErrorCode.POLICY_UNAVAILABLE: Translatable(
        "error:POLICY_UNAVAILABLE", "the policy engine cannot be reached; access is denied"
    ),
    ErrorCode.UNAVAILABLE: Translatable("error:UNAVAILABLE", "a service is unavailable"),
    ErrorCode.RESOURCE_EXHAUSTED: Translatable(
        "error:RESOURCE_EXHAUSTED", "a limit was reached; try again later"
    ),
    ErrorCode.INTERNAL: Translatable("error:INTERNAL", "internal error in a service"),
}


def code_message(code: ErrorCode, language: str = SOURCE_LANGUAGE) -> str:
    """What ``code`` means, in ``language`` (an API language code)."""
    return CODE_MESSAGES[code].in_language(language)


_GRPC_CODES: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.VALIDATION: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.CONFLICT: grpc.StatusCode.ABORTED,
    ErrorCode.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.GONE: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.DUPLICATE_CUSTOMER: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.EXPORT_WITHOUT_APPROVAL: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.POLICY_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
}

# For a status without ErrorInfo (a proxy, a crashed peer): the nearest code.
_FROM_GRPC: dict[grpc.StatusCode, ErrorCode] = {
    grpc.StatusCode.UNAUTHENTICATED: ErrorCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: ErrorCode.FORBIDDEN,
    grpc.StatusCode.NOT_FOUND: ErrorCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT: ErrorCode.VALIDATION,
    grpc.StatusCode.ALREADY_EXISTS: ErrorCode.CONFLICT,
    grpc.StatusCode.ABORTED: ErrorCode.CONFLICT,
    grpc.StatusCode.FAILED_PRECONDITION: ErrorCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAVAILABLE: ErrorCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: ErrorCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ErrorCode.RESOURCE_EXHAUSTED,
}


class ServiceError(Exception):
    """An expected failure with a stable code a client can act on."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        field: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.field = field
        self.details = dict(details or {})

    @property
    def grpc_code(self) -> grpc.StatusCode:
        return _GRPC_CODES[self.code]

    def to_status(self) -> grpc.Status:
        info = error_details_pb2.ErrorInfo(
            reason=self.code.value, domain=ERROR_DOMAIN, metadata=self.details
        )
        packed = [_pack(info)]
        if self.field:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field=self.field, description=self.message
            )
            packed.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
        status = status_pb2.Status(
            code=self.grpc_code.value[0], message=self.message, details=packed
        )
        converted: grpc.Status = rpc_status.to_status(status)
        return converted

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.value}: {self.message})"


class Unauthenticated(ServiceError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(ServiceError):
    code = ErrorCode.FORBIDDEN


class NotFound(ServiceError):
    code = ErrorCode.NOT_FOUND


class InvalidInput(ServiceError):
    code = ErrorCode.VALIDATION

    def __init__(self, field: str, message: str, *, details: dict[str, str] | None = None):
        super().__init__(message, field=field, details=details)


class Conflict(ServiceError):
    code = ErrorCode.CONFLICT


# The SQLSTATEs of a transaction PostgreSQL ended because it lost to a concurrent one
# (a deadlock detected, a serialization failure): it wrote nothing, and the same
# request again may well succeed.
_LOST_TO_A_CONCURRENT_WRITE = frozenset({"40P01", "40001"})


def lost_to_concurrent_write(error: BaseException) -> Conflict | None:
    """``error`` as the CONFLICT a caller can retry when it is the database ending a
    transaction that lost to a concurrent one (SQLAlchemy's error, the driver's below
    it); None for anything else."""
    state = getattr(getattr(error, "orig", None), "sqlstate", None)
    if state not in _LOST_TO_A_CONCURRENT_WRITE:
        return None
    return Conflict("a concurrent write got in the way and nothing was written; try again")


class FailedPrecondition(ServiceError):
    code = ErrorCode.FAILED_PRECONDITION


class Gone(ServiceError):
    code = ErrorCode.GONE


class PolicyUnavailable(ServiceError):
    code = ErrorCode.POLICY_UNAVAILABLE

    def __init__(self, message: str | None = None):
        super().__init__(message or code_message(ErrorCode.POLICY_UNAVAILABLE))


class Unavailable(ServiceError):
    code = ErrorCode.UNAVAILABLE


class ResourceExhausted(ServiceError):
    code = ErrorCode.RESOURCE_EXHAUSTED


def _pack(message: error_details_pb2.ErrorInfo | error_details_pb2.BadRequest) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def from_rpc_error(error: grpc.aio.AioRpcError) -> ServiceError:
    """The ServiceError a failed call carries, or the nearest one for a foreign status."""
    status = rpc_status.from_call(error)
    message = error.details() or "the service call failed"
    grpc_code = error.code()
    if status is not None:
        code: ErrorCode | None = None
        details: dict[str, str] = {}
        field = None
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                if info.domain == ERROR_DOMAIN and info.reason in ErrorCode.__members__:
                    code = ErrorCode(info.reason)
                    details = dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                if bad_request.field_violations:
                    field = bad_request.field_violations[0].field
        if code is not None:
            return ServiceError(status.message, code=code, field=field, details=details)
    fallback = _FROM_GRPC.get(grpc_code, ErrorCode.INTERNAL)
    if fallback in (ErrorCode.INTERNAL, ErrorCode.UNAVAILABLE):
        # No ErrorInfo of ours: what the code means, not the peer's own words.
        message = code_message(fallback)
    return ServiceError(message, code=fallback)
