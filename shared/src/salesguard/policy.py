"""The policy client: one decision per request and resource type, from OPA or regopy.

Both backends evaluate the same Rego files (``policies/``), query
``data.salesguard.authz.decision`` and return the same decision shape. A
service turns the decision's scopes into one SQL filter (:func:`scope_filter`)
and masks each row with the narrowest grant that covers it
(:meth:`Decision.masks_for`). If the engine cannot answer, the request fails
closed with :class:`~salesguard.errors.PolicyUnavailable`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from sqlalchemy import ColumnElement, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from salesguard.errors import Forbidden, PolicyUnavailable
from salesguard.principal import Principal

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)
_decisions = metrics.get_meter(__name__).create_counter(
    "salesguard.policy.decisions", description="Policy decisions by action and result"
)

DECISION_PATH = "salesguard.authz.decision"
THRESHOLDS_PATH = "salesguard.authz.thresholds"


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


@dataclass(frozen=True, slots=True)
class Grant:
    scope: Scope
    masked_fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class Decision:
    allow: bool
    grants: tuple[Grant, ...]
    max_rows: int
    requires_approval: bool
    reasons: tuple[str, ...]

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> Decision:
        grants = tuple(
            Grant(
                scope=Scope(
                    kind=ScopeKind(grant["scope"]["kind"]),
                    employee_id=grant["scope"].get("employee_id"),
                    team_id=grant["scope"].get("team_id"),
                    branch_id=grant["scope"].get("branch_id"),
                ),
                masked_fields=frozenset(grant.get("masked_fields", ())),
            )
            for grant in result.get("grants", ())
        )
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
        self, owner_id: str | None, team_id: str | None, branch_id: str | None
    ) -> Grant | None:
        """The narrowest grant covering a row (grants come narrowest first)."""
        for grant in self.grants:
            if grant.scope.covers(owner_id, team_id, branch_id):
                return grant
        return None

    def masks_for(
        self, owner_id: str | None, team_id: str | None, branch_id: str | None
    ) -> frozenset[str] | None:
        """Fields to mask on a row, or None when no grant covers it."""
        grant = self.covering_grant(owner_id, team_id, branch_id)
        return None if grant is None else grant.masked_fields

    def page_size(self, requested: int, *, default: int = 20, ceiling: int = 100) -> int:
        """A page size within both the API ceiling and the policy's max_rows."""
        size = requested or default
        return max(1, min(size, ceiling, self.max_rows or ceiling))


DENY = Decision(allow=False, grants=(), max_rows=0, requires_approval=False, reasons=())


@dataclass(frozen=True, slots=True)
class ScopeColumns:
    """The columns of a table that a scope's kinds filter on."""

    owner: InstrumentedAttribute[Any] | None = None
    team: InstrumentedAttribute[Any] | None = None
    branch: InstrumentedAttribute[Any] | None = None


def scope_filter(decision: Decision, columns: ScopeColumns) -> ColumnElement[bool]:
    """One SQL condition that keeps rows inside the union of the decision's grants."""
    conditions: list[ColumnElement[bool]] = []
    for grant in decision.grants:
        scope = grant.scope
        if scope.kind is ScopeKind.ALL:
            return true()
        if scope.kind is ScopeKind.OWN and columns.owner is not None and scope.employee_id:
            conditions.append(columns.owner == scope.employee_id)
        elif scope.kind is ScopeKind.TEAM and columns.team is not None and scope.team_id:
            conditions.append(columns.team == scope.team_id)
        elif scope.kind is ScopeKind.BRANCH and columns.branch is not None and scope.branch_id:
            conditions.append(columns.branch == scope.branch_id)
    if not conditions:
        return false()
    return or_(*conditions)


class PolicyEngine(Protocol):
    """Evaluates a query path of the loaded policies against an input."""

    async def evaluate(self, path: str, input_document: Mapping[str, Any] | None) -> Any: ...

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

    async def evaluate(self, path: str, input_document: Mapping[str, Any] | None) -> Any:
        if not self._opened:
            async with self._open_lock:
                if not self._opened:
                    await self._client.__aenter__()
                    self._opened = True
        package, _, rule = path.rpartition(".")
        response = await self._client.query_rule(
            input_data=dict(input_document or {}), package_path=package, rule_name=rule
        )
        return response.get("result")

    async def close(self) -> None:
        if self._opened:
            await self._client.close_connection()
            self._opened = False


class PolicyClient:
    """Asks the policy engine for decisions; fails closed."""

    def __init__(self, engine: PolicyEngine, *, thresholds_ttl_seconds: float = 30.0) -> None:
        self._engine = engine
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
        with _tracer.start_as_current_span("policy.decide", attributes={"policy.action": action}):
            result = await self._evaluate(DECISION_PATH, policy_input)
        if not isinstance(result, Mapping):
            log.error("policy returned no decision", extra={"action": action})
            raise PolicyUnavailable("the policy returned no decision; access is denied")
        decision = Decision.from_result(result)
        _decisions.add(1, {"action": action, "allow": decision.allow})
        return decision

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
    opa_url: str | None, policies_dir: Path, timeout: float
) -> PolicyClient:
    engine: PolicyEngine = (
        OpaServerPolicyEngine(opa_url, timeout) if opa_url else EmbeddedPolicyEngine(policies_dir)
    )
    return PolicyClient(engine)
