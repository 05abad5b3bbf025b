"""The directory cache's own rules, against a directory stand-in whose watch the test drives.

A real ``grpc.aio`` server answers ``WatchDirectoryChanges`` with what the test puts
in its outbox (or with silence), so the client's rules can be checked exactly:
entries are trusted only while the watch is live; a change drops what it names (a
branch change, everything); an answer fetched across a change is not cached; a watch
that falls silent (a connection dead without a word) stops being trusted, and the
cache starts over when it is reopened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

from salesguard.directory import DirectoryCache
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal
from salesguard_api.attendance.v1 import directory_pb2 as pb
from salesguard_api.attendance.v1 import directory_pb2_grpc
from tests.support.servers import free_port

SECRET = b"directory-watch-tests"


class DirectoryStandIn(directory_pb2_grpc.DirectoryServiceServicer):
    """Sends ``watching`` and then whatever the test puts in the latest stream's outbox."""

    def __init__(self, heartbeat_seconds: float) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self.outboxes: list[asyncio.Queue[pb.WatchDirectoryChangesResponse]] = []

    async def WatchDirectoryChanges(
        self, request: pb.WatchDirectoryChangesRequest, context: Any
    ) -> AsyncIterator[pb.WatchDirectoryChangesResponse]:
        outbox: asyncio.Queue[pb.WatchDirectoryChangesResponse] = asyncio.Queue()
        self.outboxes.append(outbox)
        yield pb.WatchDirectoryChangesResponse(
            watching=True, heartbeat_seconds=self.heartbeat_seconds
        )
        while True:
            yield await outbox.get()

    def send(self, **fields: Any) -> None:
        self.outboxes[-1].put_nowait(pb.WatchDirectoryChangesResponse(**fields))


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def directory() -> AsyncIterator[tuple[DirectoryStandIn, DirectoryCache[str]]]:
    # Only the watch is answered: the other methods stay abstract (UNIMPLEMENTED if called).
    stand_in = DirectoryStandIn(heartbeat_seconds=60)  # type: ignore[abstract]
    server = grpc.aio.server()
    directory_pb2_grpc.add_DirectoryServiceServicer_to_server(stand_in, server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    await server.start()
    channels = ServiceChannels({"attendance": f"127.0.0.1:{port}"}, SECRET, 5)
    stub = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
    cache: DirectoryCache[str] = DirectoryCache(
        lambda: stub, Principal.system("tests"), ttl_seconds=60
    )
    try:
        yield stand_in, cache
    finally:
        await cache.close()
        await channels.close()
        await server.stop(0)


async def live(cache: DirectoryCache[str]) -> None:
    cache.snapshot()  # opens the watch
    await until(lambda: cache.watch.live)


async def test_entries_are_trusted_only_while_the_watch_is_live_and_until_changed(
    directory: tuple[DirectoryStandIn, DirectoryCache[str]],
) -> None:
    stand_in, cache = directory
    # Not live yet: nothing is cached, nothing is read from the cache.
    assert cache.snapshot() is None
    cache.put("a", "before the watch", None)
    assert cache.get("a", None) is None

    await live(cache)
    for employee_id in ("a", "b"):
        cache.put(employee_id, f"principal of {employee_id}", cache.snapshot())
    assert cache.get("a", None) == "principal of a"

    # A change of "a" drops "a" only.
    generation = cache.watch.generation
    stand_in.send(employee_ids=["a"])
    await until(lambda: cache.watch.generation > generation)
    assert (cache.get("a", None), cache.get("b", None)) == (None, "principal of b")

    # A change of a branch drops everything (principals carry their branch's headquarters).
    generation = cache.watch.generation
    stand_in.send(branch_ids=["hq"])
    await until(lambda: cache.watch.generation > generation)
    assert cache.get("b", None) is None


async def test_an_answer_fetched_across_a_change_is_not_cached(
    directory: tuple[DirectoryStandIn, DirectoryCache[str]],
) -> None:
    stand_in, cache = directory
    await live(cache)
    snapshot = cache.snapshot()  # the request asks the directory...
    generation = cache.watch.generation
    stand_in.send(employee_ids=["a"])  # ...and "a" changes before the answer is cached
    await until(lambda: cache.watch.generation > generation)
    cache.put("a", "maybe stale", snapshot)
    assert cache.get("a", None) is None


async def test_a_silent_watch_is_not_trusted_and_is_reopened_empty(
    directory: tuple[DirectoryStandIn, DirectoryCache[str]],
) -> None:
    stand_in, cache = directory
    stand_in.heartbeat_seconds = 0.1  # and then sends nothing, not even a heartbeat
    await live(cache)
    cache.put("a", "principal of a", cache.snapshot())
    assert cache.get("a", None) == "principal of a"
    # Three heartbeats of silence: the watch is lost and the cache not used...
    await until(lambda: not cache.watch.live, within=2)
    assert cache.get("a", None) is None
    # ...until the watch is open again; it starts empty.
    stand_in.heartbeat_seconds = 60
    await until(lambda: cache.watch.live and len(stand_in.outboxes) >= 2, within=5)
    assert cache.get("a", None) is None


async def test_unchanged_since_holds_until_a_change_of_theirs_a_branch_or_a_lost_watch(
    directory: tuple[DirectoryStandIn, DirectoryCache[str]],
) -> None:
    """What a subscription's re-check relies on past the TTL: nothing reported since."""
    stand_in, cache = directory
    assert not cache.unchanged_since("a", cache.snapshot())  # not live: never
    await live(cache)
    snapshot = cache.snapshot()
    assert cache.unchanged_since("a", snapshot) and cache.unchanged_since("b", snapshot)

    # A change of "b" leaves "a" as it was; "b" must be asked about again.
    generation = cache.watch.generation
    stand_in.send(employee_ids=["b"])
    await until(lambda: cache.watch.generation > generation)
    assert cache.unchanged_since("a", snapshot) and not cache.unchanged_since("b", snapshot)
    # Asked again after the change: good from then on.
    assert cache.unchanged_since("b", cache.snapshot())

    # A branch's change reaches everyone.
    generation = cache.watch.generation
    stand_in.send(branch_ids=["hq"])
    await until(lambda: cache.watch.generation > generation)
    assert not cache.unchanged_since("a", snapshot)

    # A lost watch is not trusted, nor, once reopened, is anything said before.
    snapshot = cache.snapshot()
    await cache.watch.close()
    assert not cache.unchanged_since("a", snapshot)
    await live(cache)
    assert not cache.unchanged_since("a", snapshot)
    assert cache.unchanged_since("a", cache.snapshot())
