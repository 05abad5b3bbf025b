"""One execution of an ``alertRaised`` event shared by its subscribers (``SharedAlertEvents``).

A subscription selecting only the alert's own fields (no link, nothing read as the
subscriber) shares one execution per alert, document and language; what each receives
and the re-check before each alert stay per subscriber (schema/alerts_subscription.py).

One that also selects the employees the alert names (``employee``, a decision's ``by``),
with only their own fields, shares one execution per alert, document, language and peer
scope (the principal but for its ID: ``peer_scope``), the
way their records are read once per peer scope; a subscriber the alert names (about them,
or decided by them) executes their own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Mapping
from inspect import isawaitable
from typing import Any, cast

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql import OperationType as GraphQLOperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from salesguard.principal import Principal
from salesguard_gateway.context import GatewayContext
from salesguard_gateway.schema.alerts import Alert

# The fields of an alert (and of its decisions) whose value is the alert's own: the same for
# every subscriber sent it, with no call made as the subscriber and nothing read of the
# caller. Links (employee, customer, order, a decision's by) and detectedOn (the branch's
# time zone, read as the caller) are not: a selection with any of them is executed per
# subscriber.
_SHARED_FIELDS: dict[str, frozenset[str]] = {
    "Alert": frozenset(
        {
            "__typename",
            "id",
            "kind",
            "rule",
            "severity",
            "status",
            "resolution",
            "title",
            "message",
            "detectedAt",
            "evidence",
            "source",
            "note",
            "orderId",
            "updatedAt",
            "history",
        }
    ),
    "AlertDecision": frozenset(
        {"__typename", "status", "resolution", "note", "at", "traceId", "byId"}
    ),
}
_SHARED_NESTED = {("Alert", "history"): "AlertDecision"}
# The employees an alert names, read once per alert and peer scope (alerts_subscription.py),
# and the fields of theirs that come from that read alone (no further call as the caller).
_EMPLOYEE_LINKS = {("Alert", "employee"): "Employee", ("AlertDecision", "by"): "Employee"}
_EMPLOYEE_FIELDS = frozenset(
    {"__typename", "id", "hrId", "name", "roles", "status", "hireDate", "leaveDate", "email"}
)
_NOT_SHARED = object()
# How a selection may be shared: not at all, by every subscriber, or within a peer scope.
_UNSHARED, _ALL, _PEERS = 0, 1, 2


def _shared_selection(
    selection_set: SelectionSetNode, type_name: str, fragments: Mapping[str, FragmentDefinitionNode]
) -> int:
    """_ALL when every field selected (through fragments too) is one of ``_SHARED_FIELDS``;
    _PEERS when the others are employee links with only ``_EMPLOYEE_FIELDS``; else _UNSHARED."""
    allowed = _SHARED_FIELDS.get(type_name, _EMPLOYEE_FIELDS)
    sharing = _ALL
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if selection.arguments:
                return _UNSHARED
            linked = _EMPLOYEE_LINKS.get((type_name, name))
            if linked is not None and selection.selection_set is not None:
                if _shared_selection(selection.selection_set, linked, fragments) == _UNSHARED:
                    return _UNSHARED
                sharing = _PEERS
                continue
            if name not in allowed:
                return _UNSHARED
            if selection.selection_set is not None:
                nested = _SHARED_NESTED.get((type_name, name))
                if nested is None:
                    return _UNSHARED
                inner = _shared_selection(selection.selection_set, nested, fragments)
                if inner == _UNSHARED:
                    return _UNSHARED
                sharing = max(sharing, inner)
        elif isinstance(selection, InlineFragmentNode):
            inner = _shared_selection(selection.selection_set, type_name, fragments)
            if inner == _UNSHARED:
                return _UNSHARED
            sharing = max(sharing, inner)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or getattr(selection, "arguments", None):
                return _UNSHARED
            inner = _shared_selection(fragment.selection_set, type_name, fragments)
            if inner == _UNSHARED:
                return _UNSHARED
            sharing = max(sharing, inner)
        else:
            return _UNSHARED
    return sharing


def _names(alert: Alert, principal: Principal) -> bool:
    """Whether the alert names the subscriber: about them, or decided by them."""
    return alert.employee_id == principal.id or any(
        decision.by_id == principal.id for decision in alert.history
    )


PeerScope = tuple[tuple[str, ...], str | None, str | None, bool]


def peer_scope(principal: Principal) -> PeerScope:
    """All of a principal the policy sees but its ID (``Principal.policy_subject``): for
    anyone but themselves, subscribers of one peer scope read the same."""
    return (principal.roles, principal.team_id, principal.branch_id, principal.hq)


class SharedAlertEvents(StrawberryGraphQLCoreExecutionContext):
    """Executes an alertRaised event once per alert, document, variables and language when
    the subscription selects only the alert's own fields (``_SHARED_FIELDS``), and gives
    every other subscriber sent the same alert that result: what each subscriber receives
    (the services' watch as that subscriber), the re-check before each alert (the leaver
    rule) and the sending stay per subscriber. Mixed into the schema's execution context."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        root = self.root_value
        renders = root.renders if isinstance(root, Alert) else None
        if renders is None or self.operation.operation is not GraphQLOperationType.SUBSCRIPTION:
            return super().execute_operation(serially)
        source = self.operation.loc.source.body if self.operation.loc is not None else None
        if source is None:
            return super().execute_operation(serially)
        assert isinstance(root, Alert)
        context = cast(GatewayContext, self.context_value)
        key: tuple[Any, ...] = (
            source,
            self.operation.name.value if self.operation.name is not None else None,
            json.dumps(self.variable_values, sort_keys=True, default=repr),
            context.language,
        )
        sharing = renders.get(key)
        if sharing is None:
            (root_field,) = self.operation.selection_set.selections
            sharing = (
                _shared_selection(
                    root_field.selection_set,
                    "Alert",
                    {name: details.definition for name, details in self.fragments.items()},
                )
                if isinstance(root_field, FieldNode) and root_field.selection_set is not None
                else _UNSHARED
            )
            renders[key] = sharing
        if sharing == _UNSHARED:
            return super().execute_operation(serially)
        if sharing == _PEERS:
            principal = context.caller.principal
            if _names(root, principal):
                return super().execute_operation(serially)
            key = (*key, peer_scope(principal))
        else:
            key = (*key, None)
        shared = renders.get(key)
        if shared is None:
            result = super().execute_operation(serially)
            if not isawaitable(result):
                # Only the alert's own fields: the result is here, and kept when clean.
                renders[key] = _clean(result)
                return result
            # Links: the others wait for this execution, or run their own if it fails.
            pending: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            renders[key] = pending
            return _sharing(result, pending)
        if isinstance(shared, asyncio.Future):
            if not shared.done():
                return self._after(shared, serially)
            # Already executed (the employee link kept across alerts): no await per subscriber.
            shared = shared.result()
        if shared is _NOT_SHARED:
            return super().execute_operation(serially)
        # A result of its own: extensions add this subscriber's errors to it, never another's.
        return GraphQLExecutionResult(data=shared, errors=None)

    async def _after(self, pending: asyncio.Future[Any], serially: bool | None) -> Any:
        shared = await asyncio.shield(pending)
        if shared is _NOT_SHARED:
            result = super().execute_operation(serially)
            return await result if isawaitable(result) else result
        return GraphQLExecutionResult(data=shared, errors=None)


def _clean(result: Any) -> Any:
    """A result's data to share, or _NOT_SHARED when it has errors (each gets their own)."""
    if isinstance(result, GraphQLExecutionResult) and not result.errors:
        return result.data
    return _NOT_SHARED


async def _sharing(result: Awaitable[Any], pending: asyncio.Future[Any]) -> Any:
    try:
        done = await result
    except BaseException:
        pending.set_result(_NOT_SHARED)
        raise
    pending.set_result(_clean(done))
    return done
