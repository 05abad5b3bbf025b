"""OpenTelemetry: traces from gateway through services to the database, and metrics.

One tracer and one meter provider per process, configured the standard way, from the
``OTEL_*`` environment (the OpenTelemetry SDK's variables):

- ``OTEL_SERVICE_NAME`` (or ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``) names the
  process; default ``salesguard-<component>``.
- ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: a comma-separated list of
  ``otlp``, ``console`` and ``none``. Unset: ``otlp`` when an OTLP endpoint is
  configured, else nothing is exported. An unknown name stops the process.
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the ``_TRACES_``/``_METRICS_`` variants),
  ``OTEL_EXPORTER_OTLP_INSECURE``, ``_CERTIFICATE``, ``_CLIENT_KEY``,
  ``_CLIENT_CERTIFICATE``, ``_HEADERS``, ``_TIMEOUT``, ``_COMPRESSION``: read by the
  OTLP/gRPC exporters themselves (an ``https://`` endpoint means TLS, ``http://`` none).
  ``SALESGUARD_OTEL_EXPORTER_OTLP_ENDPOINT`` is the older name of the endpoint, used when
  no standard endpoint variable is set.
- ``OTEL_TRACES_SAMPLER`` and ``OTEL_TRACES_SAMPLER_ARG``: read by the SDK's tracer
  provider (checked here first, so a typo stops the process instead of sampling
  everything).

Whatever is exported, every process keeps its metrics for Prometheus to scrape
(``/metrics``, see :func:`start_metrics_server` and :func:`metrics_exposition`). Only
salesguard's own instruments and the database pool's reach it: the HTTP and gRPC
instrumentations' metrics carry raw request paths, which are neither bounded nor safe
(a one-time download token is a path).

The database pool's connections (``db.client.connections.usage``, by pool and state) are
counted when metrics are collected, from the pools themselves: OpenTelemetry's SQLAlchemy
instrumentation adds to its counter four times a checkout and checkin, ~0.1 ms of every
request that reads the database (issue 16). It only traces statements, and only when
spans are exported.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.metrics import CallbackOptions, NoOpMeterProvider, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import DropAggregation, View
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.exposition import choose_encoder

from salesguard.db import live_engines
from salesguard.settings import SettingsError

log = logging.getLogger(__name__)
_configured = False
_spans_exported = False

EXPORTERS = ("otlp", "console", "none")
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
# Latency buckets in seconds, for requests (RPCs, GraphQL operations).
REQUEST_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The instruments whose metrics are kept (see the module's docstring).
KEPT_INSTRUMENTS = ("salesguard.*", "db.client.*")


@dataclass(frozen=True)
class TelemetryConfig:
    """What the environment asks of this process's telemetry."""

    service_name: str | None  # None: the environment names the service itself
    traces_exporters: frozenset[str]
    metrics_exporters: frozenset[str]
    # The endpoint given to the OTLP exporters; None lets them read the OTEL_* variables.
    otlp_endpoint: str | None


def telemetry_config(
    component: str, legacy_endpoint: str | None, environ: Mapping[str, str] = os.environ
) -> TelemetryConfig:
    """Read and check the OTEL_* variables; a wrong value raises :class:`SettingsError`."""
    standard = {
        signal: bool(
            environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
        )
        for signal in ("TRACES", "METRICS")
    }
    endpoint = None if any(standard.values()) else (legacy_endpoint or None)
    exporters = {
        signal: _exporters(
            environ, f"OTEL_{signal}_EXPORTER", default_otlp=standard[signal] or bool(endpoint)
        )
        for signal in ("TRACES", "METRICS")
    }
    _check_sampler(environ)
    return TelemetryConfig(
        service_name=None if _names_service(environ) else f"salesguard-{component}",
        traces_exporters=exporters["TRACES"],
        metrics_exporters=exporters["METRICS"],
        otlp_endpoint=endpoint,
    )


def _exporters(environ: Mapping[str, str], variable: str, *, default_otlp: bool) -> frozenset[str]:
    value = environ.get(variable, "").strip()
    if not value:
        return frozenset({"otlp"} if default_otlp else ())
    names = {part.strip().lower() for part in value.split(",") if part.strip()}
    unknown = sorted(names - set(EXPORTERS))
    if unknown:
        raise SettingsError(
            f"{variable}: unknown exporter {', '.join(unknown)}; use {', '.join(EXPORTERS)}"
        )
    return frozenset(names - {"none"})


