"""OpenTelemetry: traces from gateway through services to the database, and metrics.

One tracer and meter provider per process. The OTLP exporter is used when
``SALESGUARD_OTEL_EXPORTER_OTLP_ENDPOINT`` is set; tests pass their own
in-memory exporter.
"""

from __future__ import annotations

import logging

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

log = logging.getLogger(__name__)
_configured = False


def setup_telemetry(
    service_name: str,
    otlp_endpoint: str | None,
    *,
    span_exporter: SpanExporter | None = None,
) -> None:
    """Install the process's providers once; later calls change nothing."""
    global _configured
    if _configured:
        return
    resource = Resource.create({"service.name": f"salesguard-{service_name}"})
    tracer_provider = TracerProvider(resource=resource)
    if span_exporter is not None:
        tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    meter_provider: MeterProvider
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True))
        )
        meter_provider = MeterProvider(
            resource=resource,
            metric_readers=[
                PeriodicExportingMetricReader(
                    OTLPMetricExporter(endpoint=otlp_endpoint, insecure=True)
                )
            ],
        )
    else:
        meter_provider = MeterProvider(resource=resource)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    # Every engine created from now on gets database spans under the request's span.
    SQLAlchemyInstrumentor().instrument()
    _configured = True


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
