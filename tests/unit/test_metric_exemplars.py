"""Exemplars (salesguard.telemetry): kept for the metrics exporters that write them (OTLP,
the console), where they link a latency to its trace, and not collected for Prometheus
alone, whose text drops them (issue 16: their sampling was nearly half of what
recording a small request's metrics cost)."""

from __future__ import annotations

import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from salesguard.telemetry import TelemetryConfig, build_meter_provider

TRACE_ID, SPAN_ID = 0x5A1E5, 0x6A7E


@pytest.mark.parametrize(
    ("exporters", "sampled"),
    [(frozenset(), False), (frozenset({"otlp"}), True), (frozenset({"console"}), True)],
)
def test_exemplars_are_sampled_only_for_an_exporter_that_writes_them(
    exporters: frozenset[str], sampled: bool
) -> None:
    # Prometheus' text has no place for them; what the filter says is all there is to see.
    provider = build_meter_provider(
        TelemetryConfig("gateway", frozenset(), exporters, "http://127.0.0.1:9"),
        Resource.create({}),
    )
    try:
        span = SpanContext(
            TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        with trace.use_span(NonRecordingSpan(span)):
            offered = provider._sdk_config.exemplar_filter.should_sample(
                0.25, 0, {}, context.get_current()
            )
        assert offered is sampled
    finally:
        provider.shutdown(timeout_millis=100)
