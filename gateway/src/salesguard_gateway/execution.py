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

Plain fields holding an object, or a list of objects (a connection's ``edges``, an
edge's ``node``), go the same way: their sub-selection is executed directly, without
graphql-core's per-value completion (resolve info, type checks, path bookkeeping) —
~1.5 µs of it per edge and node. The checks that could refuse a value (null in a
non-null place, not a list, ``is_type_of``) run before anything below is executed, so
falling back never runs a resolver twice; errors below are handled exactly as
graphql-core's completion handles them.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial
from operator import attrgetter
from typing import Any, ClassVar, NamedTuple, cast

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path, Undefined, gather_with_cancel
from graphql.type.scalars import serialize_id, serialize_string
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.cast import get_strawberry_type_cast
from strawberry.types.execution import ExecutionContext
from strawberry.types.field import StrawberryField


class _NotFast(Exception):
    """The value needs graphql-core's general completion (and maybe its error)."""


def _list_of(value: Any, item_non_null: bool, complete: Callable[[Any], Any]) -> list[Any]:
    """A list field's value with each item ``complete``d, as graphql-core completes a list:
    not a list, or a null where the items are non-null, is for graphql-core to answer."""
    if not isinstance(value, list | tuple):
        raise _NotFast
    items: list[Any] = []
    for item in value:
        if item is None:
            if item_non_null:
                raise _NotFast
            items.append(None)
        else:
            items.append(complete(item))
    return items


@dataclass(frozen=True, slots=True)
class _Leaf:
    python_name: str
    coerce: Callable[[Any], Any]
    non_null: bool
    is_list: bool
    item_non_null: bool
    # String and ID answer a str as it is: such a value needs no call to coerce.
    str_as_is: bool = False

    def complete(self, value: Any) -> Any:
        if value is None:
            if self.non_null:
                raise _NotFast
            return None
        if not self.is_list:
            return self._coerce(value)
        return _list_of(value, self.item_non_null, self._coerce)

    def _coerce(self, value: Any) -> Any:
        if isinstance(value, Exception):
            raise _NotFast
        coerced = self.coerce(value)
        if coerced is None or coerced is Undefined:
            raise _NotFast
        return coerced


def _completion(leaf: _Leaf) -> Callable[[Any], Any]:
    """``leaf.complete`` as one call for a value that is no list: what rows call per value."""
    if leaf.is_list:
        return leaf.complete
    coerce = leaf.coerce
    non_null = leaf.non_null

    def complete(value: Any) -> Any:
        if value is None:
            if non_null:
                raise _NotFast
            return None
        if isinstance(value, Exception):
            raise _NotFast
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise _NotFast
        return coerced

    return complete


def _leaf(field_type: GraphQLOutputType, python_name: str) -> _Leaf | None:
    inner, item_type, non_null, item_non_null = _unwrapped(field_type)
    is_list = item_type is not None
    if not is_leaf_type(inner):
        return None
    leaf_type: GraphQLLeafType = inner
    coerce = _enum_names(leaf_type) or leaf_type.coerce_output_value
    str_as_is = not is_list and coerce in (serialize_string, serialize_id)
    return _Leaf(python_name, coerce, non_null, is_list, item_non_null, str_as_is)


def _enum_names(leaf_type: GraphQLLeafType) -> Callable[[Any], Any] | None:
    """A strawberry enum's output coercion as a lookup of its members' names. Strawberry's
    own compares the value with each of the enum's values in turn (a tenth of the
    gateway's CPU on a page of customers); a value that is not a member gives None here,
    which sends it to graphql-core's path and its usual answer or error."""
    wrapped = getattr(leaf_type, "wrapped_cls", None)
    if not isinstance(leaf_type, GraphQLEnumType) or not isinstance(wrapped, type(Enum)):
        return None
    names: dict[Any, str] = {}
    for member in cast(Any, wrapped):
        for name, value in leaf_type.values.items():
            if member.value == value.value:
                names[member] = name
                break

    def coerce(value: Any) -> str | None:
        try:
            return names.get(value)
        except TypeError:  # unhashable: not a member
            return None

    return coerce


# What strawberry's generated is_type_of receives here: it does not look at it.
_NO_INFO = cast(Any, None)


@dataclass(frozen=True, slots=True)
class _Object:
    """A plain field holding an object (or a list of them) of one concrete type."""

    python_name: str
    object_type: GraphQLObjectType
    # The field's type, and a list's item type, as graphql-core handles their errors.
    return_type: GraphQLOutputType
    item_type: GraphQLOutputType | None
    non_null: bool
    item_non_null: bool

    def admits(self, value: Any) -> bool:
        """Whether graphql-core's completion would take ``value`` without an error of its own."""
        if value is None:
            return not self.non_null
        check = self.object_type.is_type_of
        if self.item_type is None:
            return check is None or check(value, _NO_INFO) is True
        if not isinstance(value, list | tuple):
            return False
        for item in value:
            if item is None:
                if self.item_non_null:
                    return False
            elif check is not None and check(item, _NO_INFO) is not True:
                return False
        return True


def _unwrapped(
    field_type: GraphQLOutputType,
) -> tuple[GraphQLOutputType, GraphQLOutputType | None, bool, bool]:
    """A field's type without its wrappers: the named type, the list's item type (None:
    no list), whether the field is non-null, and whether the list's items are."""
    non_null = isinstance(field_type, GraphQLNonNull)
    inner = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    item_type: GraphQLOutputType | None = None
    item_non_null = False
    if isinstance(inner, GraphQLList):
        item_type = inner.of_type
        item_non_null = isinstance(item_type, GraphQLNonNull)
        inner = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
    return inner, item_type, non_null, item_non_null


def _object(
    field_type: GraphQLOutputType, python_name: str, types_checked: set[str]
) -> _Object | None:
    inner, item_type, non_null, item_non_null = _unwrapped(field_type)
    # Only types whose is_type_of (if any) strawberry generated, which ignores its info.
    if not isinstance(inner, GraphQLObjectType) or inner.name not in types_checked:
        return None
    return _Object(python_name, inner, field_type, item_type, non_null, item_non_null)


@dataclass(frozen=True, slots=True)
class _Abstract:
    """A plain field holding a value (or a list of them) of an interface strawberry
    resolves itself (no ``resolve_type`` of its own): per value, the concrete type
    graphql-core would complete it as, when the value's class is one the interface's
    resolver answers by the class's own definition (``concrete``: class -> object type).

    Strawberry's resolver answers a value that is not cast (``strawberry.cast``) and is an
    instance of the interface by its class's definition's name (not generic); graphql-core
    then completes it as the schema's type of that name, a possible type of the interface,
    after that type's ``is_type_of``. A value of any other class, a cast one, or one that
    is_type_of refuses, goes to graphql-core's completion (:func:`_abstract_rows`)."""

    python_name: str
    abstract_type: GraphQLInterfaceType
    return_type: GraphQLOutputType
    item_type: GraphQLOutputType | None
    non_null: bool
    item_non_null: bool
    concrete: dict[type, GraphQLObjectType]


def _abstract(
    field_type: GraphQLOutputType, python_name: str, concrete: dict[str, dict[type, Any]]
) -> _Abstract | None:
    inner, item_type, non_null, item_non_null = _unwrapped(field_type)
    if not isinstance(inner, GraphQLInterfaceType) or inner.name not in concrete:
        return None
    return _Abstract(
        python_name, inner, field_type, item_type, non_null, item_non_null, concrete[inner.name]
    )


def _interface_types(
    schema: strawberry.Schema, types_checked: set[str]
) -> dict[str, dict[type, GraphQLObjectType]]:
    """Per interface strawberry resolves itself: the classes its resolver answers by their
    own definition, each with the object type graphql-core completes its values as (only
    types whose is_type_of, if any, strawberry generated)."""
    converter = schema.schema_converter
    graphql_schema = schema._schema
    interfaces: dict[str, dict[type, GraphQLObjectType]] = {}
    for concrete in converter.type_map.values():
        definition = concrete.definition
        implementation = concrete.implementation
        if (
            isinstance(implementation, GraphQLInterfaceType)
            and isinstance(definition, StrawberryObjectDefinition)
            and definition.is_interface
            and definition.resolve_type is None
        ):
            interfaces[implementation.name] = {}
    for concrete in converter.type_map.values():
        definition = concrete.definition
        implementation = concrete.implementation
        if (
            not isinstance(definition, StrawberryObjectDefinition)
            or not isinstance(implementation, GraphQLObjectType)
            or definition.is_interface
            or definition.is_graphql_generic
            or implementation.name not in types_checked
            # What strawberry's resolver answers for the class: its definition's name.
            or graphql_schema.get_type(definition.name) is not implementation
            or getattr(definition.origin, "__strawberry_definition__", None) is not definition
        ):
            continue
        for interface in implementation.interfaces:
            abstract = interfaces.get(interface.name)
            interface_definition = converter.type_map[interface.name].definition
            if (
                abstract is not None
                and isinstance(interface_definition, StrawberryObjectDefinition)
                and issubclass(definition.origin, interface_definition.origin)
                and graphql_schema.is_sub_type(interface, implementation)
            ):
                abstract[definition.origin] = implementation
    return {name: classes for name, classes in interfaces.items() if classes}


@dataclass(frozen=True, slots=True)
class _Computed:
    """A leaf computed by a resolver of ``self`` alone (a node's global ``id``): called
    directly, without resolve info. Such a resolver is a pure function of its object, so
    when it raises, graphql-core calls it again and reports the error as usual."""

    function: Callable[[Any], Any]
    leaf: _Leaf


def _computed(
    field: StrawberryField, leaf: _Leaf | None, schema: strawberry.Schema
) -> _Computed | None:
    resolver = field.base_resolver
    if (
        leaf is None
        or resolver is None
        or resolver.is_async
        or field.extensions
        or field.permission_classes
        or field.arguments
        or resolver.self_parameter is None
        or len(resolver.signature.parameters) != 1
        or schema.schema_converter._get_field_exception_handlers(field)
    ):
        return None
    function = resolver.wrapped_func
    if isinstance(function, staticmethod | classmethod):
        return None
    return _Computed(function, leaf)


LeafPlans = dict[str, dict[str, _Leaf | _Object | _Computed | _Abstract]]

# How execute_fields takes a field: its plan's kind (graphql-core's own path: _OTHER).
_LEAF, _COMPUTED, _OBJECT, _OTHER = "leaf", "computed", "object", "other"
# An abstract field (its plan an _Abstract, its sub-selection per concrete type): only in
# rows; field by field, graphql-core completes it.
_ABSTRACT = "abstract"
# response name, field details, kind, plan, and an object field's sub-selection (an
# abstract field's: per class, its object type and sub-selection).
_Step = tuple[str, FieldDetailsList, str, Any, dict[Any, Any] | None]


def leaf_plans(schema: strawberry.Schema) -> LeafPlans:
    """Per object type and field name: the fields safe for the fast path."""
    if schema.config.default_resolver is not getattr:
        return {}
    plans: LeafPlans = {}
    types_checked = {
        concrete.implementation.name
        for concrete in schema.schema_converter.type_map.values()
        if isinstance(concrete.definition, StrawberryObjectDefinition)
        and isinstance(concrete.implementation, GraphQLObjectType)
        and concrete.definition.is_type_of is None
    }
    interfaces = _interface_types(schema, types_checked)
    for concrete in schema.schema_converter.type_map.values():
        definition = concrete.definition
        implementation = concrete.implementation
        if not isinstance(definition, StrawberryObjectDefinition) or not isinstance(
            implementation, GraphQLObjectType
        ):
            continue
        fields: dict[str, _Leaf | _Object | _Computed | _Abstract] = {}
        for field in definition.fields:
            name = schema.config.name_converter.get_graphql_name(field)
            graphql_field = implementation.fields.get(name)
            if graphql_field is not None and field.base_resolver is not None:
                computed = _computed(field, _leaf(graphql_field.type, field.python_name), schema)
                if computed is not None:
                    fields[name] = computed
                continue
            if not field.is_basic_field or field.permission_classes:
                continue
            # Strawberry marks the plain-getattr resolvers it generates as default.
            if graphql_field is None or not getattr(graphql_field.resolve, "_is_default", False):
                continue
            plan = (
                _leaf(graphql_field.type, field.python_name)
                or _object(graphql_field.type, field.python_name, types_checked)
                or _abstract(graphql_field.type, field.python_name, interfaces)
            )
            if plan is not None:
                fields[name] = plan
        if fields:
            plans[implementation.name] = fields
    return plans


# Steps and rows worked out for one operation, kept for the next requests of the same
# parsed operation (bounded; emptied when full).
MAX_SHARED_STEPS = 1024
_Compiled = tuple[Any, list[_Step] | None, "_Row | None"]


class FastLeafExecutionContext(StrawberryGraphQLCoreExecutionContext):
    plans: ClassVar[LeafPlans] = {}
    shared: ClassVar[dict[tuple[Any, ...], _Compiled]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._plans = {} if manager is not None and manager.middlewares else self.plans
        self._compiled: dict[tuple[str, int], _Compiled] = {}
        # The same parsed operation (the parser's cache answers the same nodes for the same
        # text) collects the same fields on every request unless a directive (@skip,
        # @include, @defer) makes them depend on variables: without one in the text, its
        # steps are worked out once and kept.
        loc = self.operation.loc
        self._shared = (
            self.shared
            if self._plans is self.plans and loc is not None and "@" not in loc.source.body
            else None
        )

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: dict[str, Any],
        position_context: Any,
    ) -> Any:
        steps, row = self._steps(parent_type, grouped_field_set)
        if row is not None:
            try:
                return row(source_value)
            except Exception:  # noqa: S110 - redone field by field below, errors reported there
                pass
        if steps is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        others: dict[str, Any] = {}
        awaited: list[str] = []
        try:
            for response_name, field_details_list, kind, plan, grouped in steps:
                if kind is _LEAF:
                    try:
                        value = getattr(source_value, plan.python_name)
                        if plan.str_as_is and type(value) is str:
                            results[response_name] = value
                        else:
                            results[response_name] = plan.complete(value)
                        continue
                    except Exception:  # noqa: S110 - redone by graphql-core, which reports it
                        pass
                elif kind is _COMPUTED:
                    try:
                        value = plan.function(source_value)
                        leaf = plan.leaf
                        if leaf.str_as_is and type(value) is str:
                            results[response_name] = value
                        else:
                            results[response_name] = leaf.complete(value)
                        continue
                    except Exception:  # noqa: S110 - redone by graphql-core, which reports it
                        pass
                elif kind is _OBJECT:
                    # An object it cannot be read off (a value cast to another type): the
                    # default resolver's error, as graphql-core reports it.
                    value = getattr(source_value, plan.python_name, _PENDING)
                    if value is not _PENDING and plan.admits(value):
                        field_path = _path((path, response_name, parent_type.name))
                        result = self._complete_object_field(
                            plan,
                            field_details_list,
                            field_path,
                            value,
                            cast(dict[str, Any], grouped),
                            position_context,
                        )
                        results[response_name] = result
                        if self.is_awaitable(result):
                            awaited.append(response_name)
                        continue
                elif kind is _ABSTRACT and plan.item_type is None:
                    # One value: executed as the type graphql-core resolves it to (its
                    # fields as that type's steps take them); else graphql-core's.
                    value = getattr(source_value, plan.python_name, _PENDING)
                    selected = (
                        None
                        if value is _PENDING
                        else _selected(value, cast(dict[type, Any], grouped))
                    )
                    if selected is not None or (value is None and not plan.non_null):
                        field_path = _path((path, response_name, parent_type.name))
                        result = (
                            None
                            if selected is None
                            else self._complete_as(
                                selected[0],
                                plan.return_type,
                                field_details_list,
                                field_path,
                                value,
                                selected[1],
                                position_context,
                            )
                        )
                        results[response_name] = result
                        if self.is_awaitable(result):
                            awaited.append(response_name)
                        continue
                others[response_name] = field_details_list
                results[response_name] = _PENDING  # keeps the response in query order
            completed: Any = (
                super().execute_fields(parent_type, source_value, path, others, position_context)
                if others
                else {}
            )
        except Exception:
            if awaited:
                self.settle_in_background([results[name] for name in awaited])
            raise
        if not awaited and not self.is_awaitable(completed):
            return _merged(results, cast(dict[str, Any], completed)) if others else results

        async def merge() -> dict[str, Any]:
            done = await completed if self.is_awaitable(completed) else completed
            values = await gather_with_cancel(*(results[name] for name in awaited))
            results.update(zip(awaited, values, strict=True))
            return _merged(results, done)

        return merge()

    def _steps(
        self, parent_type: GraphQLObjectType, grouped_field_set: dict[str, Any]
    ) -> tuple[list[_Step] | None, _Row | None]:
        """The fields of ``grouped_field_set`` with their plans, worked out once per
        operation (a page's 50 nodes share one grouped field set); None: no plans. When
        every field is a leaf, also a function answering them all at once (:func:`_row`)."""
        key = (parent_type.name, id(grouped_field_set))
        cached = self._compiled.get(key)
        if cached is not None:
            return cached[1], cached[2]
        shared_key: tuple[Any, ...] | None = None
        if self._shared is not None:
            shared_key = (
                parent_type.name,
                id(self.operation),
                tuple(
                    (name, *(id(details.node) for details in field_details_list))
                    for name, field_details_list in grouped_field_set.items()
                ),
            )
            cached = self._shared.get(shared_key)
            if cached is not None:
                self._compiled[key] = (grouped_field_set, cached[1], cached[2])
                return cached[1], cached[2]
        fields = self._plans.get(parent_type.name)
        steps: list[_Step] | None = None
        if fields is not None:
            steps = []
            for response_name, field_details_list in grouped_field_set.items():
                name = field_details_list[0].node.name.value
                plan = fields.get(name) if name != "__typename" else _typename(parent_type)
                if isinstance(plan, _Abstract):
                    by_class = self._abstract_selections(plan, field_details_list)
                    if by_class is not None:
                        steps.append((response_name, field_details_list, _ABSTRACT, plan, by_class))
                    else:
                        steps.append((response_name, field_details_list, _OTHER, None, None))
                elif isinstance(plan, _Leaf):
                    steps.append((response_name, field_details_list, _LEAF, plan, None))
                elif isinstance(plan, _Computed):
                    steps.append((response_name, field_details_list, _COMPUTED, plan, None))
                elif (
                    plan is not None
                    and (grouped := self._plain_selection(plan, field_details_list)) is not None
                ):
                    steps.append((response_name, field_details_list, _OBJECT, plan, grouped))
                else:
                    steps.append((response_name, field_details_list, _OTHER, None, None))
        row = _row(steps, self._sub_row) if steps else None
        # The grouped field set is kept alive with its steps: its id is not reused meanwhile.
        self._compiled[key] = (grouped_field_set, steps, row)
        if self._shared is not None and shared_key is not None:
            if len(self._shared) >= MAX_SHARED_STEPS:
                self._shared.clear()
            # Kept with the operation, whose nodes (and so the ids in the key) live as long.
            self._shared[shared_key] = (self.operation, steps, row)
        return steps, row

    def _sub_row(self, object_type: GraphQLObjectType, grouped: dict[str, Any]) -> _Row | None:
        return self._steps(object_type, grouped)[1]

    def _abstract_selections(
        self, plan: _Abstract, field_details_list: FieldDetailsList
    ) -> dict[type, tuple[GraphQLObjectType, dict[str, Any]]] | None:
        """Per class the field's values may be of, its object type and the sub-selection
        graphql-core would execute on it (collect_subfields of that type); None when
        graphql-core must complete them (a directive, a deferred fragment)."""
        for details in field_details_list:
            if details.defer_usage is not None or details.node.directives:
                return None
        selections: dict[type, tuple[GraphQLObjectType, dict[str, Any]]] = {}
        for kind, object_type in plan.concrete.items():
            grouped, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
            if new_defer_usages:
                return None
            selections[kind] = (object_type, cast(dict[str, Any], grouped))
        return selections

    def _plain_selection(
        self, plan: _Object, field_details_list: FieldDetailsList
    ) -> dict[str, Any] | None:
        """The sub-selection to execute on the field's values directly; None when
        graphql-core must complete them (a directive, a deferred fragment). A value its
        checks refuse (``_Object.admits``) goes to graphql-core as well."""
        for details in field_details_list:
            if details.defer_usage is not None or details.node.directives:
                return None
        grouped, new_defer_usages, _ = self.collect_subfields(plan.object_type, field_details_list)
        return None if new_defer_usages else cast(dict[str, Any], grouped)

    def _complete_object_field(
        self,
        plan: _Object,
        field_details_list: FieldDetailsList,
        path: Path,
        value: Any,
        grouped: dict[str, Any],
        position_context: Any,
    ) -> Any:
        """What graphql-core's execute_field makes of an admitted value (errors included)."""
        if value is None:
            return None
        if plan.item_type is None:
            return self._complete_as(
                plan.object_type,
                plan.return_type,
                field_details_list,
                path,
                value,
                grouped,
                position_context,
            )
        return self._caught(
            plan.return_type,
            field_details_list,
            path,
            self._complete_items,
            plan,
            plan.item_type,
            field_details_list,
            path,
            value,
            grouped,
            position_context,
        )

    def _complete_as(
        self,
        object_type: GraphQLObjectType,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
        value: Any,
        grouped: dict[str, Any],
        position_context: Any,
    ) -> Any:
        """What graphql-core's execute_field makes of a value it completes as
        ``object_type`` (an object field's, a list item's, or an abstract field's value it
        resolves to that type), errors included: that type's sub-selection executed on it."""
        return self._caught(
            return_type,
            field_details_list,
            path,
            self.execute_fields,
            object_type,
            value,
            path,
            grouped,
            position_context,
        )

    def _caught(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
        complete: Callable[..., Any],
        *arguments: Any,
    ) -> Any:
        """``complete(*arguments)`` as graphql-core's execute_field ends a field: an error
        raised now or when awaited is the field's error (handled, the field null)."""
        try:
            completed = complete(*arguments)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._guarded(completed, return_type, field_details_list, path)
        return completed

    def _complete_items(
        self,
        plan: _Object,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
        items: list[Any] | tuple[Any, ...],
        grouped: dict[str, Any],
        position_context: Any,
    ) -> Any:
        completed: list[Any] = []
        awaited: list[int] = []
        for index, item in enumerate(items):
            if item is None:
                completed.append(None)
                continue
            item_path = _path((path, index, None))
            result = self._complete_as(
                plan.object_type,
                item_type,
                field_details_list,
                item_path,
                item,
                grouped,
                position_context,
            )
            if self.is_awaitable(result):
                awaited.append(index)
            completed.append(result)
        if not awaited:
            return completed

        async def settle() -> list[Any]:
            values = await gather_with_cancel(*(completed[index] for index in awaited))
            for index, value in zip(awaited, values, strict=True):
                completed[index] = value
            return completed

        return settle()

    async def _guarded(
        self,
        completed: Awaitable[Any],
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None


_PENDING = object()

# Every field of an object at once, from the object: the fields' completed values.
_Row = Callable[[Any], dict[str, Any]]


def _row(
    steps: list[_Step], sub_row: Callable[[GraphQLObjectType, dict[str, Any]], _Row | None]
) -> _Row | None:
    """When every step is a leaf (read, or computed from the object alone) or an object
    (or list of them) that is itself such a row (``sub_row``): one function answering them
    all, in order, down the tree. A value it cannot take as it is (anything ``complete`` or
    ``_Object.admits`` refuses, or an error reading it) raises, and the object is then
    executed field by field as before, every read being free of effects. A page of
    customers (its edges, their nodes, its pageInfo) is such a row."""
    reads: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any], bool]] = []
    # Per read, the attribute it reads (None: a function of the whole object).
    attributes: list[str | None] = []
    for response_name, _, kind, plan, grouped in steps:
        if kind is _LEAF:
            reads.append(
                (response_name, attrgetter(plan.python_name), _completion(plan), plan.str_as_is)
            )
            attributes.append(plan.python_name)
        elif kind is _COMPUTED:
            leaf = plan.leaf
            reads.append((response_name, plan.function, _completion(leaf), leaf.str_as_is))
            attributes.append(None)
        elif kind is _OBJECT and (
            inner := sub_row(plan.object_type, cast(dict[str, Any], grouped))
        ):
            reads.append((response_name, attrgetter(plan.python_name), _rows(plan, inner), False))
            attributes.append(plan.python_name)
        elif kind is _ABSTRACT:
            # Per class, the row of its object type (a class without one: graphql-core).
            by_class: dict[type, tuple[Any, _Row]] = {}
            for value_class, (object_type, selection) in cast(dict[type, Any], grouped).items():
                inner = sub_row(object_type, selection)
                if inner is not None:
                    by_class[value_class] = (object_type.is_type_of, inner)
            if not by_class:
                return None
            reads.append(
                (
                    response_name,
                    attrgetter(plan.python_name),
                    _abstract_rows(plan, by_class),
                    False,
                )
            )
            attributes.append(plan.python_name)
        else:
            return None
    fields = tuple(reads)
    # Per type of object met (a few): its row as one function (_compiled_row), reading off
    # the message where the type is read_on_demand's (_message_reads).
    by_type: dict[type, _Row] = {}

    def row(source: Any) -> dict[str, Any]:
        kind = type(source)
        compiled = by_type.get(kind)
        if compiled is None:
            if len(by_type) >= MAX_ROW_TYPES:
                by_type.clear()
            direct = _message_reads(kind, fields, attributes)
            compiled = by_type[kind] = _compiled_row(
                direct
                if direct is not None
                else tuple(
                    (name, read, None, True, complete, str_as_is)
                    for name, read, complete, str_as_is in fields
                ),
                through_message=direct is not None,
            )
        return compiled(source)

    return row


