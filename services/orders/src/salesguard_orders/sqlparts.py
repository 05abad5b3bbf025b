"""The few SQL fragments that differ between PostgreSQL and SQLite.

Reconciliation and the diversion detector are written as plain SQL that both
databases run; where the two spell something differently (a fresh ID, a JSON
object, date arithmetic, a null-safe comparison, number formatting) the
statement is rendered once per dialect from these fragments, so every
statement exists in exactly one text per dialect.
"""

from __future__ import annotations

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

    def json_texts(self, parameter: str) -> str:
        """A subquery of the strings in a JSON array parameter (``:ids`` = '["a", "b"]'):
        one text parameter however many values, so no bind-parameter limit applies."""
        if self.name == "postgresql":
            return f"SELECT jsonb_array_elements_text(CAST({parameter} AS jsonb))"
        return f"SELECT value FROM json_each({parameter})"  # noqa: S608 (a parameter's name)

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
