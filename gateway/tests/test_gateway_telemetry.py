"""One trace from gateway to service to database: each hop's span is a child of the one before."""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from gateway.tests.conftest import World
from gateway.tests.support import Spans
from tests.harness import Suite


async def test_one_trace_from_request_to_database(suite: Suite, world: World, spans: Spans) -> None:
    spans.clear()
    (await suite.gql("{ customers(first: 2) { totalCount } }", as_=world.org.manager)).ok()
    finished = spans.finished()
    names = [span.name for span in finished]
    # The request's server span, named after its (anonymous) operation.
    server = [s for s in finished if s.kind is SpanKind.SERVER and s.name == "query"]
    assert len(server) == 1, names
    request_span = server[0]
    trace_id = request_span.context.trace_id
    clients = [s for s in finished if s.kind is SpanKind.CLIENT and "ListCustomers" in s.name]
    assert len(clients) == 1, names
    client = clients[0]
    assert client.context.trace_id == trace_id
    assert client.parent is not None and client.parent.span_id == request_span.context.span_id
    # The customers service's own span continues the same trace, under the gateway's call...
    served = [s for s in finished if s.kind is SpanKind.SERVER and "ListCustomers" in s.name]
    assert len(served) == 1, names
    assert served[0].context.trace_id == trace_id
    assert served[0].parent is not None and served[0].parent.span_id == client.context.span_id
    # ...and so do its queries of its SQLite database.
    queries = [
        s
        for s in finished
        if (s.attributes or {}).get("db.system") == "sqlite" and s.context.trace_id == trace_id
    ]
    assert queries, names