def _compiled_row(steps: tuple[_MessageStep, ...], *, through_message: bool) -> _Row:
    """One function answering a row's fields in order, as a loop over ``steps`` would:
    per field ``read`` (of the object, or of its ``_message`` when ``through_message``),
    ``convert`` when given, and the value as it is when a str may be, else ``complete``d;
    written out once per row and type of object, without the loop's unpacking and tests
    per value (a page of customers reads ~550 values)."""
    namespace: dict[str, Any] = {}
    values: list[str] = []
    for index, (name, read, convert, whole, complete, str_as_is) in enumerate(steps):
        namespace[f"read_{index}"] = read
        namespace[f"complete_{index}"] = complete
        value = f"read_{index}({'source' if whole else 'message'})"
        if convert is not None:
            namespace[f"convert_{index}"] = convert
            value = f"convert_{index}({value})"
        if str_as_is:
            value = f"(value if type(value := {value}) is str else complete_{index}(value))"
        else:
            value = f"complete_{index}({value})"
        values.append(f"        {name!r}: {value},")
    source = "\n".join(
        [
            "def row(source):",
            "    message = source._message" if through_message else "",
            "    return {",
            *values,
            "    }",
        ]
    )
    exec(compile(source, "<execution row>", "exec"), namespace)  # noqa: S102 - our own text
    return cast(_Row, namespace["row"])