def _names_service(environ: Mapping[str, str]) -> bool:
    """Whether OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names the service."""
    if environ.get("OTEL_SERVICE_NAME", "").strip():
        return True
    attributes = environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
    return any(part.partition("=")[0].strip() == SERVICE_NAME for part in attributes)


def _check_sampler(environ: Mapping[str, str]) -> None:
    sampler = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if sampler and sampler not in SAMPLERS:
        raise SettingsError(
            f"OTEL_TRACES_SAMPLER: unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}"
        )
    if sampler.endswith("traceidratio") and "OTEL_TRACES_SAMPLER_ARG" in environ:
        try:
            ratio = float(environ["OTEL_TRACES_SAMPLER_ARG"])
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise SettingsError("OTEL_TRACES_SAMPLER_ARG must be a ratio between 0 and 1")


def build_resource(config: TelemetryConfig) -> Resource:
    return Resource.create({SERVICE_NAME: config.service_name} if config.service_name else {})


def build_tracer_provider(
    config: TelemetryConfig, resource: Resource, span_exporter: SpanExporter | None = None
) -> TracerProvider:
    """The tracer provider; its sampler comes from OTEL_TRACES_SAMPLER (the SDK reads it)."""
    provider = TracerProvider(resource=resource)
    if span_exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    if "console" in config.traces_exporters:
        # Each span as it ends: the console is for reading along.
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    if "otlp" in config.traces_exporters:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=config.otlp_endpoint))
        )
    return provider


# The metrics exporters that write exemplars.
EXEMPLAR_EXPORTERS = frozenset({"otlp", "console"})


def build_meter_provider(config: TelemetryConfig, resource: Resource) -> MeterProvider:
    """The meter provider: Prometheus always, OTLP and the console as configured."""
    readers: list[MetricReader] = [
        PrometheusMetricReader(scope_info_enabled=False, registry=REGISTRY)
    ]
    if "console" in config.metrics_exporters:
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    if "otlp" in config.metrics_exporters:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        readers.append(
            PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=config.otlp_endpoint))
        )
    views = [
        View(instrument_name=pattern, aggregation=DropAggregation())
        for pattern in dropped_instrument_patterns(KEPT_INSTRUMENTS)
    ]
    views += [View(instrument_name=name) for name in KEPT_INSTRUMENTS]
    return MeterProvider(
        resource=resource,
        metric_readers=readers,
        views=views,
        # Exemplars (a sampled span's IDs kept beside a measurement) reach OTLP and the
        # console only; Prometheus' text drops them. With neither, none is collected (the
        # gateway's metrics took 3.0 % of its CPU for { __typename }, now 1.7 %).
        exemplar_filter=(
            None if EXEMPLAR_EXPORTERS & config.metrics_exporters else AlwaysOffExemplarFilter()
        ),
    )


def dropped_instrument_patterns(kept: Iterable[str]) -> list[str]:
    """Name patterns (fnmatch's) that match every instrument name the ``kept`` patterns
    (each a prefix and ``*``) do not, and none they do: the views that drop the rest.

    Not one ``*`` dropping everything next to the kept views: an instrument two views
    match records each measurement twice, once for nothing (issue 16: an RPC's two
    metrics cost 23 µs so, 13 without). Built from the prefixes' trie: at each node, the
    name ending there, and names going on with a character no kept prefix goes on with.
    """
    prefixes = [pattern.removesuffix("*") for pattern in kept]
    if not all(re.fullmatch(r"[a-z0-9._]+", prefix) for prefix in prefixes):
        raise ValueError(f"kept instruments are prefixes and '*': {list(kept)}")
    patterns = []
    stems = sorted({prefix[:i] for prefix in prefixes for i in range(len(prefix))})
    for stem in stems:
        if any(stem.startswith(prefix) for prefix in prefixes):
            continue  # under a kept prefix: kept
        if stem:
            patterns.append(stem)  # the name is the stem itself
        following = "".join(sorted({p[len(stem)] for p in prefixes if p.startswith(stem)}))
        patterns.append(f"{stem}[!{following}]*")
    return patterns


