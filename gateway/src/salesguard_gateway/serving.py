"""uvicorn's HTTP/1.1 protocol, with a response's writes sent as one.

uvicorn writes a response's status line and headers as soon as the application starts
the response, and its body when the application sends it: two ``send`` calls on the
socket for every GraphQL answer, each of which wakes the client. On loopback and on a
busy machine the first of them was about a tenth of the gateway's CPU per
``customers(first: 50)``. Here the writes made while the event loop runs one callback
are joined and go out together right after it, in order; nothing is held longer than
that turn of the loop, and a close or abort sends (or drops) what is pending first.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescingTransport:
    """A transport whose writes in one loop turn reach the socket as one write."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    @property
    def transport(self) -> asyncio.Transport:
        return self._transport

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through :class:`_CoalescingTransport`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        coalescing = _CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(cast(asyncio.Transport, coalescing))

    def handle_websocket_upgrade(self) -> None:
        # A websocket writes frames of its own pace: it gets the socket's transport itself.
        coalescing = self.transport
        if isinstance(coalescing, _CoalescingTransport):
            coalescing.flush()
            self.transport = coalescing.transport
            self.flow = FlowControl(self.transport)
        super().handle_websocket_upgrade()


def uvicorn_config(app: Any, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    """How the gateway is served, by its process and by the tests that run it under
    uvicorn: on ``host``:``port``, through :class:`CoalescingHttpToolsProtocol`, without
    uvicorn's own logging configuration (the gateway's is set up before), with
    ``options`` passed on to :class:`uvicorn.Config`."""
    return uvicorn.Config(
        app, host=host, port=port, log_config=None, http=CoalescingHttpToolsProtocol, **options
    )
