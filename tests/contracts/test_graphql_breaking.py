"""The GraphQL breaking-change check of `make lint`, on SDL strings (no git history needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contracts.graphql_breaking import check, main

BEFORE = """
type Customer {
  id: ID!
  name: String!
  phone: String
}

enum Stage { LEAD WON }

type Query {
  customer(id: ID!): Customer
  customers(first: Int = 20): [Customer!]!
}
"""


def test_the_same_schema_passes() -> None:
    verdict = check(BEFORE, BEFORE)
    assert verdict.passed
    assert verdict.lines == ()


def test_a_removed_field_is_a_break() -> None:
    verdict = check(BEFORE, BEFORE.replace("  phone: String\n", ""))
    assert not verdict.passed
    assert any("Customer.phone was removed" in line for line in verdict.lines)


def test_a_changed_field_type_is_a_break() -> None:
    verdict = check(BEFORE, BEFORE.replace("name: String!", "name: Int!"))
    assert not verdict.passed
    assert any("Customer.name changed type" in line for line in verdict.lines)


def test_a_new_required_argument_is_a_break() -> None:
    after = BEFORE.replace("customer(id: ID!)", "customer(id: ID!, branch: ID!)")
    assert not check(BEFORE, after).passed


def test_an_added_optional_field_passes() -> None:
    verdict = check(
        BEFORE, BEFORE.replace("  phone: String\n", "  phone: String\n  email: String\n")
    )
    assert verdict.passed
    assert verdict.lines == ()


def test_a_dangerous_change_is_a_warning_only() -> None:
    verdict = check(
        BEFORE, BEFORE.replace("enum Stage { LEAD WON }", "enum Stage { LEAD WON LOST }")
    )
    assert verdict.passed
    assert [line for line in verdict.lines if line.startswith("warning:")]


def test_a_marked_break_passes_and_is_reported() -> None:
    verdict = check(BEFORE, BEFORE.replace("  phone: String\n", ""), accepted=True)
    assert verdict.passed
    assert any(line.startswith("accepted breaking") for line in verdict.lines)


def test_the_command_fails_on_an_unmarked_break(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tmp_path / "old.graphql", tmp_path / "new.graphql"
    old.write_text(BEFORE, encoding="utf-8")
    new.write_text(BEFORE.replace("  phone: String\n", ""), encoding="utf-8")
    assert main([str(old), str(new)]) == 1
    assert "Customer.phone was removed" in capsys.readouterr().err
    assert main([str(old), str(new), "--accepted"]) == 0


def test_the_committed_snapshot_parses() -> None:
    snapshot = Path(__file__).resolve().parents[2] / "gateway" / "schema.graphql"
    sdl = snapshot.read_text(encoding="utf-8")
    assert check(sdl, sdl).passed
