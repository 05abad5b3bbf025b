"""The GraphQL schema's breaking-change check of ``make lint`` (scripts/check-contracts.sh).

Compares the committed SDL snapshot (``gateway/schema.graphql``) with the previous commit's
using graphql-core: a breaking change (a removed type or field, a changed field type, a new
required argument, ...) fails unless the change is marked deliberate, a dangerous one (a new
enum value, a changed default, ...) is printed as a warning. A deliberate break is marked by
a line starting ``BREAKING:`` in a commit message of the change (README, Developing).

    uv run --frozen python -m tests.contracts.graphql_breaking OLD.graphql NEW.graphql [--accepted]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from graphql import build_schema, find_breaking_changes, find_dangerous_changes


@dataclass(frozen=True)
class SchemaChanges:
    """What a new schema changes for clients of the old one, as graphql-core describes it."""

    breaking: tuple[str, ...]
    dangerous: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    passed: bool
    lines: tuple[str, ...]


def schema_changes(old_sdl: str, new_sdl: str) -> SchemaChanges:
    old, new = build_schema(old_sdl), build_schema(new_sdl)
    return SchemaChanges(
        breaking=tuple(change.description for change in find_breaking_changes(old, new)),
        dangerous=tuple(change.description for change in find_dangerous_changes(old, new)),
    )


def judge(changes: SchemaChanges, *, accepted: bool) -> Verdict:
    """Fails on breaking changes unless ``accepted`` (marked deliberate); dangerous ones
    are warnings only."""
    lines = [f"warning: dangerous GraphQL change: {line}" for line in changes.dangerous]
    if changes.breaking and accepted:
        lines += [f"accepted breaking GraphQL change: {line}" for line in changes.breaking]
    else:
        lines += [f"error: breaking GraphQL change: {line}" for line in changes.breaking]
    if changes.breaking and not accepted:
        lines.append(
            "a deliberate break needs a line 'BREAKING: <why>' in its commit message "
            "(README, Developing)"
        )
    return Verdict(passed=accepted or not changes.breaking, lines=tuple(lines))


def check(old_sdl: str, new_sdl: str, *, accepted: bool = False) -> Verdict:
    return judge(schema_changes(old_sdl, new_sdl), accepted=accepted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fail on unmarked breaking changes between two GraphQL SDL files."
    )
    parser.add_argument("old", type=Path, help="the previous commit's SDL")
    parser.add_argument("new", type=Path, help="the SDL now")
    parser.add_argument("--accepted", action="store_true", help="breaks are marked deliberate")
    args = parser.parse_args(argv)
    verdict = check(
        args.old.read_text(encoding="utf-8"),
        args.new.read_text(encoding="utf-8"),
        accepted=args.accepted,
    )
    for line in verdict.lines:
        print(line, file=sys.stderr if line.startswith("error") else sys.stdout)
    if verdict.passed:
        print("GraphQL schema: no unmarked breaking change")
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
