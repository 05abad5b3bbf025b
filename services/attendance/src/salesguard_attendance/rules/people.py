"""The people directory (A1): branches (with a time zone), teams, employees (roles, team,
branch, manager, status, hire and leave dates), and what a leaver hands over.

- IDs are 1–64 letters, digits, '.', '_' or '-' (:func:`check_id`); a branch's time zone
  is an IANA name; per-branch overrides of the geofence radius and the minimum visit
  length are positive and bounded, 0 meaning the service default.
- A team belongs to a branch; an employee's team is in the employee's branch; nobody is
  their own manager; a leave date is not before the hire date (:func:`affiliation_problem`,
  :func:`check_dates`).
- Nobody edits their own entry, and only an administrator grants ADMIN
  (:func:`edit_refusal`).
- An employee who leaves (status LEFT) hands their customers to a successor or the
  branch pool, unless they had left already; a destination applies only to a leaver
  (:func:`handover_destination`, :func:`needs_destination`).
- Only an ACTIVE employee owns anything new (:func:`is_active`).

Pure: :mod:`salesguard_attendance.directory` gathers the stored rows and writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from salesguard.errors import InvalidInput

ACTIVE = "ACTIVE"
LEFT = "LEFT"
ADMIN = "ADMIN"
# Bounds of the per-branch overrides.
MAX_GEOFENCE_RADIUS_M = 5000.0
MAX_MIN_VISIT_MINUTES = 600.0

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_id(field: str, value: str) -> str:
    if not _ID.match(value):
        raise InvalidInput(field, f"{field} must be 1–64 letters, digits, '.', '_' or '-'")
    return value


def optional_id(field: str, value: str) -> str | None:
    return check_id(field, value) if value else None


def check_time_zone(field: str, name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(field, f"{name!r} is not an IANA time zone") from None
    if name not in available_timezones():
        raise InvalidInput(field, f"{name!r} is not an IANA time zone")
    return name


def optional_override(field: str, value: float, maximum: float) -> float | None:
    """A per-branch override; 0 means "use the service default"."""
    if value == 0:
        return None
    if not 0 < value <= maximum:  # NaN fails too
        raise InvalidInput(field, f"{field} must be between 0 and {maximum:g}")
    return value


def check_dates(hire_date: date | None, leave_date: date | None) -> None:
    if hire_date and leave_date and leave_date < hire_date:
        raise InvalidInput("employee.leave_date", "leave_date is before hire_date")


def is_active(status: str | None) -> bool:
    return status == ACTIVE


def edit_refusal(
    editor_id: str, editor_is_admin: bool, employee_id: str, grants_admin: bool
) -> str | None:
    """Why the editor may not write this entry, whatever the policy allows; None if they may."""
    if employee_id == editor_id:
        # Nobody raises their own privileges or reactivates themselves.
        return "nobody changes their own directory entry; ask HR or an administrator"
    if grants_admin and not editor_is_admin:
        return "only an administrator grants the ADMIN role"
    return None


@dataclass(frozen=True)
class Affiliation:
    """What the directory holds about an employee's new branch, team and manager."""

    employee_id: str
    branch_id: str | None
    branch_exists: bool
    team_id: str | None
    # The branch of the named team; None when no team is named or it does not exist.
    team_branch_id: str | None
    team_exists: bool
    manager_id: str | None
    manager_exists: bool


def affiliation_problem(facts: Affiliation) -> InvalidInput | None:
    """The first thing wrong with the branch, team and manager, or None."""
    if facts.branch_id is not None and not facts.branch_exists:
        return InvalidInput("employee.branch_id", f"branch {facts.branch_id} does not exist")
    if facts.team_id is not None:
        if not facts.team_exists:
            return InvalidInput("employee.team_id", f"team {facts.team_id} does not exist")
        if facts.team_branch_id != facts.branch_id:
            return InvalidInput(
                "employee.team_id",
                f"team {facts.team_id} belongs to branch {facts.team_branch_id}",
            )
    if facts.manager_id is not None:
        if facts.manager_id == facts.employee_id:
            return InvalidInput("employee.manager_id", "an employee is not their own manager")
        if not facts.manager_exists:
            return InvalidInput(
                "employee.manager_id", f"employee {facts.manager_id} does not exist"
            )
    return None


def handover_destination(status: str, destination: str | None, to_pool: bool) -> str | None:
    """Where a leaver's customers go, as named by the request (``successor_id`` or
    ``to_pool``); None when it names none. Naming one for anyone but a leaver is refused."""
    if destination is None or (destination == "to_pool" and not to_pool):
        return None
    if status != LEFT:
        raise InvalidInput(destination, f"{destination} only applies when the status is LEFT")
    return destination


def needs_destination(status: str, destination_named: bool, stored_status: str | None) -> bool:
    """Whether the request lacks the destination a new leaver's customers need."""
    return status == LEFT and not destination_named and stored_status != LEFT
