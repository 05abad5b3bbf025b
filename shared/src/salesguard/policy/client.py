"""The policy client: asks an engine for one decision per request, and fails closed.

At most ``max_concurrent`` engine calls are in flight at once per client (process); more
wait their turn here, first come first served. A burst (a thousand subscribers opening
their watches at once, each a principal of their own, so none shares a kept decision)
then reaches OPA as a bounded number of queries, each answered in milliseconds, instead of
all at once: queued inside the HTTP client, the wait counted against each query's timeout
and the burst timed out as a whole (measured: 1,731 of 3,000 decided). The timeout still
bounds each query from the moment it is sent; a decision that cannot even be sent within
``queue_seconds`` is refused (PolicyUnavailable), as is every query an engine that is down
fails: the client still fails closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from opentelemetry import metrics, trace

from salesguard.errors import PolicyUnavailable
from salesguard.policy.decision import Decision
from salesguard.policy.engines import (
    DECISION_PATH,
    THRESHOLDS_PATH,
    EmbeddedPolicyEngine,
    OpaServerPolicyEngine,
    PolicyEngine,
)
from salesguard.principal import Principal

log = logging.getLogger(__name__)
# Named after the package (not this module), as before the split: dashboards select on it.
_tracer = trace.get_tracer("salesguard.policy")
_decisions = metrics.get_meter("salesguard.policy").create_counter(
    "salesguard.policy.decisions",
    description="Policy decisions by action and result: allow, deny, or unavailable (no decision)",
)


class SubjectRoles(Protocol):
    """Who holds a role: resolves the hidden_subject_roles of a decision's grants."""

    async def holders(self, roles: frozenset[str]) -> frozenset[str]:
        """The employees (of any branch and status) holding any of ``roles``."""
        ...


_DecisionKey = tuple[Principal, str, str | None]

# Engine calls in flight at once per client: enough to keep OPA's cores busy (a decision
# takes it about a millisecond), well inside the HTTP client's 100 pooled connections.
MAX_CONCURRENT_EVALUATIONS = 16
# How long a decision may wait for its turn before it is refused (fails closed).
QUEUE_SECONDS = 10.0


class DecisionCache:
    """The engine's decisions kept for a few seconds, keyed by the whole policy input.

    A decision is a function of its input and the loaded policy (the rules read no clock
    and call out to nothing), so the same input gets the same answer until the security
    team loads a new policy; that takes effect within ``ttl_seconds``. Everything the
    gateway resolves per request is in the key (the principal's roles, team, branch), so
    a role change or a transfer is a different input and is decided afresh. Callers
    asking the same input at once share one engine call. Failures are never kept.
    Bounded: the oldest entries go first."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._entries: OrderedDict[_DecisionKey, tuple[float, Decision]] = OrderedDict()
        self._pending: dict[_DecisionKey, asyncio.Task[Decision]] = {}

    @staticmethod
    def key(
        principal: Principal, action: str, resource: Mapping[str, Any] | None
    ) -> _DecisionKey | None:
        """None when the resource cannot be keyed (it is then decided every time)."""
        if resource is None:
            return (principal, action, None)
        try:
            canonical = json.dumps(dict(resource), sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return None
        return (principal, action, canonical)

    async def get(self, key: _DecisionKey, decide: Callable[[], Awaitable[Decision]]) -> Decision:
        """The kept decision for ``key``, else ``decide()``'s, kept. A caller cancelled
        while waiting leaves the shared call running for the others."""
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry[0] < self._ttl:
            return entry[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = asyncio.ensure_future(decide())
            pending.add_done_callback(partial(self._settle, key))
        return await asyncio.shield(pending)

    def _settle(self, key: _DecisionKey, done: asyncio.Task[Decision]) -> None:
        del self._pending[key]
        if done.cancelled() or done.exception() is not None:
            return
        self._entries[key] = (time.monotonic(), done.result())
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class PolicyClient:
    """Asks the policy engine for decisions; fails closed."""

    def __init__(
        self,
        engine: PolicyEngine,
        *,
        thresholds_ttl_seconds: float = 30.0,
        decision_ttl_seconds: float = 0.0,
        subject_roles: SubjectRoles | None = None,
        max_concurrent: int = MAX_CONCURRENT_EVALUATIONS,
        queue_seconds: float = QUEUE_SECONDS,
    ) -> None:
        self._engine = engine
        self._slots = asyncio.Semaphore(max_concurrent)
        self._queue_seconds = queue_seconds
        self._subject_roles = subject_roles
        self._thresholds: tuple[float, dict[str, Any]] | None = None
        self._thresholds_ttl = thresholds_ttl_seconds
        self._decisions = DecisionCache(decision_ttl_seconds) if decision_ttl_seconds > 0 else None

    async def decide(
        self, principal: Principal, action: str, resource: Mapping[str, Any] | None = None
    ) -> Decision:
        ask = partial(self._engine_decision, principal, action, resource)
        key = self._decisions.key(principal, action, resource) if self._decisions else None
        try:
            if self._decisions is not None and key is not None:
                policy_decision = await self._decisions.get(key, ask)
            else:
                policy_decision = await ask()
            # Hidden subjects follow the directory (its own cache), not the policy's.
            decision = await self._resolve_hidden_subjects(policy_decision)
        except PolicyUnavailable:
            _decisions.add(1, {"action": action, "result": "unavailable"})
            raise
        _decisions.add(1, {"action": action, "result": "allow" if decision.allow else "deny"})
        return decision

    async def _engine_decision(
        self, principal: Principal, action: str, resource: Mapping[str, Any] | None
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
        return Decision.from_result(result)

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
        if self._slots.locked():  # else a slot is free: taken at once, no timer needed
            try:
                async with asyncio.timeout(self._queue_seconds):
                    await self._slots.acquire()
            except TimeoutError:
                log.warning("policy engine busy: no turn within %.1f s", self._queue_seconds)
                raise PolicyUnavailable() from None
        else:
            await self._slots.acquire()
        try:
            return await self._engine.evaluate(path, policy_input)
        except Exception as exc:  # any failure to decide must deny, never allow
            log.warning("policy engine unavailable: %r", exc, extra={"error": repr(exc)})
            raise PolicyUnavailable() from exc
        finally:
            self._slots.release()

    async def close(self) -> None:
        await self._engine.close()


def policy_client_from_settings(
    opa_url: str | None,
    policies_dir: Path,
    timeout: float,
    *,
    decision_ttl_seconds: float = 0.0,
    subject_roles: SubjectRoles | None = None,
) -> PolicyClient:
    engine: PolicyEngine = (
        OpaServerPolicyEngine(opa_url, timeout) if opa_url else EmbeddedPolicyEngine(policies_dir)
    )
    return PolicyClient(
        engine, decision_ttl_seconds=decision_ttl_seconds, subject_roles=subject_roles
    )
