"""The estimated cost of an operation, refused above ``max_query_cost`` before execution.

Each selected field costs 1; a list multiplies the cost of what it selects by its size:

- a field that takes ``first`` (or ``last``) is a page of that size (the one given,
  literal or variable, else the default page size), and ``nodes(ids:)`` one of as many
  objects as IDs: its own list if it returns one (``riskRanking``, ``nodes``),
  else the lists it selects directly (a connection's ``edges``, a reconciliation's
  ``items``), while its other fields (``totalCount``, ``pageInfo``) count once;
- any other list of objects (a check-in's photos, an alert's history) counts as a default
  page.

Lists of scalars cost 1. Introspection costs 1 per meta field: the schema bounds it.

So ``customers(first: 50) { totalCount edges { node { id name } } }`` costs
1 + 1 + 50 × (1 + 1 + 2) = 202, and a page of employees each with a page of customers each
with a page of follow-ups multiplies three page sizes.

The document's half (which fields multiply by what) is worked out once per query text and
operation and cached; a request only puts its variables into it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from salesguard_gateway.limits import PAGE_SIZE_ARGUMENTS, BoundedCache

# Arguments that size what a field answers: a page, or the objects asked for by ID.
SIZED_ARGUMENTS = PAGE_SIZE_ARGUMENTS | {"ids"}

QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"


@dataclass(frozen=True, slots=True)
class PageSize:
    """A multiplier: a literal, or a variable (with the document's default for it)."""

    literal: int | None
    variable: str | None = None

    def value(self, variables: Mapping[str, Any], default: int) -> int:
        size: Any = self.literal
        if self.variable is not None:
            size = variables.get(self.variable)
        if isinstance(size, int) and not isinstance(size, bool):
            return max(size, 0)
        if isinstance(size, list):  # nodes(ids:): one object per ID asked for
            return len(size)
        return default


@dataclass(frozen=True, slots=True)
class Term:
    """One field: costs 1, plus ``size`` times what it selects."""

    size: PageSize | None
    selects: tuple[Term, ...]

    def cost(self, variables: Mapping[str, Any], default: int) -> int:
        inner = sum(term.cost(variables, default) for term in self.selects)
        if self.size is None:
            return 1 + inner
        return 1 + self.size.value(variables, default) * inner


@dataclass(frozen=True, slots=True)
class CostPlan:
    """An operation's cost as a function of its variables; ``constant`` when none counts."""

    terms: tuple[Term, ...]
    variable_defaults: Mapping[str, Any]
    constant: int | None

    def cost(self, variables: Mapping[str, Any], default_page_size: int) -> int:
        if self.constant is not None:
            return self.constant
        merged = {**self.variable_defaults, **variables}
        return sum(term.cost(merged, default_page_size) for term in self.terms)


def _page_size(field: FieldNode) -> PageSize:
    for argument in field.arguments or ():
        if argument.name.value in SIZED_ARGUMENTS:
            value = argument.value
            if isinstance(value, IntValueNode):
                return PageSize(int(value.value))
            if isinstance(value, ListValueNode):
                return PageSize(len(value.values))
            if isinstance(value, VariableNode):
                return PageSize(None, value.name.value)
    return PageSize(None)


class _Planner:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, default: int) -> None:
        self._schema = schema
        self._default = default
        self._fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.variable_dependent = False

    def terms(
        self,
        selections: SelectionSetNode | None,
        parent: GraphQLNamedType,
        seen: frozenset[str],
        page: PageSize | None = None,
    ) -> Iterator[Term]:
        """The terms of a selection set; ``page`` sizes the lists in it (a paged field's)."""
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                yield self._field(selection, parent, seen, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._type(condition.name.value) if condition else parent
                yield from self.terms(selection.selection_set, inner or parent, seen, page)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self._fragments.get(name)
                if fragment is None or name in seen:  # validation refuses both
                    continue
                inner = self._type(fragment.type_condition.name.value) or parent
                yield from self.terms(fragment.selection_set, inner, seen | {name}, page)

    def _type(self, name: str) -> GraphQLNamedType | None:
        return self._schema.type_map.get(name)

    def _field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType,
        seen: frozenset[str],
        page: PageSize | None,
    ) -> Term:
        name = node.name.value
        fields = (
            parent.fields if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) else {}
        )
        definition = fields.get(name)
        if definition is None or name.startswith("__"):
            return Term(None, ())  # __typename, introspection: bounded by the schema
        target = get_named_type(definition.type)
        if not is_composite_type(target):
            return Term(None, ())
        is_list = isinstance(get_nullable_type(definition.type), GraphQLList)
        if not SIZED_ARGUMENTS.isdisjoint(definition.args):
            size = _page_size(node)
            self.variable_dependent |= size.variable is not None
            if is_list:
                return Term(size, tuple(self.terms(node.selection_set, target, seen)))
            # A page object (a connection): its lists are the page.
            return Term(None, tuple(self.terms(node.selection_set, target, seen, size)))
        selects = tuple(self.terms(node.selection_set, target, seen))
        if is_list:
            return Term(page or PageSize(None), selects)
        return Term(None, selects)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == name), None)


def cost_plan(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, default: int
) -> CostPlan | None:
    """The cost plan of the operation ``operation_name`` names (None: no such operation)."""
    operation = _operation(document, operation_name)
    if operation is None:
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    planner = _Planner(schema, document, default)
    terms = tuple(planner.terms(operation.selection_set, root, frozenset()))
    defaults = {
        definition.variable.name.value: int(definition.default_value.value)
        for definition in operation.variable_definitions or ()
        if isinstance(definition.default_value, IntValueNode)
    }
    plan = CostPlan(terms, defaults, None)
    if planner.variable_dependent:
        return plan
    return CostPlan(terms, defaults, plan.cost({}, default))


def too_costly(cost: int, budget: int) -> GraphQLError:
    return GraphQLError(
        f"the query's estimated cost is {cost}, over the budget of {budget}: "
        "ask for smaller pages or fewer nested lists",
        extensions={"code": QUERY_TOO_COSTLY, "cost": cost, "budget": budget},
    )


class QueryCost(SchemaExtension):
    """Refuses an operation whose estimated cost is over the budget, before execution."""

    def __init__(
        self, *, budget: int, default_page_size: int, cache: BoundedCache[CostPlan | None]
    ) -> None:
        self.budget = budget
        self.default_page_size = default_page_size
        self._cache = cache

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # Another limit may have refused it already (limits.InputLimits).
        if document is not None and context.result is None:
            name = context.operation_name
            plan = self._cache.get(
                (context.query or "", name),
                lambda: cost_plan(context.schema._schema, document, name, self.default_page_size),
            )
            if plan is not None:
                cost = plan.cost(context.variables or {}, self.default_page_size)
                if cost > self.budget:
                    error = too_costly(cost, self.budget)
                    if context.operation_type is OperationType.SUBSCRIPTION:
                        raise error  # a subscription's one result, as in InputLimits
                    context.result = GraphQLExecutionResult(data=None, errors=[error])
        yield


def query_cost_factory(budget: int, default_page_size: int) -> Callable[[], QueryCost]:
    cache: BoundedCache[CostPlan | None] = BoundedCache()
    return lambda: QueryCost(budget=budget, default_page_size=default_page_size, cache=cache)
