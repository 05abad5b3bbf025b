"""The policy client: one decision per request and resource type, from OPA or regopy.

Both backends evaluate the same Rego files (``policies/``), query
``data.salesguard.authz.decision`` and return the same decision shape. A
service turns the decision's scopes into one SQL filter (:func:`scope_filter`)
and masks each row with the narrowest grant that covers it
(:meth:`Decision.masks_for`). If the engine cannot answer, the request fails
closed with :class:`~salesguard.errors.PolicyUnavailable`.

Grants of the actions that read the case about an employee (alerts, risk,
timelines) also limit rows inside their scope: the alert ``kinds`` they cover,
the employees whose case they leave out (``excluded_subjects``: the caller's
own) and the roles whose holders' cases they leave to superiors
(``hidden_subject_roles``, resolved to employee IDs by the client before the
decision is handed out). :func:`scope_filter` applies them to a table's subject
and kind columns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from salesguard.errors import Forbidden, PolicyUnavailable
from salesguard.principal import Principal

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)
_decisions = metrics.get_meter(__name__).create_counter(
    "salesguard.policy.decisions",
    description="Policy decisions by action and result: allow, deny, or unavailable (no decision)",
)

DECISION_PATH = "salesguard.authz.decision"
THRESHOLDS_PATH = "salesguard.thresholds"


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


class PolicyEngine(Protocol):
    """Evaluates a query path of the loaded policies against an input."""

    async def evaluate(self, path: str, input_document: Mapping[str, Any] | None) -> Any: ...

    async def healthy(self) -> bool:
        """Whether the engine can decide now (readiness)."""
        ...

    async def close(self) -> None: ...


class EmbeddedPolicyEngine:
    """The Rego policies evaluated in-process with regopy (the embedded profile).

    The policies are compiled once into a bundle with the entrypoints services
    query; a query then takes well under a millisecond instead of recompiling.
    """

    ENTRYPOINTS = (DECISION_PATH, THRESHOLDS_PATH)

    def __init__(self, policies_dir: Path) -> None:
        import regopy

        self._regopy = regopy
        self._lock = threading.Lock()
        builder = regopy.Interpreter()
        modules = sorted(
            path for path in policies_dir.rglob("*.rego") if not path.name.endswith("_test.rego")
        )
        if not modules:
            raise FileNotFoundError(f"no Rego policies under {policies_dir.resolve()}")
        for path in modules:
            builder.add_module(str(path.relative_to(policies_dir)), path.read_text())
        builder.add_data_json(json.dumps(_load_data_documents(policies_dir)))
        self._bundle = builder.build(None, [_entrypoint(path) for path in self.ENTRYPOINTS])
        if not self._bundle.ok():
            raise RuntimeError(f"the policies under {policies_dir} do not compile")
        self._interpreter = regopy.Interpreter()

    async def evaluate(self, path: str, input_document: Mapping[str, Any] | None) -> Any:
        if path not in self.ENTRYPOINTS:
            raise ValueError(f"{path} is not an entrypoint of the embedded policies")
        # The interpreter is not thread-safe and a query takes under a millisecond:
        # evaluate under a lock on the event loop's thread rather than hopping threads.
        with self._lock:
            self._interpreter.set_input(self._regopy.Input(input_document or {}))
            output = self._interpreter.query_bundle_entrypoint(self._bundle, _entrypoint(path))
        if not output.ok():
            raise RuntimeError(f"policy evaluation failed: {output}")
        expressions = json.loads(str(output)).get("expressions") or []
        return expressions[0] if expressions else None

    async def healthy(self) -> bool:
        return True  # in-process: it decides whenever the process runs

    async def close(self) -> None:
        return None


def _entrypoint(path: str) -> str:
    return path.replace(".", "/")


def _load_data_documents(policies_dir: Path) -> dict[str, Any]:
    """Merge every data.json under its folder path, as ``opa run`` does."""
    root: dict[str, Any] = {}
    for path in sorted(policies_dir.rglob("data.json")):
        node = root
        for part in path.parent.relative_to(policies_dir).parts:
            node = node.setdefault(part, {})
        node.update(json.loads(path.read_text()))
    return root


class OpaServerPolicyEngine:
    """An OPA server (a sidecar in Kubernetes) reached through opa-python-client."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        from opa_client.opa_async import AsyncOpaClient

        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError(f"SALESGUARD_OPA_URL is not a URL: {url!r}")
        self._client = AsyncOpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8181),
            ssl=parts.scheme == "https",
            timeout=timeout_seconds,
            retries=0,
        )
        self._opened = False
        self._open_lock = asyncio.Lock()

    async def _open(self) -> None:
        if not self._opened:
            async with self._open_lock:
                if not self._opened:
                    await self._client.__aenter__()
                    self._opened = True

    async def evaluate(self, path: str, input_document: Mapping[str, Any] | None) -> Any:
        await self._open()
        package, _, rule = path.rpartition(".")
        response = await self._client.query_rule(
            input_data=dict(input_document or {}), package_path=package, rule_name=rule
        )
        return response.get("result")

    async def healthy(self) -> bool:
        """OPA's own health check: 200 once the server is up with its policies loaded."""
        await self._open()
        return bool(await self._client.check_health())

    async def close(self) -> None:
        if self._opened:
            await self._client.close_connection()
            self._opened = False


