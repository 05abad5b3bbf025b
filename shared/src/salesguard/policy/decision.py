"""A policy decision: whether an action is allowed, and the grants (scopes, masks, row
limits) it is allowed under. Plain data, built from the engine's answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from salesguard.errors import Forbidden


class ScopeKind(StrEnum):
    OWN = "own"
    TEAM = "team"
    BRANCH = "branch"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    employee_id: str | None = None
    team_id: str | None = None
    branch_id: str | None = None

    def covers(self, owner_id: str | None, team_id: str | None, branch_id: str | None) -> bool:
        match self.kind:
            case ScopeKind.ALL:
                return True
            case ScopeKind.OWN:
                return owner_id is not None and owner_id == self.employee_id
            case ScopeKind.TEAM:
                return team_id is not None and team_id == self.team_id
            case ScopeKind.BRANCH:
                return branch_id is not None and branch_id == self.branch_id
        return False


# Why a request for one employee's case is refused although the action is allowed.
OWN_CASE = "OWN_CASE"
CASE_FOR_SUPERIORS = "CASE_FOR_SUPERIORS"


@dataclass(frozen=True, slots=True)
class Grant:
    scope: Scope
    masked_fields: frozenset[str]
    # Row limits inside the scope (see the module docstring); the defaults limit nothing.
    kinds: frozenset[str] | None = None  # the only alert kinds covered; None: every kind
    excluded_subjects: frozenset[str] = frozenset()
    hidden_subject_roles: frozenset[str] = frozenset()
    # The employees holding hidden_subject_roles; None until the policy client resolves them.
    hidden_subjects: frozenset[str] | None = frozenset()

    @classmethod
    def from_result(cls, grant: Mapping[str, Any]) -> Grant:
        scope = grant["scope"]
        kinds = grant.get("kinds")
        hidden_roles = frozenset(grant.get("hidden_subject_roles", ()))
        return cls(
            scope=Scope(
                kind=ScopeKind(scope["kind"]),
                employee_id=scope.get("employee_id"),
                team_id=scope.get("team_id"),
                branch_id=scope.get("branch_id"),
            ),
            masked_fields=frozenset(grant.get("masked_fields", ())),
            kinds=None if kinds is None else frozenset(kinds),
            excluded_subjects=frozenset(grant.get("excluded_subjects", ())),
            hidden_subject_roles=hidden_roles,
            hidden_subjects=None if hidden_roles else frozenset(),
        )

    @property
    def outside_subjects(self) -> frozenset[str]:
        """The employees whose case this grant leaves out."""
        if self.hidden_subjects is None:
            raise RuntimeError("the grant's hidden subject roles were never resolved")
        return self.excluded_subjects | self.hidden_subjects

    def admits(self, subject: str | None, kind: str | None) -> bool:
        """Whether the grant's row limits let a row about ``subject`` of ``kind`` through
        (its scope aside); a row of no known kind passes only a grant of every kind."""
        if self.kinds is not None and (kind is None or kind not in self.kinds):
            return False
        return not subject or subject not in self.outside_subjects


@dataclass(frozen=True, slots=True)
class Decision:
    allow: bool
    grants: tuple[Grant, ...]
    max_rows: int
    requires_approval: bool
    reasons: tuple[str, ...]

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> Decision:
        grants = tuple(Grant.from_result(grant) for grant in result.get("grants", ()))
        return cls(
            allow=bool(result.get("allow", False)),
            grants=grants,
            max_rows=int(result.get("max_rows", 0)),
            requires_approval=bool(result.get("requires_approval", False)),
            reasons=tuple(result.get("reasons", ())),
        )

    def require(self, action: str) -> Decision:
        """This decision, or Forbidden naming the action and the policy's reasons."""
        if not self.allow:
            reasons = ", ".join(self.reasons) or "not permitted"
            raise Forbidden(
                f"{action} is not permitted ({reasons})",
                details={"action": action, "reasons": ",".join(self.reasons)},
            )
        return self

    def covering_grant(
        self,
        owner_id: str | None,
        team_id: str | None,
        branch_id: str | None,
        *,
        subject: str | None = None,
        kind: str | None = None,
    ) -> Grant | None:
        """The narrowest grant covering a row (grants come narrowest first); ``subject``
        and ``kind`` are the employee a row is about and its alert kind, where grants
        limit them."""
        for grant in self.grants:
            if grant.scope.covers(owner_id, team_id, branch_id) and grant.admits(subject, kind):
                return grant
        return None

    @property
    def hidden_subject_roles(self) -> frozenset[frozenset[str]]:
        """The distinct sets of roles the grants hide (usually none, or one)."""
        return frozenset(grant.hidden_subject_roles for grant in self.grants) - {frozenset()}

    def with_hidden_subjects(self, holders: Mapping[frozenset[str], frozenset[str]]) -> Decision:
        """The decision with every grant's hidden subject roles resolved: ``holders`` maps
        each set of :attr:`hidden_subject_roles` to the employees holding any of them."""
        return replace(
            self,
            grants=tuple(
                replace(
                    grant,
                    hidden_subjects=holders[grant.hidden_subject_roles]
                    if grant.hidden_subject_roles
                    else frozenset(),
                )
                for grant in self.grants
            ),
        )

    def about(self, employee_id: str) -> Decision:
        """The decision for rows that are all about one employee (their timeline, their
        risk): the grants that may read that employee's case, without the limits on whom
        the rows are about. Forbidden when no grant may: nobody reads their own case, and
        a case some grant hides is for the superiors the policy names."""
        grants = tuple(
            replace(
                grant,
                excluded_subjects=frozenset(),
                hidden_subject_roles=frozenset(),
                hidden_subjects=frozenset(),
            )
            for grant in self.grants
            if employee_id not in grant.outside_subjects
        )
        if grants or not self.grants:
            return replace(self, grants=grants)
        if any(employee_id in grant.excluded_subjects for grant in self.grants):
            raise Forbidden(
                "nobody reads the alerts, risk or timeline about themselves",
                details={"reason": OWN_CASE},
            )
        raise Forbidden(
            f"the case about {employee_id} is for HR and headquarters",
            details={"reason": CASE_FOR_SUPERIORS},
        )

    def masks_for(
        self, owner_id: str | None, team_id: str | None, branch_id: str | None
    ) -> frozenset[str] | None:
        """Fields to mask on a row, or None when no grant covers it."""
        grant = self.covering_grant(owner_id, team_id, branch_id)
        return None if grant is None else grant.masked_fields

    def page_size(self, size: int) -> int:
        """A page size (``validation.page_size``: within the settings' limit) within the
        policy's max_rows too."""
        return max(1, min(size, self.max_rows or size))


DENY = Decision(allow=False, grants=(), max_rows=0, requires_approval=False, reasons=())
