"""A server stream the client leaves is closed cleanly, whatever task finalises it.

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

import pytest

from salesguard.grpc_server import ServiceInterceptor
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

    async def abort_with_status(self, status: Any) -> None:
        self.aborted.append(status)


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
