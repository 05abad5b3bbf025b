"""The committed SDL (gateway/schema.graphql) is the frontend teams' contract: keep it current."""

from __future__ import annotations

from pathlib import Path

from salesguard_gateway.schema.__main__ import sdl

SNAPSHOT = Path(__file__).resolve().parents[1] / "schema.graphql"
REFRESH = (
    "uv run strawberry export-schema salesguard_gateway.schema:schema "
    "--output gateway/schema.graphql\n"
    "  (or, without strawberry's CLI extra: "
    "uv run python -m salesguard_gateway.schema --output gateway/schema.graphql)"
)


def test_schema_snapshot_is_current() -> None:
    current = sdl()
    committed = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
    assert committed == current, f"gateway/schema.graphql is stale; refresh it with:\n  {REFRESH}"
