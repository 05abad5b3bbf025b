"""The policy data documents match their JSON Schemas, and a typo fails the check.

``make lint`` runs the same check (``python -m tests.support.policy_data``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.policy_data import POLICIES, SCHEMAS, problems, problems_in

TIERS = "salesguard/tiers/data.json"
THRESHOLDS = "salesguard/thresholds/data.json"


def _load(relative: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((POLICIES / relative).read_text())
    return document


def _hr_read_grant(tiers: dict[str, Any]) -> dict[str, Any]:
    grant: dict[str, Any] = tiers["actions"]["customers.read"]["roles"]["HR"]["grants"][0]
    return grant


def test_the_repository_policy_data_matches_its_schemas() -> None:
    assert problems() == []
    assert {p.relative_to(POLICIES).as_posix() for p in POLICIES.rglob("data.json")} == set(SCHEMAS)


def test_a_misspelt_masked_fields_is_refused() -> None:
    tiers = _load(TIERS)
    grant = _hr_read_grant(tiers)
    grant["masked_feilds"] = grant.pop("masked_fields")
    found = problems_in(TIERS, tiers)
    assert any("masked_feilds" in problem for problem in found), found
    assert any("'masked_fields' is a required property" in problem for problem in found), found


@pytest.mark.parametrize(
    "path",
    [
        (),
        ("actions", "alerts.read"),
        ("actions", "alerts.read", "roles", "FINANCE"),
        ("actions", "alerts.read", "roles", "FINANCE", "grants", 0),
        ("actions", "orders.decide", "step_roles"),
    ],
)
def test_an_unknown_key_is_refused_at_every_level(path: tuple[str | int, ...]) -> None:
    tiers = _load(TIERS)
    place: Any = tiers
    for step in path:
        place = place[step]
    place["hiden_subject_roles"] = ["MANAGER"]
    found = problems_in(TIERS, tiers)
    assert any("'hiden_subject_roles' was unexpected" in problem for problem in found), found


def test_an_unknown_field_set_is_refused() -> None:
    tiers = _load(TIERS)
    _hr_read_grant(tiers)["masked_field_sets"] = ["contacts"]
    assert problems_in(TIERS, tiers) == [
        f"policies/{TIERS}: actions.customers.read.roles.HR.grants[0].masked_field_sets:"
        " no field set 'contacts' in field_sets"
    ]


def test_an_unknown_role_or_scope_is_refused() -> None:
    tiers = _load(TIERS)
    roles = tiers["actions"]["customers.read"]["roles"]
    roles["MANGER"] = roles.pop("MANAGER")
    assert problems_in(TIERS, tiers)
    tiers = _load(TIERS)
    _hr_read_grant(tiers)["scope"] = "everything"
    assert problems_in(TIERS, tiers)


def test_a_misspelt_threshold_is_refused() -> None:
    thresholds = _load(THRESHOLDS)
    thresholds["fake_deal"] = {"grace_day": 0}
    found = problems_in(THRESHOLDS, thresholds)
    assert any("grace_day" in problem for problem in found), found


def test_the_thresholds_stay_out_of_the_tiers() -> None:
    tiers = _load(TIERS)
    tiers["thresholds"] = _load(THRESHOLDS)
    assert problems_in(TIERS, tiers)


def test_a_data_document_without_a_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "salesguard" / "extra").mkdir(parents=True)
    (tmp_path / "salesguard" / "extra" / "data.json").write_text("{}")
    found = problems(tmp_path)
    assert (
        "policies/salesguard/extra/data.json: no JSON Schema for it (add one to SCHEMAS)" in found
    )
