"""A1 one by one: IDs, time zones, branch overrides, affiliations, who edits whom, leavers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from salesguard.errors import InvalidInput
from salesguard_attendance.rules.people import (
    LEFT,
    MAX_GEOFENCE_RADIUS_M,
    Affiliation,
    affiliation_problem,
    check_dates,
    check_id,
    check_time_zone,
    edit_refusal,
    handover_destination,
    is_active,
    needs_destination,
    optional_id,
    optional_override,
)

FITTING = Affiliation(
    employee_id="rep",
    branch_id="sh",
    branch_exists=True,
    team_id="sh-east",
    team_branch_id="sh",
    team_exists=True,
    manager_id="lead",
    manager_exists=True,
)


def refused_field(call: object) -> str | None:
    assert isinstance(call, InvalidInput)
    return call.field


def test_ids_are_letters_digits_dots_dashes_and_underscores_up_to_64() -> None:
    assert check_id("employee.id", "rep.zhang-01_a") == "rep.zhang-01_a"
    for wrong in ("", "-starts-with-dash", "has space", "x" * 65, "emoji😀"):
        with pytest.raises(InvalidInput) as refused:
            check_id("employee.id", wrong)
        assert refused.value.field == "employee.id"
    assert optional_id("employee.team_id", "") is None


def test_a_branch_time_zone_is_an_iana_name() -> None:
    assert check_time_zone("branch.time_zone", "Asia/Shanghai") == "Asia/Shanghai"
    for wrong in ("Mars/Olympus", "../etc/passwd", "+08:00"):
        with pytest.raises(InvalidInput):
            check_time_zone("branch.time_zone", wrong)


def test_a_branch_override_of_zero_means_the_service_default() -> None:
    assert optional_override("branch.geofence_radius_m", 0, MAX_GEOFENCE_RADIUS_M) is None
    assert optional_override("branch.geofence_radius_m", 150, MAX_GEOFENCE_RADIUS_M) == 150
    for wrong in (-1.0, 5000.5, float("nan")):
        with pytest.raises(InvalidInput) as refused:
            optional_override("branch.geofence_radius_m", wrong, MAX_GEOFENCE_RADIUS_M)
        assert "between 0 and 5000" in refused.value.message


def test_a_leave_date_is_not_before_the_hire_date() -> None:
    check_dates(date(2024, 1, 1), date(2026, 1, 1))
    check_dates(None, date(2026, 1, 1))
    with pytest.raises(InvalidInput) as refused:
        check_dates(date(2026, 1, 2), date(2026, 1, 1))
    assert refused.value.field == "employee.leave_date"


def test_only_active_employees_are_active() -> None:
    assert is_active("ACTIVE")
    assert not is_active(LEFT) and not is_active("SUSPENDED") and not is_active(None)


def test_a_fitting_affiliation_has_no_problem() -> None:
    assert affiliation_problem(FITTING) is None
    assert affiliation_problem(replace(FITTING, team_id=None, team_branch_id=None)) is None


@pytest.mark.parametrize(
    ("facts", "field"),
    [
        (replace(FITTING, branch_exists=False), "employee.branch_id"),
        (replace(FITTING, team_exists=False, team_branch_id=None), "employee.team_id"),
        (replace(FITTING, team_branch_id="bj"), "employee.team_id"),
        (replace(FITTING, manager_id="rep"), "employee.manager_id"),
        (replace(FITTING, manager_exists=False), "employee.manager_id"),
    ],
)
def test_an_affiliation_problem_names_its_field(facts: Affiliation, field: str) -> None:
    assert refused_field(affiliation_problem(facts)) == field


def test_nobody_edits_their_own_entry_and_only_admins_grant_admin() -> None:
    assert edit_refusal("hr", False, "rep", grants_admin=False) is None
    assert edit_refusal("admin", True, "rep", grants_admin=True) is None
    assert edit_refusal("hr", True, "hr", grants_admin=False) is not None
    assert "ADMIN" in (edit_refusal("hr", False, "rep", grants_admin=True) or "")


def test_a_handover_destination_applies_only_to_a_leaver() -> None:
    assert handover_destination(LEFT, "successor_id", to_pool=False) == "successor_id"
    assert handover_destination(LEFT, "to_pool", to_pool=True) == "to_pool"
    # to_pool: false names no destination.
    assert handover_destination("ACTIVE", "to_pool", to_pool=False) is None
    assert handover_destination("ACTIVE", None, to_pool=False) is None
    with pytest.raises(InvalidInput) as refused:
        handover_destination("ACTIVE", "successor_id", to_pool=False)
    assert refused.value.field == "successor_id"


def test_a_new_leaver_needs_a_destination_one_who_left_already_does_not() -> None:
    assert needs_destination(LEFT, destination_named=False, stored_status="ACTIVE")
    assert needs_destination(LEFT, destination_named=False, stored_status=None)
    assert not needs_destination(LEFT, destination_named=True, stored_status="ACTIVE")
    assert not needs_destination(LEFT, destination_named=False, stored_status=LEFT)
    assert not needs_destination("ACTIVE", destination_named=False, stored_status="ACTIVE")
