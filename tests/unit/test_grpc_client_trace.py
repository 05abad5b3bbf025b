"""A process that exports no spans builds no client span per call: the call's metadata
carries the current trace under an ID of the call's own (or a new trace), before the
signed principal, as OpenTelemetry's interceptor and the principal's put them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from opentelemetry import trace

from salesguard import grpc_client
from salesguard.errors import ErrorCode, ServiceError, Unauthenticated
from salesguard.grpc_client import ServiceChannels, _Caller
from salesguard.principal import PRINCIPAL_KEY, SIGNATURE_KEY, Principal, acting_as

SECRET = b"s" * 32
CALLER_TRACE = 0x0AF7651916CD43DD8448EB211C80319C
CALLER_SPAN = 0xB7AD6B7169203331


def _sent(caller: _Caller) -> list[tuple[str, str | bytes]]:
    details = grpc.aio.ClientCallDetails(
        "/salesguard.customers.v1.CustomersService/ListCustomers",
        None,
        grpc.aio.Metadata(("x-request", "1")),
        None,
        None,
    )
    with acting_as(Principal("rep-1", ("SALES_REP",))):
        sent = caller.details(details)
    assert sent.timeout == 5.0
    return list(sent.metadata or ())


def test_a_call_carries_the_current_trace_under_its_own_id() -> None:
    parent = trace.NonRecordingSpan(
        trace.SpanContext(
            CALLER_TRACE, CALLER_SPAN, is_remote=False, trace_flags=trace.TraceFlags(1)
        )
    )
    with trace.use_span(parent):
        first, second = (
            _sent(_Caller(SECRET, 5.0, carry_trace=True)),
            _sent(_Caller(SECRET, 5.0, carry_trace=True)),
        )
    for metadata in (first, second):
        assert [key for key, _ in metadata] == [
            "x-request",
            "traceparent",
            PRINCIPAL_KEY,
            SIGNATURE_KEY,
        ]
        version, trace_id, span_id, flags = str(dict(metadata)["traceparent"]).split("-")
        assert (version, int(trace_id, 16), flags) == ("00", CALLER_TRACE, "01")
        assert int(span_id, 16) != CALLER_SPAN
    assert dict(first)["traceparent"] != dict(second)["traceparent"]  # an ID per call


def test_without_a_trace_a_call_starts_one_and_without_carrying_sends_none() -> None:
    started = [
        str(dict(_sent(_Caller(SECRET, 5.0, carry_trace=True)))["traceparent"]) for _ in range(2)
    ]
    assert started[0].split("-")[1] != started[1].split("-")[1]
    assert [key for key, _ in _sent(_Caller(SECRET, 5.0))] == [
        "x-request",
        PRINCIPAL_KEY,
        SIGNATURE_KEY,
    ]


# --- calls through ServiceChannels in a process exporting no spans ---------------------


async def _echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    if request == b"fail":
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    received = [key for key, _ in context.invocation_metadata() or ()]
    remaining = context.time_remaining()
    return f"{','.join(received)};{remaining is not None and remaining <= 5}".encode()


async def _echo_stream(
    request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
) -> AsyncIterator[bytes]:
    yield ",".join(key for key, _ in context.invocation_metadata() or ()).encode()


async def test_a_unary_call_without_interceptors_sends_and_fails_as_through_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(grpc_client, "spans_exported", lambda: False)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "salesguard.test.Echo",
                {
                    "Say": grpc.unary_unary_rpc_method_handler(_echo),
                    "Watch": grpc.unary_stream_rpc_method_handler(_echo_stream),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channels = ServiceChannels({"customers": f"127.0.0.1:{port}"}, SECRET, 5.0)
    try:
        say: Any = channels.channel("customers").unary_unary("/salesguard.test.Echo/Say")
        with acting_as(Principal("rep-1", ("SALES_REP",))):
            answer = await say(b"hello", metadata=(("x-request", "1"),))
            with pytest.raises(ServiceError) as failed:
                await say(b"fail")
        keys, _, deadline = answer.decode().partition(";")
        # (in the order gRPC hands them over; the order sent is _Caller's, tested above)
        assert {"x-request", "traceparent", PRINCIPAL_KEY, SIGNATURE_KEY} <= set(keys.split(","))
        assert deadline == "True"  # the default deadline
        assert failed.value.code is ErrorCode.NOT_FOUND
        watch: Any = channels.channel("customers").unary_stream("/salesguard.test.Echo/Watch")
        with acting_as(Principal("rep-1", ("SALES_REP",))):
            streamed = [item async for item in watch(b"")]
        assert {"traceparent", PRINCIPAL_KEY, SIGNATURE_KEY} <= set(streamed[0].decode().split(","))
        # No principal: refused when awaited, as the interceptor refused it.
        pending = say(b"hello")
        with pytest.raises(Unauthenticated):
            await pending
    finally:
        await channels.close()
        await server.stop(None)