class SubjectRoles(Protocol):
    """Who holds a role: resolves the hidden_subject_roles of a decision's grants."""

    async def holders(self, roles: frozenset[str]) -> frozenset[str]:
        """The employees (of any branch and status) holding any of ``roles``."""
        ...


class PolicyClient:
    """Asks the policy engine for decisions; fails closed."""

    def __init__(
        self,
        engine: PolicyEngine,
        *,
        thresholds_ttl_seconds: float = 30.0,
        subject_roles: SubjectRoles | None = None,
    ) -> None:
        self._engine = engine
        self._subject_roles = subject_roles
        self._thresholds: tuple[float, dict[str, Any]] | None = None
        self._thresholds_ttl = thresholds_ttl_seconds

    async def decide(
        self, principal: Principal, action: str, resource: Mapping[str, Any] | None = None
    ) -> Decision:
        policy_input = {
            "subject": principal.policy_subject(),
            "action": action,
            "resource": dict(resource) if resource is not None else None,
        }
        try:
            with _tracer.start_as_current_span(
                "policy.decide", attributes={"policy.action": action}
            ):
                result = await self._evaluate(DECISION_PATH, policy_input)
            if not isinstance(result, Mapping):
                log.error("policy returned no decision", extra={"action": action})
                raise PolicyUnavailable("the policy returned no decision; access is denied")
            decision = await self._resolve_hidden_subjects(Decision.from_result(result))
        except PolicyUnavailable:
            _decisions.add(1, {"action": action, "result": "unavailable"})
            raise
        _decisions.add(1, {"action": action, "result": "allow" if decision.allow else "deny"})
        return decision

    async def ping(self) -> None:
        """Raise :class:`PolicyUnavailable` unless the engine can decide now (readiness)."""
        try:
            healthy = await self._engine.healthy()
        except Exception as exc:
            raise PolicyUnavailable() from exc
        if not healthy:
            raise PolicyUnavailable()

    async def _resolve_hidden_subjects(self, decision: Decision) -> Decision:
        """Hidden subject roles as employee IDs: one directory lookup (cached) per set of
        roles a decision hides. Without a way to look them up, access is denied."""
        hidden = decision.hidden_subject_roles
        if not hidden:
            return decision
        if self._subject_roles is None:
            log.error("a decision hides subject roles but nothing resolves them")
            raise PolicyUnavailable("the policy names roles this service cannot look up")
        return decision.with_hidden_subjects(
            {roles: await self._subject_roles.holders(roles) for roles in hidden}
        )

    async def thresholds(self) -> dict[str, Any]:
        """Thresholds the security team keeps in policy data, cached briefly."""
        now = time.monotonic()
        if self._thresholds is not None and now - self._thresholds[0] < self._thresholds_ttl:
            return self._thresholds[1]
        value = await self._evaluate(THRESHOLDS_PATH, None)
        thresholds = dict(value) if isinstance(value, Mapping) else {}
        self._thresholds = (now, thresholds)
        return thresholds

    async def threshold(self, name: str) -> Mapping[str, Any]:
        """One block of ``thresholds`` (e.g. "fake_deal"); empty when policy data has none,
        so callers fall back to their defaults."""
        block = (await self.thresholds()).get(name)
        return block if isinstance(block, Mapping) else {}

    async def _evaluate(self, path: str, policy_input: Mapping[str, Any] | None) -> Any:
        try:
            return await self._engine.evaluate(path, policy_input)
        except Exception as exc:  # any failure to decide must deny, never allow
            log.warning("policy engine unavailable", extra={"error": repr(exc)})
            raise PolicyUnavailable() from exc

    async def close(self) -> None:
        await self._engine.close()


def policy_client_from_settings(
    opa_url: str | None,
    policies_dir: Path,
    timeout: float,
    *,
    subject_roles: SubjectRoles | None = None,
) -> PolicyClient:
    engine: PolicyEngine = (
        OpaServerPolicyEngine(opa_url, timeout) if opa_url else EmbeddedPolicyEngine(policies_dir)
    )
    return PolicyClient(engine, subject_roles=subject_roles)
