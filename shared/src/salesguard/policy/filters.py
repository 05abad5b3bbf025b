"""A decision as one SQL condition over a table's scope columns (OPA's "search" half)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from salesguard.policy.decision import Decision, Grant, Scope, ScopeKind


@dataclass(frozen=True, slots=True)
class ScopeColumns:
    """The columns of a table that a scope's kinds (and a grant's row limits) filter on."""

    owner: InstrumentedAttribute[Any] | None = None
    team: InstrumentedAttribute[Any] | None = None
    branch: InstrumentedAttribute[Any] | None = None
    # The employee a row is about, and its alert kind: a grant that limits either
    # covers nothing on a table without the column.
    subject: InstrumentedAttribute[Any] | None = None
    kind: InstrumentedAttribute[Any] | None = None


def scope_filter(decision: Decision, columns: ScopeColumns) -> ColumnElement[bool]:
    """One SQL condition that keeps rows inside the union of the decision's grants."""
    conditions: list[ColumnElement[bool]] = []
    for grant in decision.grants:
        in_scope = _scope_condition(grant.scope, columns)
        limits = _row_limits(grant, columns)
        if in_scope is None or limits is None:
            continue
        conditions.append(and_(in_scope, *limits) if limits else in_scope)
    if not conditions:
        return false()
    return or_(*conditions)


def _scope_condition(scope: Scope, columns: ScopeColumns) -> ColumnElement[bool] | None:
    """The rows of the scope, or None when the table has no column for its kind."""
    if scope.kind is ScopeKind.ALL:
        return true()
    column, value = {
        ScopeKind.OWN: (columns.owner, scope.employee_id),
        ScopeKind.TEAM: (columns.team, scope.team_id),
        ScopeKind.BRANCH: (columns.branch, scope.branch_id),
    }[scope.kind]
    if column is None or not value:
        return None
    condition: ColumnElement[bool] = column == value
    return condition


def _row_limits(grant: Grant, columns: ScopeColumns) -> list[ColumnElement[bool]] | None:
    """The grant's row limits as conditions, or None when the table cannot apply them."""
    limits: list[ColumnElement[bool]] = []
    if grant.kinds is not None:
        if columns.kind is None:
            return None
        limits.append(columns.kind.in_(sorted(grant.kinds)))
    outside = grant.outside_subjects
    if outside:
        if columns.subject is None:
            return None
        # Rows about nobody stay inside the scope.
        limits.append(or_(columns.subject.is_(None), columns.subject.not_in(sorted(outside))))
    return limits