# On a type conversions.read_on_demand made: per field it reads off its message, how.
MESSAGE_READS = "__message_reads__"


class MessageRead(NamedTuple):
    """A field of a read_on_demand type: its property, which answers
    ``convert(read(view._message))`` (``read(view._message)`` when convert is None)."""

    prop: property
    read: Callable[[Any], Any]
    convert: Callable[[Any], Any] | None


_UNSEEN: Any = object()
MAX_ROW_TYPES = 64
# response name, read, convert (None: none), whether read takes the object itself (else its
# message), complete, and whether a str is answered as it is.
_MessageStep = tuple[
    str, Callable[[Any], Any], Callable[[Any], Any] | None, bool, Callable[[Any], Any], bool
]


def _message_reads(
    kind: type,
    fields: tuple[tuple[str, Callable[[Any], Any], Callable[[Any], Any], bool], ...],
    attributes: list[str | None],
) -> tuple[_MessageStep, ...] | None:
    """For objects of a type ``conversions.read_on_demand`` made, the row's reads with each
    field the type reads off its message read off the message directly: what the field's
    property answers (``convert(read(message))``), without calling the property and its
    function per value. Only where the type's attribute is that property itself (a subclass
    may answer otherwise); every other read as it is. None for any other type."""
    message_reads: dict[str, MessageRead] | None = getattr(kind, MESSAGE_READS, None)
    if not message_reads:
        return None
    steps: list[_MessageStep] = []
    for (name, read, complete, str_as_is), attribute in zip(fields, attributes, strict=True):
        field = message_reads.get(attribute) if attribute is not None else None
        if field is not None and inspect.getattr_static(kind, cast(str, attribute)) is field.prop:
            steps.append((name, field.read, field.convert, False, complete, str_as_is))
        else:
            steps.append((name, read, None, True, complete, str_as_is))
    return tuple(steps)


