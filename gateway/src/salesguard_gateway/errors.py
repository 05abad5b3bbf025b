"""G2: every error a client sees carries ``extensions.code``; nothing unexpected leaks.

- A :class:`~salesguard.errors.ServiceError` (raised by a service stub, or by the
  gateway's own edge checks) keeps its code; ``field`` and the error's details
  (camelCased, e.g. ``existingCode`` and ``owner`` for DUPLICATE_CUSTOMER) are
  added to the extensions.
- graphql-core's own errors (syntax, unknown field or enum value, wrong
  variable type) are the client's input: ``VALIDATION``. So is a value a scalar
  refused (:class:`~salesguard_gateway.inputs.InvalidScalar`), named after its
  field here (:class:`~salesguard_gateway.inputs.InputFields`).
- The query limits tag their errors when they raise them (``limits.py``).
- Anything else is a bug: logged with its traceback, returned as ``INTERNAL``
  with a fixed message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from graphql import GraphQLError
from starlette.responses import JSONResponse
from strawberry.extensions import SchemaExtension

from salesguard.errors import ErrorCode, ServiceError
from salesguard_gateway.inputs import InputFields, cause
from salesguard_gateway.limits import tag_token_limit
from salesguard_gateway.observability import note_error_codes

log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "Internal error; it has been logged."


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# Details that carry a list: gRPC's ErrorInfo metadata holds strings only, so a service
# joins the list with commas (``Decision.require``) and the gateway splits it again.
LIST_DETAILS = frozenset({"reasons"})


def detail_value(key: str, value: str) -> str | list[str]:
    if key in LIST_DETAILS:
        return [item for item in value.split(",") if item]
    return value


def service_error_extensions(error: ServiceError) -> dict[str, Any]:
    extensions: dict[str, Any] = {
        camel(key): detail_value(key, value) for key, value in error.details.items()
    }
    extensions["code"] = error.code.value
    if error.field:
        extensions["field"] = error.field
    return extensions


def is_unexpected(error: GraphQLError) -> bool:
    """A resolver crashed: neither a typed failure nor a GraphQL (input) error."""
    original = error.original_error
    return original is not None and not isinstance(original, ServiceError | GraphQLError)


def typed_error(error: GraphQLError, fields: InputFields | None = None) -> GraphQLError:
    """The error as the client sees it, always with ``extensions.code``.

    ``fields`` names the field of an input error that does not name its own.
    """
    raised = cause(error)
    if isinstance(raised, ServiceError):
        extensions = service_error_extensions(raised)
        message = raised.message
    elif is_unexpected(error):
        return GraphQLError(
            INTERNAL_MESSAGE,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": ErrorCode.INTERNAL.value},
        )
    elif error.extensions and "code" in error.extensions:
        return error
    elif (tagged := tag_token_limit(error)) is not error:
        return tagged
    else:
        extensions = {"code": ErrorCode.VALIDATION.value}
        message = error.message
    if "field" not in extensions and fields is not None:
        field = fields.field_of(error)
        if field:
            extensions["field"] = field
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), **extensions},
    )


def deferred_error(
    message: str, path: Sequence[str | int], extensions: Mapping[str, Any]
) -> GraphQLError:
    """An error reported next to data that was still returned (a partial result)."""
    return GraphQLError(message, path=list(path), extensions=dict(extensions))


class TypedErrors(SchemaExtension):
    """Gives every error of a result its code; adds the resolvers' deferred errors.

    Runs last on the way out of the operation, like strawberry's ``MaskErrors``
    (which it replaces: masking alone would drop the codes).
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not hasattr(result, "errors"):
            return
        deferred: list[GraphQLError] = getattr(
            self.execution_context.context, "deferred_errors", []
        )
        errors = [*(result.errors or ()), *deferred]
        if errors:
            fields = self._input_fields()
            result.errors = [typed_error(error, fields) for error in errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # A subscription's results reach the client one by one, before on_operation ends.
        if getattr(result, "errors", None):
            fields = self._input_fields()
            result.errors = [typed_error(error, fields) for error in result.errors]
        yield

    def _input_fields(self) -> InputFields:
        context = self.execution_context
        return InputFields(context.graphql_document, context.variables)


def error_response(
    status_code: int,
    message: str,
    code: ErrorCode | str,
    *,
    headers: Mapping[str, str] | None = None,
    media_type: str = "application/json",
    **extensions: Any,
) -> JSONResponse:
    """A GraphQL-shaped error body for failures outside GraphQL execution (HTTP level)."""
    note_error_codes([str(code)])
    body = {"errors": [{"message": message, "extensions": {"code": str(code), **extensions}}]}
    return JSONResponse(
        body, status_code=status_code, headers=dict(headers or {}), media_type=media_type
    )


def log_unexpected(errors: Sequence[GraphQLError]) -> None:
    for error in errors:
        if is_unexpected(error):
            original = error.original_error
            assert original is not None
            log.error(
                "unhandled error in a resolver",
                exc_info=(type(original), original, original.__traceback__),
                extra={"path": error.path},
            )
