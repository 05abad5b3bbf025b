"""One execution of an ``alertRaised`` event shared by its subscribers (``SharedAlertEvents``).

A subscription selecting only the alert's own fields (no link, nothing read as the
subscriber) shares one execution per alert, document and language; what each receives
and the re-check before each alert stay per subscriber (schema/alerts_subscription.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
_NOT_SHARED = object()


def _shared_selection(
    selection_set: SelectionSetNode, type_name: str, fragments: Mapping[str, FragmentDefinitionNode]
) -> bool:
    """Whether every field selected (through fragments too) is one of ``_SHARED_FIELDS``."""
    allowed = _SHARED_FIELDS[type_name]
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name not in allowed or selection.arguments:
                return False
            if selection.selection_set is not None:
                nested = _SHARED_NESTED.get((type_name, name))
                if nested is None or not _shared_selection(
                    selection.selection_set, nested, fragments
                ):
                    return False
        elif isinstance(selection, InlineFragmentNode):
            if not _shared_selection(selection.selection_set, type_name, fragments):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or getattr(selection, "arguments", None):
                return False
            if not _shared_selection(fragment.selection_set, type_name, fragments):
                return False
        else:
            return False
    return True


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
        context = cast(GatewayContext, self.context_value)
        key = (
            source,
            self.operation.name.value if self.operation.name is not None else None,
            json.dumps(self.variable_values, sort_keys=True, default=repr),
            context.language,
        )
        shared = renders.get(key)
        if shared is None:
            (root_field,) = self.operation.selection_set.selections
            shareable = (
                isinstance(root_field, FieldNode)
                and root_field.selection_set is not None
                and _shared_selection(
                    root_field.selection_set,
                    "Alert",
                    {name: details.definition for name, details in self.fragments.items()},
                )
            )
            if not shareable:
                renders[key] = _NOT_SHARED
                return super().execute_operation(serially)
            result = super().execute_operation(serially)
            # These fields resolve without awaiting: the result is here, and kept when clean.
            if isinstance(result, GraphQLExecutionResult) and not result.errors:
                renders[key] = result.data
            return result
        if shared is _NOT_SHARED:
            return super().execute_operation(serially)
        # A result of its own: extensions add this subscriber's errors to it, never another's.
        return GraphQLExecutionResult(data=shared, errors=None)
