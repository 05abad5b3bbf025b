"""A process that exports no spans builds no client span per call: the call's metadata
carries the current trace under an ID of the call's own (or a new trace), before the
signed principal, as OpenTelemetry's interceptor and the principal's put them."""

from __future__ import annotations

import grpc
from opentelemetry import trace

from salesguard.grpc_client import _Caller
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