def _rows(plan: _Object, row: _Row) -> Callable[[Any], Any]:
    """An object field's value (an object, or a list of them) completed by ``row``, when
    ``plan`` admits it (else _NotFast: graphql-core's completion decides)."""
    admits = plan.admits
    if plan.item_type is None:

        def one(value: Any) -> Any:
            if not admits(value):
                raise _NotFast
            return None if value is None else row(value)

        return one

    def many(value: Any) -> Any:
        if not admits(value):
            raise _NotFast
        if value is None:
            return None
        return [None if item is None else row(item) for item in value]

    return many


def _selected(value: Any, by_class: dict[type, Any]) -> tuple[GraphQLObjectType, Any] | None:
    """The object type graphql-core completes an abstract field's ``value`` as, and its
    sub-selection (``by_class``: _abstract_selections), when the value is of a class the
    interface's resolver answers by its own type (:class:`_Abstract`) and that type's
    is_type_of takes it; else None (graphql-core's completion decides)."""
    entry = by_class.get(type(value))
    if entry is None or get_strawberry_type_cast(value) is not None:
        return None
    object_type = entry[0]
    is_type_of = object_type.is_type_of
    if is_type_of is not None and is_type_of(value, _NO_INFO) is not True:
        return None
    return cast(tuple[GraphQLObjectType, Any], entry)


