"""What the gateway tests share: the calls the real services served, tokens, small helpers.

The services are the real attendance and customers servers (``tests/harness.py``).
Which RPCs they served is read from their OpenTelemetry server spans, the same
telemetry an operator sees: no servicer is wrapped or replaced.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select

from salesguard.alerts import AlertDraft, raise_alert
from salesguard.telemetry import setup_telemetry
from salesguard.tokens import issue_dev_token
from salesguard_attendance.models import Alert as AttendanceAlert
from tests.harness import JWT_SECRET, GraphQLResult, Suite, unique
from tests.org import Org


class _Discarded(SpanExporter):
    """Spans exported from the start (a process exporting none builds no database spans);
    what a test reads is its own recording, :class:`Spans`."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


# Installed before any engine or server exists, so gRPC and database spans are recorded
# (a no-op when tests/conftest.py installed the providers first, in a whole-suite run).
setup_telemetry("gateway-tests", None, span_exporter=_Discarded())

SERVICE_METHOD_PREFIX = "/salesguard."


class Spans:
    """Spans started and finished since the last ``clear()``, recorded next to any other
    exporter. A stream an earlier test opened (a subscription's watch) may end after
    the clear; it is not this test's call."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider), provider
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self._since = time.time_ns()

    def clear(self) -> None:
        self.exporter.clear()
        self._since = time.time_ns()

    def finished(self) -> Sequence[ReadableSpan]:
        return [
            span
            for span in self.exporter.get_finished_spans()
            if (span.start_time or 0) >= self._since
        ]

    def served(self) -> list[str]:
        """The service RPCs served (method names, e.g. "ResolvePrincipal"), in order."""
        return [
            str((span.attributes or {}).get("rpc.method", span.name))
            for span in self.finished()
            if span.kind is SpanKind.SERVER and span.name.startswith(SERVICE_METHOD_PREFIX)
        ]


def token(employee_id: str, *, secret: str = JWT_SECRET, ttl: int = 3600) -> str:
    return issue_dev_token(secret, employee_id, ttl_seconds=ttl)


def auth(employee_id: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(employee_id)}", **headers}


def codes_of(body: dict[str, object]) -> list[str]:
    """The ``extensions.code`` of every error of a raw response body."""
    return GraphQLResult(200, body).codes


async def node_ids(suite: Suite, query: str, as_: str, **variables: object) -> list[str]:
    """The node IDs of the one connection the query selects."""
    data = (await suite.gql(query, dict(variables), as_=as_)).ok()
    (connection,) = data.values()
    return [str(edge["node"]["id"]) for edge in connection["edges"]]


async def attendance_alert(suite: Suite, org: Org, detected_at: datetime) -> str:
    """An alert stored by attendance, which detects nothing yet (its detectors come later).

    It goes straight into the attendance service's own database, with the helper every
    service raises alerts with, and attendance serves it through its AlertsService like
    any other. Attendance has no alert kinds of its own yet, so it borrows a catalog kind.
    Answers the attendance service's ID of the alert (the API's is ``global_id("Alert", ...)``).
    """
    runtime = suite.running["attendance"].runtime
    dedupe_key = unique("attendance-test")
    async with runtime.db.transaction() as session:
        await raise_alert(
            session,
            AttendanceAlert,
            AlertDraft(
                kind="CUSTOMER_NEGLECTED",
                dedupe_key=dedupe_key,
                employee_id=org.junior,
                branch_id=org.branch,
                detected_at=detected_at,
                evidence={"customer_code": "C-999999", "days_silent": 31},
            ),
            source="attendance",
        )
        alert_id = await session.scalar(
            select(AttendanceAlert.id).where(AttendanceAlert.dedupe_key == dedupe_key)
        )
    assert isinstance(alert_id, str)
    return alert_id
