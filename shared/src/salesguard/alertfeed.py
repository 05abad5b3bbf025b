"""The feed of newly raised alerts: committed alert IDs, fanned out to a process's watchers.

A :class:`~salesguard.feeds.ChangeFeed` over each service's ``alerts`` table: on
PostgreSQL an ``AFTER INSERT`` trigger notifies ``salesguard_alerts`` with the ID
of every alert inserted (a detector's ``raise_alert`` or a set-based
``INSERT … SELECT`` alike), delivered on commit to every listening process; on
SQLite the table is polled by ``rowid``. See :mod:`salesguard.feeds` for how
watches start, end and keep up.
"""

from __future__ import annotations

from salesguard.db import Database
from salesguard.feeds import (
    WATCHER_BACKLOG,
    ChangeFeed,
    Watcher,
    create_notify_trigger,
    drop_notify_trigger,
)

__all__ = ["CHANNEL", "AlertFeed", "Watcher", "create_feed_trigger", "drop_feed_trigger"]

CHANNEL = "salesguard_alerts"


class AlertFeed(ChangeFeed):
    """One service process's feed of committed alert IDs."""

    def __init__(self, db: Database, table: str = "alerts", *, backlog: int = WATCHER_BACKLOG):
        super().__init__(
            db, table=table, column="id", channel=CHANNEL, what="new alerts", backlog=backlog
        )


# -- migrations -------------------------------------------------------------------------------


def create_feed_trigger(table: str = "alerts") -> None:
    """In a migration: notify CHANNEL with the ID of every row inserted (PostgreSQL only)."""
    create_notify_trigger(table, channel=CHANNEL, column="id", name=f"{table}_notify_raised")


def drop_feed_trigger(table: str = "alerts") -> None:
    drop_notify_trigger(table, name=f"{table}_notify_raised")
