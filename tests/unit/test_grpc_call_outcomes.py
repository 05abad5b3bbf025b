"""How the shared gRPC wrapper ends a call: typed errors keep their status, anything
unexpected is INTERNAL without details, cancellations go on, and a server stream the
client leaves is closed cleanly whatever task finalises it.

grpc.aio finalises an abandoned stream's generator from another task (another
contextvars Context). The principal set for the stream must not make that close fail:
it used to raise ValueError from ContextVar.reset, logged as an unhandled error and
answered INTERNAL to the stream's subscriber (seen with 50 live alert subscribers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from opentelemetry import propagate, trace
from sqlalchemy.exc import DBAPIError

from salesguard.errors import NotFound
from salesguard.grpc_server import ServiceInterceptor, Servicer
from salesguard.principal import Principal, current_principal, principal_metadata

SECRET = b"test-secret"


class _Context:
    """What the wrapper asks of a grpc ServicerContext: the caller's metadata, and abort."""

    def __init__(self, principal: Principal) -> None:
        self.metadata = principal_metadata(principal, SECRET)
        self.aborted: list[Any] = []

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self.metadata

    async def abort(self, code: Any, details: str = "") -> None:
        self.aborted.append((code, details))
        raise _Aborted

    async def abort_with_status(self, status: Any) -> None:
        self.aborted.append(status)
        raise _Aborted


class _Aborted(Exception):
    """What grpc.aio's abort does: end the handler by raising."""


async def test_a_stream_closed_from_another_task_ends_without_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []
    closed = asyncio.Event()

    async def watch(request: Any, context: Any) -> AsyncIterator[str]:
        try:
            while True:
                seen.append(current_principal().id)  # the caller, at every step
                yield "alert"
        finally:
            closed.set()

    interceptor = ServiceInterceptor(SECRET)
    context = _Context(Principal("hr-1", ("HR",)))
    stream = interceptor._wrap_stream("/salesguard.common.v1.AlertsService/WatchAlerts", watch)
    items = stream(object(), context)  # type: ignore[arg-type]
    assert await anext(items) == "alert"
    assert await anext(items) == "alert"

    with caplog.at_level(logging.ERROR):
        # Another task: another Context, as when grpc.aio finalises an abandoned stream.
        await asyncio.create_task(items.aclose())  # type: ignore[attr-defined]

    assert closed.is_set()
    assert seen == ["hr-1", "hr-1"]
    assert context.aborted == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    with pytest.raises(Exception, match="no principal"):
        current_principal()  # nothing of the stream's caller leaks into this task


METHOD = "/salesguard.customers.v1.CustomersService/GetCustomer"


def _unary(behaviour: Any) -> Any:
    return ServiceInterceptor(SECRET)._wrap_unary(METHOD, behaviour)


async def test_a_typed_error_answers_with_its_own_status() -> None:
    async def refuse(request: Any, context: Any) -> None:
        raise NotFound("no such customer")

    context = _Context(Principal("rep-1", ("SALES_JUNIOR",)))
    with pytest.raises(_Aborted):
        await _unary(refuse)(object(), context)
    (status,) = context.aborted
    assert status.code == grpc.StatusCode.NOT_FOUND
    assert status.details == "no such customer"


async def test_an_unexpected_error_is_internal_without_its_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crash(request: Any, context: Any) -> None:
        raise RuntimeError("password=hunter2 in a stack trace")

    context = _Context(Principal("rep-1", ("SALES_JUNIOR",)))
    with caplog.at_level(logging.ERROR), pytest.raises(_Aborted):
        await _unary(crash)(object(), context)
    assert context.aborted == [(grpc.StatusCode.INTERNAL, "internal error")]
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == f"unhandled error in {METHOD}"
    assert record.exc_info is not None  # the details go to the log, not the caller


