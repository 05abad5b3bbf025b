"""The feed of newly raised alerts: committed alert IDs, fanned out to a process's watchers.

On PostgreSQL an ``AFTER INSERT`` trigger on ``alerts`` runs
``pg_notify('salesguard_alerts', id)``: every way of inserting an alert is
covered (a detector's ``raise_alert``, a set-based ``INSERT … SELECT``), and
PostgreSQL delivers the notification only when the transaction commits, to
every listening process, so it works with any number of pods. Each process
keeps ONE listening connection (asyncpg ``add_listener``), opened when the
first watcher arrives and reopened when it drops. Notifications sent while it
was down are lost, so a drop ends the watches of the moment (``UNAVAILABLE``:
watch again, and list what was missed) rather than leave a silent gap; new
watches wait until it listens again.

On SQLite (the embedded profile: one process per service, no NOTIFY) the feed
polls the table by ``rowid``: a single writer assigns rowids in commit order,
so "rowid above the last seen" is exactly "committed since".

A watcher holds a bounded backlog of IDs; one that does not keep up is ended
(``RESOURCE_EXHAUSTED``) rather than buffered without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from alembic import op
from sqlalchemy import func, literal_column, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.sql.elements import ColumnClause

from salesguard.db import Database
from salesguard.errors import ResourceExhausted, ServiceError, Unavailable

log = logging.getLogger(__name__)

CHANNEL = "salesguard_alerts"
# The listening connection's application_name: how operators (and tests) find it in
# pg_stat_activity, whatever it last ran (LISTEN, or an idle probe).
LISTENER_NAME = "salesguard-alert-feed"
# IDs a watcher may have waiting before it is ended as too slow.
WATCHER_BACKLOG = 10_000
# IDs looked up in one query (one IN list).
BATCH_MAX = 500
# The embedded profile's polling interval: well inside the 1 s a subscriber may wait.
POLL_SECONDS = 0.2
# How often an idle listening connection is probed (a silent network drop shows no error).
PROBE_SECONDS = 15.0
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)
# How long a new watcher waits for the feed to start listening before giving up.
START_SECONDS = 10.0


class Watcher:
    """The IDs of alerts committed since it started watching, waiting to be read."""

    def __init__(self, backlog: int) -> None:
        self._backlog = backlog
        self._ids: deque[str] = deque()
        self._wake = asyncio.Event()
        self._ended: ServiceError | None = None

    def offer(self, alert_id: str) -> None:
        if self._ended is not None:
            return
        if len(self._ids) >= self._backlog:
            self.end(
                ResourceExhausted(
                    f"the alert watch fell more than {self._backlog} alerts behind; watch again"
                )
            )
            return
        self._ids.append(alert_id)
        self._wake.set()

    def end(self, error: ServiceError) -> None:
        """Stop the watch: its next read raises ``error``; what it had waiting is dropped."""
        if self._ended is None:
            self._ended = error
            self._ids.clear()
            self._wake.set()

    async def next_batch(self, limit: int = BATCH_MAX) -> list[str]:
        """The next IDs (at least one), waiting for them; the error that ended the watch."""
        while not self._ids and self._ended is None:
            self._wake.clear()
            await self._wake.wait()
        if self._ended is not None:
            raise self._ended
        count = min(limit, len(self._ids))
        return [self._ids.popleft() for _ in range(count)]


class AlertFeed:
    """One service process's feed of committed alert IDs (see the module's docstring)."""

    def __init__(self, db: Database, table: str = "alerts", *, backlog: int = WATCHER_BACKLOG):
        self._db = db
        self._table = table
        self._backlog = backlog
        self._watchers: set[Watcher] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._start_lock = asyncio.Lock()

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    @contextlib.asynccontextmanager
    async def watch(self) -> AsyncIterator[Watcher]:
        """A watcher receiving every alert committed from now on, until the block ends."""
        await self._start()
        watcher = Watcher(self._backlog)
        self._watchers.add(watcher)
        try:
            yield watcher
        finally:
            self._watchers.discard(watcher)

    def _publish(self, alert_id: str) -> None:
        for watcher in tuple(self._watchers):
            watcher.offer(alert_id)

    async def _start(self) -> None:
        async with self._start_lock:
            if self._task is None:
                run = self._poll if self._db.is_sqlite else self._listen
                self._task = asyncio.create_task(run(), name="alert-feed")
        # Watching starts once notifications are flowing, so nothing committed after it is missed.
        try:
            await asyncio.wait_for(self._ready.wait(), START_SECONDS)
        except TimeoutError:
            raise Unavailable("the feed of new alerts is not available; try again") from None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- PostgreSQL: LISTEN on one connection, reopened when it drops --------------------------

    async def _listen(self) -> None:
        dsn = make_url(self._db.url).set(drivername="postgresql").render_as_string(False)
        attempt = 0
        while True:
            try:
                await self._listen_once(dsn)
                attempt = 0
                log.warning("the alert feed's listening connection closed; reconnecting")
            except Exception:  # whatever it was, the feed must come back
                log.warning("the alert feed cannot listen; retrying", exc_info=True)
            # What commits until it listens again is not notified: the current watches end.
            for watcher in tuple(self._watchers):
                watcher.end(Unavailable("the feed of new alerts was interrupted; watch again"))
            await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
            attempt += 1

    async def _listen_once(self, dsn: str) -> None:
        """LISTEN until the connection is lost (closed by the server, or a probe fails)."""
        connection = await asyncpg.connect(dsn, server_settings={"application_name": LISTENER_NAME})
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(CHANNEL, self._on_notification)
            self._ready.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), PROBE_SECONDS)
                if not lost.is_set():
                    await asyncio.wait_for(connection.execute("SELECT 1"), PROBE_SECONDS)
        finally:
            # New watchers wait for the next connection.
            self._ready.clear()
            if not connection.is_closed():
                connection.terminate()

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: object) -> None:
        self._publish(str(payload))

    # -- SQLite: poll by rowid ---------------------------------------------------------------

    async def _poll(self) -> None:
        rowid: ColumnClause[Any] = literal_column("rowid")
        alerts = table(self._table)
        last: int | None = None
        while True:
            try:
                async with self._db.read() as session:
                    if last is None:
                        newest = select(func.coalesce(func.max(rowid), 0)).select_from(alerts)
                        last = int((await session.execute(newest)).scalar_one())
                        self._ready.set()
                    else:
                        since = (
                            select(rowid, literal_column("id"))
                            .select_from(alerts)
                            .where(rowid > last)
                            .order_by(rowid)
                        )
                        for row_number, alert_id in (await session.execute(since)).all():
                            last = int(row_number)
                            self._publish(str(alert_id))
            except Exception:
                log.warning("the alert feed cannot poll; retrying", exc_info=True)
            await asyncio.sleep(POLL_SECONDS)


# -- migrations -------------------------------------------------------------------------------


def create_feed_trigger(table: str = "alerts") -> None:
    """In a migration: notify CHANNEL with the ID of every row inserted (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION {table}_notify_raised() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', NEW.id);
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        f"CREATE TRIGGER {table}_notify_raised AFTER INSERT ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_notify_raised()"
    )


def drop_feed_trigger(table: str = "alerts") -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_raised ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {table}_notify_raised()")
