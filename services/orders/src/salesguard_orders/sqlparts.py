"""The few SQL fragments that differ between PostgreSQL and SQLite.

Reconciliation and the diversion detector are written as plain SQL that both
databases run; where the two spell something differently (a fresh ID, a JSON
object, date arithmetic, a null-safe comparison, number formatting) the
statement is rendered once per dialect from these fragments, so every
statement exists in exactly one text per dialect.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SqlDialect:
    name: str
    # A fresh 32-hex-digit ID per row, like salesguard.db.new_id().
    new_id: str
    # The function that builds a JSON object from alternating keys and values.
    json_object: str
    # Null-safe "differs from" (NULL vs NULL is not a difference).
    differs: str

    def in_ids(self, column: str, parameter: str) -> str:
        """``column`` is one of the IDs in ``parameter`` (a value of :meth:`id_list`): one
        parameter however many IDs, so no bind-parameter limit applies. On PostgreSQL a
        semi-join with the unnested array: a handful of IDs are looked up by index, many
        are hashed. Not ``= ANY(array)``: the array is cast from a text parameter, which
        PostgreSQL does not fold while planning (nor does it under a generic plan), so it
        cannot hash the list, and a scan compares each row with every ID in turn: 2,000
        IDs against 20,000 rows took a minute (reconciliation/test_id_lists.py)."""
        if self.name == "postgresql":
            return f"{column} IN (SELECT unnest(CAST({parameter} AS text[])))"
        return f"{column} IN (SELECT value FROM json_each({parameter}))"  # noqa: S608

    def id_list(self, ids: Iterable[str]) -> str:
        """IDs as the one text parameter :meth:`in_ids` reads: an array literal on
        PostgreSQL, a JSON array on SQLite."""
        ordered = sorted(ids)
        if self.name == "postgresql":
            quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in ordered)
            return "{" + ",".join(f'"{value}"' for value in quoted) + "}"
        return json.dumps(ordered)

    def order_code(self, number: str) -> str:
        """``O-000123``, as models.format_order_code (more digits past 999 999)."""
        if self.name == "postgresql":
            return f"'O-' || lpad(({number})::text, greatest(6, length(({number})::text)), '0')"
        return f"printf('O-%06d', {number})"

    def money(self, minor: str) -> str:
        """Integer cents as an exact decimal string, '1234.50'."""
        if self.name == "postgresql":
            return f"(({minor}) / 100)::text || '.' || lpad((({minor}) % 100)::text, 2, '0')"
        return f"printf('%d.%02d', ({minor}) / 100, ({minor}) % 100)"

    def utc_day(self, moment: str) -> str:
        """The UTC calendar day of a UtcDateTime column or expression."""
        if self.name == "postgresql":
            return f"(({moment}) AT TIME ZONE 'UTC')::date"
        return f"date({moment})"

    def days_between(self, later: str, earlier: str) -> str:
        """Whole days from ``earlier`` to ``later`` (two dates)."""
        if self.name == "postgresql":
            return f"(({later}) - ({earlier}))"
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


POSTGRESQL = SqlDialect(
    name="postgresql",
    new_id="replace(gen_random_uuid()::text, '-', '')",
    json_object="json_build_object",
    differs="IS DISTINCT FROM",
)
SQLITE = SqlDialect(
    name="sqlite",
    new_id="lower(hex(randomblob(16)))",
    json_object="json_object",
    differs="IS NOT",
)


def dialect_of(name: str) -> SqlDialect:
    return POSTGRESQL if name == "postgresql" else SQLITE