def _abstract_rows(plan: _Abstract, by_class: dict[type, tuple[Any, _Row]]) -> Callable[[Any], Any]:
    """An abstract field's value (or list of them) completed per value by the row of the
    type graphql-core would resolve it to (:class:`_Abstract`), after that type's
    is_type_of; anything else (null in a non-null place, not a list, a class without a
    row, a cast value, is_type_of refusing) is _NotFast: graphql-core's completion
    decides, and reports its error."""
    lookup = by_class.get
    cast_of = get_strawberry_type_cast

    def completed(value: Any) -> Any:
        entry = lookup(type(value))
        if entry is None or cast_of(value) is not None:
            raise _NotFast
        is_type_of, row = entry
        if is_type_of is not None and is_type_of(value, _NO_INFO) is not True:
            raise _NotFast
        return row(value)

    non_null, item_non_null = plan.non_null, plan.item_non_null
    if plan.item_type is None:

        def one(value: Any) -> Any:
            if value is None:
                if non_null:
                    raise _NotFast
                return None
            return completed(value)

        return one

    def many(value: Any) -> Any:
        if value is None:
            if non_null:
                raise _NotFast
            return None
        return _list_of(value, item_non_null, completed)

    return many


# ``__typename`` of an object type: graphql-core's meta field answers the parent type's
# name (a non-null String), as a leaf computed from nothing.
_TYPENAMES: dict[str, _Computed] = {}
_TYPENAME_LEAF = _Leaf("__typename", serialize_string, True, False, False, True)


