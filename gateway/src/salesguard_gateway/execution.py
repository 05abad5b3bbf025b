"""A faster path through graphql-core for plain leaf fields.

graphql-core spends ~3 µs on every field (resolve info, middleware lookup,
awaitable checks, generic completion) even when the field only reads an
attribute and coerces a scalar — which is 9 fields in 10 of a customer page.
For fields strawberry itself resolves with plain ``getattr`` (no resolver, no
extension, no permission) whose type is a scalar or enum, or a list of them,
this executor reads the attribute and coerces it directly. Anything unusual
(null in a non-null field, a value that does not coerce, a non-list iterable,
middleware installed) falls back to graphql-core's own path, which then
produces exactly its usual value or error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import strawberry
from graphql import (
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.base import StrawberryObjectDefinition


class _NotFast(Exception):
    """The value needs graphql-core's general completion (and maybe its error)."""


@dataclass(frozen=True, slots=True)
class _Leaf:
    python_name: str
    coerce: Callable[[Any], Any]
    non_null: bool
    is_list: bool
    item_non_null: bool

    def complete(self, value: Any) -> Any:
        if value is None:
            if self.non_null:
                raise _NotFast
            return None
        if not self.is_list:
            return self._coerce(value)
        if not isinstance(value, list | tuple):
            raise _NotFast
        coerce = self._coerce
        item_non_null = self.item_non_null
        items: list[Any] = []
        for item in value:
            if item is None:
                if item_non_null:
                    raise _NotFast
                items.append(None)
            else:
                items.append(coerce(item))
        return items

    def _coerce(self, value: Any) -> Any:
        if isinstance(value, Exception):
            raise _NotFast
        coerced = self.coerce(value)
        if coerced is None or coerced is Undefined:
            raise _NotFast
        return coerced


def _leaf(field_type: GraphQLOutputType, python_name: str) -> _Leaf | None:
    non_null = isinstance(field_type, GraphQLNonNull)
    inner = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    is_list = isinstance(inner, GraphQLList)
    item_non_null = False
    if isinstance(inner, GraphQLList):
        inner = inner.of_type
        item_non_null = isinstance(inner, GraphQLNonNull)
        if isinstance(inner, GraphQLNonNull):
            inner = inner.of_type
    if not is_leaf_type(inner):
        return None
    leaf_type: GraphQLLeafType = inner
    return _Leaf(python_name, leaf_type.coerce_output_value, non_null, is_list, item_non_null)


LeafPlans = dict[str, dict[str, _Leaf]]


def leaf_plans(schema: strawberry.Schema) -> LeafPlans:
    """Per object type and field name: the fields safe for the fast path."""
    if schema.config.default_resolver is not getattr:
        return {}
    plans: LeafPlans = {}
    for concrete in schema.schema_converter.type_map.values():
        definition = concrete.definition
        implementation = concrete.implementation
        if not isinstance(definition, StrawberryObjectDefinition) or not isinstance(
            implementation, GraphQLObjectType
        ):
            continue
        fields: dict[str, _Leaf] = {}
        for field in definition.fields:
            if not field.is_basic_field or field.permission_classes:
                continue
            name = schema.config.name_converter.get_graphql_name(field)
            graphql_field = implementation.fields.get(name)
            # Strawberry marks the plain-getattr resolvers it generates as default.
            if graphql_field is None or not getattr(graphql_field.resolve, "_is_default", False):
                continue
            leaf = _leaf(graphql_field.type, field.python_name)
            if leaf is not None:
                fields[name] = leaf
        if fields:
            plans[implementation.name] = fields
    return plans


class FastLeafExecutionContext(StrawberryGraphQLCoreExecutionContext):
    plans: ClassVar[LeafPlans] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._plans = {} if manager is not None and manager.middlewares else self.plans

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: dict[str, Any],
        position_context: Any,
    ) -> Any:
        fields = self._plans.get(parent_type.name)
        if fields is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        others: dict[str, Any] = {}
        for response_name, field_details_list in grouped_field_set.items():
            leaf = fields.get(field_details_list[0].node.name.value)
            if leaf is not None:
                try:
                    results[response_name] = leaf.complete(getattr(source_value, leaf.python_name))
                    continue
                except Exception:  # noqa: S110 - redone by graphql-core, which reports it
                    pass
            others[response_name] = field_details_list
            results[response_name] = _PENDING  # keeps the response in query order
        if not others:
            return results
        completed = super().execute_fields(
            parent_type, source_value, path, others, position_context
        )
        if self.is_awaitable(completed):

            async def merge() -> dict[str, Any]:
                return _merged(results, await completed)

            return merge()
        return _merged(results, cast(dict[str, Any], completed))


_PENDING = object()


def _merged(results: dict[str, Any], completed: dict[str, Any]) -> dict[str, Any]:
    results.update(completed)
    # graphql-core leaves out fields it does not know; so do we.
    for name in [name for name, value in results.items() if value is _PENDING]:
        del results[name]
    return results


def fast_execution_context(schema: strawberry.Schema) -> None:
    """Switch ``schema`` to the fast leaf path (call once, after building it)."""
    executor = type(
        "SchemaFastLeafExecutionContext",
        (FastLeafExecutionContext,),
        {"plans": leaf_plans(schema)},
    )
    schema.execution_context_class = executor