def setup_telemetry(
    component: str,
    legacy_endpoint: str | None,
    *,
    span_exporter: SpanExporter | None = None,
) -> None:
    """Install the process's providers once, from the environment; later calls change nothing.

    ``legacy_endpoint`` is ``SALESGUARD_OTEL_EXPORTER_OTLP_ENDPOINT``; tests pass their own
    in-memory ``span_exporter``.
    """
    global _configured, _spans_exported
    if _configured:
        return
    config = telemetry_config(component, legacy_endpoint)
    resource = build_resource(config)
    trace.set_tracer_provider(build_tracer_provider(config, resource, span_exporter))
    metrics.set_meter_provider(build_meter_provider(config, resource))
    # Every engine created from now on gets the pool's metrics and, when spans are
    # exported, database spans under the request's span. Exporting none, a statement's
    # span is a no-op: it is a leaf (nothing propagates from it) and would cost each
    # statement a span built for nobody.
    exporting = _spans_exported = span_exporter is not None or bool(config.traces_exporters)
    if exporting:
        # Its connection counter is left out: the pools are observed instead (below).
        SQLAlchemyInstrumentor().instrument(meter_provider=NoOpMeterProvider())
    observe_pools()
    _configured = True


_observing = False


def spans_exported() -> bool:
    """Whether this process exports spans (:func:`setup_telemetry`): where it does not,
    spans nobody will see are not built, only the trace's IDs carried on."""
    return _spans_exported


_ids = RandomIdGenerator()


def untraced_child(parent: Context) -> Context:
    """``parent`` under a span that records nothing, for a process that exports no spans
    (:func:`spans_exported`): the parent span's trace with a span ID of its own, or a new
    trace when there is none, as the SDK's span would have. Log lines, audit records and
    onward calls carry its IDs as they would the SDK's span's, for ~15 us instead of a span
    built for nobody (~0.15 ms a gRPC call, ~0.06 ms a request, issue 16)."""
    above = trace.get_current_span(parent).get_span_context()
    if above.is_valid:
        trace_id, flags = above.trace_id, above.trace_flags
    else:
        trace_id, flags = _ids.generate_trace_id(), trace.TraceFlags(trace.TraceFlags.SAMPLED)
    span = trace.NonRecordingSpan(
        trace.SpanContext(trace_id, _ids.generate_span_id(), is_remote=False, trace_flags=flags)
    )
    return trace.set_span_in_context(span, parent)


def observe_pools() -> None:
    """Count the connections of every engine of :func:`salesguard.db.create_engine`
    (:func:`salesguard.db.live_engines`), idle and used, in
    ``db.client.connections.usage`` (the name, unit and attributes of OpenTelemetry's
    SQLAlchemy instrumentation), read from each pool when metrics are collected: nothing
    is added per checkout. Once per process."""
    global _observing
    if _observing:
        return
    _observing = True
    metrics.get_meter(__name__).create_observable_up_down_counter(
        "db.client.connections.usage",
        callbacks=[_pool_observations],
        unit="connections",
        description=(
            "The number of connections that are currently in state described by the "
            "state attribute."
        ),
    )


def pool_name(engine: Any) -> str:
    """A pool's ``pool.name``, as OpenTelemetry's SQLAlchemy instrumentation names it."""
    named = getattr(engine.pool, "logging_name", None)
    if named:
        return str(named)
    url = engine.url
    return f"{url.drivername or ''}://{url.host or ''}:{url.port or ''}/{url.database or ''}"


def _pool_observations(_options: CallbackOptions) -> Iterable[Observation]:
    counts: dict[tuple[str, str], int] = {}
    for engine in live_engines():
        pool = engine.pool
        states: tuple[tuple[str, Callable[[], int] | None], ...] = (
            ("idle", getattr(pool, "checkedin", None)),
            ("used", getattr(pool, "checkedout", None)),
        )
        name = pool_name(engine)
        for state, count in states:
            if count is not None:
                counts[name, state] = counts.get((name, state), 0) + int(count())
    for (name, state), value in counts.items():
        yield Observation(value, {"pool.name": name, "state": state})


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def metrics_exposition(accept: str | None) -> tuple[bytes, str]:
    """The process's metrics in the format the scraper accepts, and its content type."""
    encode, content_type = choose_encoder(accept or "")
    return encode(REGISTRY), content_type


class MetricsServer:
    """``/metrics`` on a port of its own, served from a thread (a service's gRPC port
    speaks only HTTP/2 gRPC)."""

    def __init__(self, host: str, port: int) -> None:
        server, thread = start_http_server(port, addr=host, registry=REGISTRY)
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.port = int(server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(host: str, port: int) -> MetricsServer:
    server = MetricsServer(host, port)
    log.info("serving metrics", extra={"port": server.port, "path": "/metrics"})
    return server
