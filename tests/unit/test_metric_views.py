"""Which instruments a process keeps (salesguard.telemetry): its own and the database
pool's, every other dropped, and each instrument matched by exactly one view, so that a
measurement is recorded once (issue 16: a second, dropping view doubled its cost)."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest

from salesguard.telemetry import KEPT_INSTRUMENTS, dropped_instrument_patterns

NAMES = [
    "salesguard.rpc.requests",
    "salesguard.",
    "salesguard",
    "salesguar",
    "salesguardx.rpc",
    "s",
    "sa.x",
    "db.client.connections.usage",
    "db.client.",
    "db.client",
    "db.clients.x",
    "db",
    "d",
    "db.x",
    "http.server.duration",
    "rpc.server.duration",
    "http.client.request.body.size",
    "Salesguard.rpc.requests",
    "x",
]


@pytest.mark.parametrize("name", NAMES)
def test_each_instrument_is_matched_by_one_view(name: str) -> None:
    dropped = [p for p in dropped_instrument_patterns(KEPT_INSTRUMENTS) if fnmatchcase(name, p)]
    kept = [p for p in KEPT_INSTRUMENTS if fnmatchcase(name, p)]
    assert len(dropped) + len(kept) == 1, (dropped, kept)
    assert bool(kept) == name.startswith(("salesguard.", "db.client."))


def test_only_prefixes_are_kept() -> None:
    with pytest.raises(ValueError, match="prefixes"):
        dropped_instrument_patterns(["salesguard.*.requests"])
    assert dropped_instrument_patterns(["ab*", "ac*"]) == ["[!a]*", "a", "a[!bc]*"]
