"""Feeds of committed rows, fanned out to a process's watchers (new alerts, directory changes).

A feed follows one insert-only table and hands every watcher one column of each row
committed since it started watching (an alert's ID, a directory change's subject).

On PostgreSQL an ``AFTER INSERT`` trigger runs ``pg_notify(<channel>, <column>)``
(:func:`create_notify_trigger`): every way of inserting a row is covered, and
PostgreSQL delivers the notification only when the transaction commits, in commit
order, to every listening process, so it works with any number of pods. Each feed
of a process keeps ONE listening connection (asyncpg ``add_listener``), opened when
the first watcher arrives and reopened when it drops. Notifications sent while it
was down are lost, so a drop ends the watches of the moment (``UNAVAILABLE``: watch
again, and take stock of what was missed) rather than leave a silent gap; new
watches wait until it listens again.

On SQLite (the embedded profile: one process per service, no NOTIFY) the feed
polls the table by ``rowid``: a single writer assigns rowids in commit order, so
"rowid above the last seen" is exactly "committed since".

A watcher holds a bounded backlog; one that does not keep up is ended
(``RESOURCE_EXHAUSTED``) rather than buffered without bound. :meth:`ChangeFeed.sync`
lets a writer wait until what it committed has gone out to this process's watchers.

A feed also keeps what it handed out in the last ``RESUME_SECONDS`` (at most
``RESUME_MAX`` values), each with the moment it arrived, so a watch broken by a
transient failure (the caller's connection, a refused policy decision) is resumed
without a gap: ``watch(since=...)`` first hands the new watcher every value that
arrived from that moment (the caller drops the ones it already had), or from the
earliest moment the feed holds all of them (it was not listening before, or no longer
holds values that old). With ``complete_from``, a resume that would miss a value
arriving from that moment on (when the broken watch had started) is refused instead
(``RESOURCE_EXHAUSTED``: read what was missed); without it (a watch that never
started, so nothing was promised before) it starts as early as it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import KW_ONLY, dataclass
from typing import Any

import asyncpg
from alembic import op
from sqlalchemy import func, literal_column, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.sql.elements import ColumnClause

from salesguard.asynctasks import cancel_and_wait
from salesguard.db import Database, new_id
from salesguard.errors import ResourceExhausted, ServiceError, Unavailable

log = logging.getLogger(__name__)

# Values a watcher may have waiting before it is ended as too slow.
WATCHER_BACKLOG = 10_000
# Values handed out in one batch (one IN list for a lookup).
BATCH_MAX = 500
# The embedded profile's polling interval: well inside the 1 s a subscriber may wait.
POLL_SECONDS = 0.2
# How often an idle listening connection is probed (a silent network drop shows no error).
PROBE_SECONDS = 15.0
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)
# How long a new watcher waits for the feed to start listening before giving up.
START_SECONDS = 10.0
# How long a writer's sync waits for the watchers before it gives up on them.
SYNC_SECONDS = 2.0
# Values kept for resumed watches: those of the last RESUME_SECONDS, at most RESUME_MAX.
RESUME_SECONDS = 60.0
RESUME_MAX = WATCHER_BACKLOG
# Marks a sync's own notification; no fed value contains a space (IDs, "kind:ID" subjects).
_SYNC_PREFIX = "sync "


class Watcher:
    """The values committed since it started watching, waiting to be read."""

    def __init__(self, backlog: int, what: str = "alerts") -> None:
        self.backlog = backlog
        self.what = what
        self._values: deque[str] = deque()
        self._wake = asyncio.Event()
        # Set while the reader waits for more with nothing queued (or the watch ended):
        # whatever was offered before has been taken and passed on.
        self._idle = asyncio.Event()
        self._ended: ServiceError | None = None
        # When (time.time()) its feed began handing it values: a resume of its watch
        # must miss nothing that arrived from then on.
        self.started = time.time()

    def offer(self, value: str) -> None:
        if self._ended is not None:
            return
        if len(self._values) >= self.backlog:
            self.end(
                ResourceExhausted(
                    f"the watch of {self.what} fell more than {self.backlog} behind; watch again"
                )
            )
            return
        self._values.append(value)
        self._idle.clear()
        self._wake.set()

    def end(self, error: ServiceError) -> None:
        """Stop the watch: its next read raises ``error``; what it had waiting is dropped."""
        if self._ended is None:
            self._ended = error
            self._values.clear()
            self._idle.set()
            self._wake.set()

    async def next_batch(
        self, limit: int = BATCH_MAX, *, quiet_seconds: float | None = None
    ) -> list[str]:
        """The next values (at least one), waiting for them; the error that ended the watch.
        With ``quiet_seconds``, an empty list when nothing came within them."""
        while not self._values and self._ended is None:
            self._wake.clear()
            self._idle.set()
            if quiet_seconds is None:
                await self._wake.wait()
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), quiet_seconds)
            except TimeoutError:
                return []
        if self._ended is not None:
            raise self._ended
        count = min(limit, len(self._values))
        return [self._values.popleft() for _ in range(count)]

    async def settled(self) -> None:
        """Until everything offered so far has been taken and the reader is back for more."""
        await self._idle.wait()


@dataclass(eq=False)
class ChangeFeed:
    """One service process's feed of one table's committed rows (see the module's docstring)."""

    db: Database
    _: KW_ONLY
    table: str
    column: str
    channel: str
    what: str
    backlog: int = WATCHER_BACKLOG

    def __post_init__(self) -> None:
        self._watchers: set[Watcher] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._start_lock = asyncio.Lock()
        # sync(): PostgreSQL's markers waiting for their notification; SQLite's polls.
        self._markers: dict[str, asyncio.Future[None]] = {}
        self._polls_started = 0
        self._polls_done = 0
        self._poll_now = asyncio.Event()
        self._polled = asyncio.Condition()
        # Resuming (see the module's docstring): values by the moment (time.time()) they
        # arrived; the newest moment given up; since when the feed listens without a break.
        self._recent: deque[tuple[float, str]] = deque()
        self._evicted_until = float("-inf")
        self._listening_since: float | None = None

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    @property
    def listener_name(self) -> str:
        """The ``application_name`` of the feed's listening connection (PostgreSQL)."""
        return f"salesguard feed {self.channel}"

    async def listen(self) -> None:
        """Until the feed listens (it then keeps listening): a watch resumed later may
        start from this moment."""
        await self._start()

    @contextlib.asynccontextmanager
    async def watch(
        self, *, since: float | None = None, complete_from: float | None = None
    ) -> AsyncIterator[Watcher]:
        """A watcher receiving every row committed from now on, until the block ends; with
        ``since`` (a ``time.time()``), first every value that arrived from that moment on
        (see the module's docstring for ``complete_from``)."""
        await self._start()
        watcher = Watcher(self.backlog, self.what)
        if since is not None:
            for value in self._values_since(since, complete_from):
                watcher.offer(value)
        # Nothing awaited since the values were taken: none arrives in between.
        watcher.started = time.time()
        self._watchers.add(watcher)
        try:
            yield watcher
        finally:
            self._watchers.discard(watcher)

    async def sync(self, within: float = SYNC_SECONDS) -> bool:
        """Until every row committed before the call has reached this process's watchers and
        each has passed it on; False (logged) when that took longer than ``within`` seconds.

        Other processes' watchers get the rows as quickly, but are not waited for."""
        if not self._watchers or self._task is None:
            return True
        try:
            async with asyncio.timeout(within):
                await (self._polled_since_now() if self.db.is_sqlite else self._marker_seen())
                await asyncio.gather(*(watcher.settled() for watcher in tuple(self._watchers)))
        except TimeoutError:
            log.warning("the watchers of %s did not take a change within %.1f s", self.what, within)
            return False
        return True

    def _publish(self, value: str) -> None:
        now = time.time()
        self._recent.append((now, value))
        self._forget(now)
        for watcher in tuple(self._watchers):
            watcher.offer(value)

    def _forget(self, now: float) -> None:
        recent = self._recent
        while recent and (len(recent) > RESUME_MAX or recent[0][0] < now - RESUME_SECONDS):
            self._evicted_until = recent.popleft()[0]

    def _values_since(self, since: float, complete_from: float | None) -> list[str]:
        now = time.time()
        self._forget(now)
        listening = self._listening_since if self._listening_since is not None else now
        required = None if complete_from is None else max(since, complete_from)
        # Held: every value from `listening` on, and none at or before `_evicted_until`.
        if required is not None and (listening > required or self._evicted_until >= required):
            raise ResourceExhausted(
                f"the {self.what} since the watch broke are no longer all held; read what "
                "was missed, then watch again"
            )
        start = max(since, listening)
        return [
            value
            for moment, value in self._recent
            if moment >= start and moment > self._evicted_until
        ]

    async def _start(self) -> None:
        async with self._start_lock:
            if self._task is None:
                run = self._poll if self.db.is_sqlite else self._listen
                self._task = asyncio.create_task(run(), name=f"feed:{self.channel}")
        # Watching starts once notifications are flowing, so nothing committed after it is missed.
        try:
            await asyncio.wait_for(self._ready.wait(), START_SECONDS)
        except TimeoutError:
            raise Unavailable(f"the feed of {self.what} is not available; try again") from None

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    # -- PostgreSQL: LISTEN on one connection, reopened when it drops --------------------------

    async def _listen(self) -> None:
        dsn = make_url(self.db.url).set(drivername="postgresql").render_as_string(False)
        attempt = 0
        while True:
            try:
                await self._listen_once(dsn)
                attempt = 0
                log.warning("the %s feed's listening connection closed; reconnecting", self.what)
            except Exception:  # whatever it was, the feed must come back
                log.warning("the %s feed cannot listen; retrying", self.what, exc_info=True)
            # What commits until it listens again is not notified: the current watches end.
            for watcher in tuple(self._watchers):
                watcher.end(Unavailable(f"the feed of {self.what} was interrupted; watch again"))
            await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
            attempt += 1

    async def _listen_once(self, dsn: str) -> None:
        """LISTEN until the connection is lost (closed by the server, or a probe fails)."""
        # Named, so the listener shows as such in pg_stat_activity.
        connection = await asyncpg.connect(
            dsn, server_settings={"application_name": self.listener_name}
        )
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(self.channel, self._on_notification)
            self._listening_since = time.time()
            self._ready.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), PROBE_SECONDS)
                if not lost.is_set():
                    await asyncio.wait_for(connection.execute("SELECT 1"), PROBE_SECONDS)
        finally:
            # New watchers wait for the next connection; nothing before it can be resumed.
            self._ready.clear()
            self._listening_since = None
            if not connection.is_closed():
                connection.terminate()

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: object) -> None:
        value = str(payload)
        if value.startswith(_SYNC_PREFIX):
            marker = self._markers.pop(value, None)
            if marker is not None and not marker.done():
                marker.set_result(None)
            return
        self._publish(value)

    async def _marker_seen(self) -> None:
        """A notification of our own, committed after the rows to sync, has come back: every
        notification before it (PostgreSQL delivers in commit order) has been published."""
        if not self._ready.is_set():
            return  # not listening: the watches ended and will take stock when they return
        marker = f"{_SYNC_PREFIX}{new_id()}"
        arrived = asyncio.get_running_loop().create_future()
        self._markers[marker] = arrived
        try:
            async with self.db.transaction() as session:
                await session.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": self.channel, "payload": marker},
                )
            await arrived
        finally:
            self._markers.pop(marker, None)

    # -- SQLite: poll by rowid ---------------------------------------------------------------

    async def _polled_since_now(self) -> None:
        """A poll that started after the call has finished (and polling now, not in 0.2 s)."""
        wanted = self._polls_started + 1
        self._poll_now.set()
        async with self._polled:
            await self._polled.wait_for(lambda: self._polls_done >= wanted)

    async def _poll(self) -> None:
        rowid: ColumnClause[Any] = literal_column("rowid")
        rows = table(self.table)
        last: int | None = None
        while True:
            self._poll_now.clear()
            self._polls_started += 1
            started = self._polls_started
            try:
                async with self.db.read() as session:
                    if last is None:
                        newest = select(func.coalesce(func.max(rowid), 0)).select_from(rows)
                        last = int((await session.execute(newest)).scalar_one())
                        # Polling by rowid misses nothing once started, failures or not.
                        self._listening_since = time.time()
                        self._ready.set()
                    else:
                        since = (
                            select(rowid, literal_column(self.column))
                            .select_from(rows)
                            .where(rowid > last)
                            .order_by(rowid)
                        )
                        for row_number, value in (await session.execute(since)).all():
                            last = int(row_number)
                            self._publish(str(value))
                async with self._polled:
                    self._polls_done = started
                    self._polled.notify_all()
            except Exception:
                log.warning("the %s feed cannot poll; retrying", self.what, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_now.wait(), POLL_SECONDS)


# -- migrations -------------------------------------------------------------------------------


def create_notify_trigger(
    table: str, *, channel: str, column: str, name: str | None = None
) -> None:
    """In a migration: notify ``channel`` with ``column`` of every row inserted into ``table``
    (PostgreSQL only; SQLite is polled)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    name = name or f"{table}_notify"
    op.execute(
        f"""
        CREATE FUNCTION {name}() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{channel}', NEW.{column});
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        f"CREATE TRIGGER {name} AFTER INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
    )


def drop_notify_trigger(table: str, *, name: str | None = None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    name = name or f"{table}_notify"
    op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {name}()")
