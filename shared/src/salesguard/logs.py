"""JSON logs to stdout, one line per record, with the trace and span IDs when there are some.

Access lines (one per GraphQL request at the gateway, one per RPC at a service) go
through the ``salesguard.access`` logger: they name the operation, its outcome, its
duration and the caller, never a request's variables, arguments or contact data.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}
# One line per request (gateway) and per RPC (services).
access_log = logging.getLogger("salesguard.access")


def span_ids(span: trace.Span | None = None) -> dict[str, str]:
    """The trace and span IDs of ``span`` (default: the current one), as logs show them."""
    context = (span or trace.get_current_span()).get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(span_ids())
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