def _typename(parent_type: GraphQLObjectType) -> _Computed:
    name = parent_type.name
    plan = _TYPENAMES.get(name)
    if plan is None:
        if len(_TYPENAMES) >= MAX_ROW_TYPES:
            _TYPENAMES.clear()

        def answer(source: Any) -> str:
            return name

        plan = _TYPENAMES[name] = _Computed(answer, _TYPENAME_LEAF)
    return plan


# ``_path((prev, key, typename))`` is ``Path(prev, key, typename)`` without NamedTuple's
# Python-level ``__new__``: two of them per node of a page.
_path = cast(
    Callable[[tuple[Path | None, str | int, str | None]], Path], partial(tuple.__new__, Path)
)


def _merged(results: dict[str, Any], completed: dict[str, Any]) -> dict[str, Any]:
    results.update(completed)
    # graphql-core leaves out fields it does not know; so do we.
    for name in [name for name, value in results.items() if value is _PENDING]:
        del results[name]
    return results


def fast_execution_context(schema: strawberry.Schema) -> None:
    """Switch ``schema`` to the fast leaf path (call once, after building it), its
    extensions' hooks wrapped as worked out once per extension type (:class:`_Hooks`)."""
    executor = type(
        "SchemaFastLeafExecutionContext",
        (FastLeafExecutionContext,),
        {"plans": leaf_plans(schema), "shared": {}},
    )
    schema.execution_context_class = executor
    schema.create_extensions_runner = _extensions_runner  # type: ignore[method-assign]