class _DriverError(Exception):
    """What SQLAlchemy's asyncpg adapter wraps: the driver's error with its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "answered"),
    [
        ("40P01", grpc.StatusCode.ABORTED),  # deadlock detected
        ("40001", grpc.StatusCode.ABORTED),  # serialization failure
        ("23505", grpc.StatusCode.INTERNAL),  # a unique violation is a bug here, not a race
    ],
)
async def test_a_transaction_lost_to_a_concurrent_one_is_a_conflict_to_retry(
    sqlstate: str, answered: grpc.StatusCode
) -> None:
    async def write(request: Any, context: Any) -> None:
        raise DBAPIError("INSERT …", {}, _DriverError(sqlstate))

    context = _Context(Principal("rep-1", ("SALES_JUNIOR",)))
    with pytest.raises(_Aborted):
        await _unary(write)(object(), context)
    (aborted,) = context.aborted
    if answered is grpc.StatusCode.INTERNAL:
        assert aborted == (grpc.StatusCode.INTERNAL, "internal error")
        return
    assert aborted.code == answered
    assert "try again" in aborted.details and "SQLSTATE" not in aborted.details


async def test_a_cancelled_call_stays_cancelled() -> None:
    async def wait(request: Any, context: Any) -> None:
        raise asyncio.CancelledError

    context = _Context(Principal("rep-1", ("SALES_JUNIOR",)))
    with pytest.raises(asyncio.CancelledError):
        await _unary(wait)(object(), context)
    assert context.aborted == []


async def test_a_stream_that_fails_midway_is_internal() -> None:
    async def watch(request: Any, context: Any) -> AsyncIterator[str]:
        yield "alert"
        raise RuntimeError("the feed broke")

    interceptor = ServiceInterceptor(SECRET)
    context = _Context(Principal("hr-1", ("HR",)))
    items = interceptor._wrap_stream(METHOD, watch)(object(), context)  # type: ignore[arg-type]
    assert await anext(items) == "alert"
    with pytest.raises(_Aborted):
        await anext(items)
    assert context.aborted == [(grpc.StatusCode.INTERNAL, "internal error")]


def test_a_servicer_is_registered_as_its_generated_base_class_says() -> None:
    from salesguard_api.orders.v1 import payments_pb2_grpc

    class Reconciling(payments_pb2_grpc.ReconciliationServiceServicer):
        pass

    registered = Servicer.of(Reconciling())  # type: ignore[abstract]
    assert registered.full_name == "salesguard.orders.v1.ReconciliationService"
    assert registered.add_to_server is (
        payments_pb2_grpc.add_ReconciliationServiceServicer_to_server
    )
    with pytest.raises(TypeError, match="no generated servicer base class"):
        Servicer.of(object())


# A process that exports no spans continues the caller's trace without building spans.
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


def _traced_context(principal: Principal, traceparent: str | None) -> _Context:
    context = _Context(principal)
    if traceparent is not None:
        context.metadata = (*context.metadata, ("traceparent", traceparent))
    return context


def _ids_now() -> tuple[str, str, bool]:
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x"), format(span.span_id, "016x"), span.is_valid


async def test_a_call_continues_its_callers_trace_where_no_spans_are_exported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[str, str, bool]] = []
    sent: list[str] = []

    async def answer(request: Any, context: Any) -> str:
        seen.append(_ids_now())
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # what a call this one makes would send on
        sent.append(carrier["traceparent"])
        return "answered"

    interceptor = ServiceInterceptor(SECRET, continue_traces=True)
    serve = interceptor._wrap_unary("/salesguard.customers.v1.CustomersService/GetCustomer", answer)
    principal = Principal("rep-1", ("SALES_REP",))
    caller = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    with caplog.at_level(logging.INFO, logger="salesguard.access"):
        for traceparent in (caller, None, None):
            context: Any = _traced_context(principal, traceparent)
            assert await serve(object(), context) == "answered"

    (trace_id, span_id, valid), (root_1, _, root_valid_1), (root_2, _, root_valid_2) = seen
    assert valid and trace_id == CALLER_TRACE and span_id != CALLER_SPAN
    assert sent[0] == f"00-{CALLER_TRACE}-{span_id}-01"  # the trace goes on, under this call
    # No trace sent: a new trace per call, as the SDK's root span would start.
    assert root_valid_1 and root_valid_2 and root_1 != root_2 != CALLER_TRACE
    # The access lines carry the same IDs, and nothing is left attached after the call.
    lines = [r for r in caplog.records if r.name == "salesguard.access"]
    assert [(r.trace_id, r.span_id) for r in lines[:1]] == [(CALLER_TRACE, span_id)]  # type: ignore[attr-defined]
    assert [r.trace_id for r in lines[1:]] == [root_1, root_2]  # type: ignore[attr-defined]
    assert not trace.get_current_span().get_span_context().is_valid


async def test_a_stream_continues_its_callers_trace_at_every_step_and_closes_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    async def watch(request: Any, context: Any) -> AsyncIterator[str]:
        while True:
            seen.append(_ids_now()[0])
            yield "alert"

    interceptor = ServiceInterceptor(SECRET, continue_traces=True)
    stream = interceptor._wrap_stream("/salesguard.common.v1.AlertsService/WatchAlerts", watch)
    context = _traced_context(Principal("hr-1", ("HR",)), f"00-{CALLER_TRACE}-{CALLER_SPAN}-01")
    items = stream(object(), context)  # type: ignore[arg-type]
    assert await anext(items) == "alert"
    assert not trace.get_current_span().get_span_context().is_valid  # not across the yield
    assert await anext(items) == "alert"
    with caplog.at_level(logging.ERROR):
        await asyncio.create_task(items.aclose())  # type: ignore[attr-defined]
    assert seen == [CALLER_TRACE, CALLER_TRACE]
    assert context.aborted == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
