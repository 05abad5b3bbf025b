"""The gateway's uvicorn protocol (salesguard_gateway.serving): a response's writes are
joined into one, and nothing about HTTP/1.1 or websockets changes for a client. Real
uvicorn on a loopback port, a raw socket and the websockets client; the app is a small
ASGI app, so each case shows one thing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import uvicorn
from websockets.asyncio.client import connect

from salesguard_gateway import serving
from tests.support.servers import free_port


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": f"{message['type']}.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "websocket":
        await receive()  # connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"].upper()})
        return
    path = scope["path"]
    if path == "/stream":
        # A streamed body, its chunks sent across turns of the loop: in order, whole.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    body = f"answer to {path}".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def served() -> AsyncIterator[int]:
    port = free_port()
    server = uvicorn.Server(serving.uvicorn_config(app, host="127.0.0.1", port=port))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 (uvicorn has no started event)
                await asyncio.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        await task


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readexactly(2)
        return head, body
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head, await reader.readexactly(length)


async def test_keep_alive_requests_each_get_their_whole_response_in_order() -> None:
    async with served() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # Pipelined: three requests written at once, answered in order.
        writer.write(
            b"".join(f"GET /{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for n in ("a", "b", "c"))
        )
        for name in ("a", "b", "c"):
            head, body = await read_response(reader)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert body == f"answer to /{name}".encode()
        for n in range(20):
            writer.write(f"GET /again{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert (await read_response(reader))[1] == f"answer to /again{n}".encode()
        writer.close()


async def test_a_streamed_body_arrives_whole_and_in_order() -> None:
    async with served() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = await read_response(reader)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"one,two,three"
        writer.close()


async def test_a_connection_close_request_gets_its_response_before_the_close() -> None:
    async with served() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        everything = await reader.read()  # until the server closes
        assert everything.endswith(b"answer to /last")
        writer.close()


async def test_a_websocket_upgrade_still_talks_frames() -> None:
    async with served() as port, connect(f"ws://127.0.0.1:{port}/ws") as websocket:
        for word in ("alert", "raised", "now"):
            await websocket.send(word)
            assert await websocket.recv() == word.upper()


async def test_a_bad_request_is_answered_400() -> None:
    async with served() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        answer = await reader.read()
        assert answer.startswith(b"HTTP/1.1 400")
        writer.close()


class _RecordingTransport:
    """What reaches the socket: each write as one item."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def test_writes_in_one_turn_of_the_loop_reach_the_socket_as_one_in_order() -> None:
    socket = _RecordingTransport()
    coalescing = serving._CoalescingTransport(
        cast(asyncio.Transport, socket), asyncio.get_running_loop()
    )
    coalescing.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
    coalescing.write(b"hello")
    assert socket.writes == []  # held until the callback that wrote them is done
    await asyncio.sleep(0)
    assert socket.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"]
    # A close sends what is pending first, nothing after.
    coalescing.write(b"last")
    coalescing.close()
    assert socket.writes[-1] == b"last" and socket.closed
    await asyncio.sleep(0)
    assert len(socket.writes) == 2