# --- extension hooks ------------------------------------------------------------------

# Per extension type and hook: how strawberry wraps the hook (a context manager made of
# the generator function, and whether it is async), None when the type has no such hook,
# or _AS_STRAWBERRY for a plain function (strawberry's own wrapping, per request).
_AS_STRAWBERRY: Any = object()
_hook_wrappers: dict[tuple[type, str], tuple[Callable[..., Any], bool] | None] = {}


def _get_hook(self: ExtensionContextManagerBase, extension: SchemaExtension) -> WrappedHook | None:
    """strawberry's ``get_hook``, its inspection done once per extension type: a generator
    hook is ``contextmanager(hook)(extension)``, what strawberry's
    ``contextmanager(MethodType(hook, extension))()`` builds per request (a wrapper with
    its ``update_wrapper``, for each of ~8 extensions and 4 stages, ~2.5% of a page)."""
    key = (type(extension), self.HOOK_NAME)
    wrapper = _hook_wrappers.get(key, _UNSEEN)
    if wrapper is _UNSEEN:
        hook = getattr(type(extension), self.HOOK_NAME)
        if hook is self.default_hook:
            wrapper = None
        elif inspect.isgeneratorfunction(hook):
            wrapper = (contextlib.contextmanager(hook), False)
        elif inspect.isasyncgenfunction(hook):
            wrapper = (contextlib.asynccontextmanager(hook), True)
        else:
            wrapper = _AS_STRAWBERRY
        _hook_wrappers[key] = wrapper
    if wrapper is None:
        return None
    if wrapper is _AS_STRAWBERRY:
        return ExtensionContextManagerBase.get_hook(self, extension)
    make, is_async = wrapper
    return WrappedHook(extension=extension, hook=partial(make, extension), is_async=is_async)


def _with_hooks(base: type[ExtensionContextManagerBase]) -> Any:
    return type(base.__name__, (base,), {"__slots__": (), "get_hook": _get_hook})


_Operation = _with_hooks(OperationContextManager)
_Validation = _with_hooks(ValidationContextManager)
_Parsing = _with_hooks(ParsingContextManager)
_Executing = _with_hooks(ExecutingContextManager)


class _Hooks(SchemaExtensionsRunner):
    """strawberry's runner, each stage's hooks wrapped by :func:`_get_hook`."""

    def operation(self) -> OperationContextManager:
        return cast(OperationContextManager, _Operation(self.extensions))

    def validation(self) -> ValidationContextManager:
        return cast(ValidationContextManager, _Validation(self.extensions))

    def parsing(self) -> ParsingContextManager:
        return cast(ParsingContextManager, _Parsing(self.extensions))

    def executing(self) -> ExecutingContextManager:
        return cast(ExecutingContextManager, _Executing(self.extensions))


def _extensions_runner(
    execution_context: ExecutionContext, extensions: list[SchemaExtension]
) -> SchemaExtensionsRunner:
    return _Hooks(execution_context=execution_context, extensions=extensions)
