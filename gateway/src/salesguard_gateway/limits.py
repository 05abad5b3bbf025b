"""G3: what one request may ask for, checked before any resolver runs.

Each refusal is a GraphQL error with a code a client can act on:

- ``QUERY_TOO_DEEP``: selection depth over ``max_query_depth`` (strawberry's
  ``QueryDepthLimiter`` rule);
- ``TOO_MANY_ALIASES``: more aliases than ``max_aliases`` (``MaxAliasesLimiter``);
- ``TOO_MANY_TOKENS``: a document longer than ``max_tokens`` (``MaxTokensLimiter``
  makes the parser stop);
- ``VALIDATION`` with ``extensions.field``: a page size (``first``) outside
  ``1..max_page_size``, a string longer than ``max_string_length``, or a string
  that is not text (U+0000, or an unpaired UTF-16 surrogate: JSON's ``"\\ud800"``;
  no service or database could store either), whether written in the document or
  passed as a variable;
- ``QUERY_TOO_COSTLY``: an estimated cost over ``max_query_cost`` (cost.py).

Validation rules cannot see variables, so the page-size and string checks run
in :class:`InputLimits` at the start of execution, over the parsed document and
the raw variables; the document half of that work is cached per query text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSyntaxError,
    IntValueNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    VariableDefinitionNode,
    VariableNode,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.language.visitor import EnterLeaveVisitor
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import (
    create_validator as create_alias_validator,
)
from strawberry.extensions.query_depth_limiter import (
    create_validator as create_depth_validator,
)
from strawberry.types.graphql import OperationType

from salesguard.errors import ErrorCode
from salesguard_gateway.inputs import NOT_TEXT, InvalidScalar, enclosing_name, is_text

QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
# A connection's page size: forward (first) or backward (last).
PAGE_SIZE_ARGUMENTS = frozenset({"first", "last"})
V = TypeVar("V")


class _CodedContext:
    """A validation context whose reported errors carry ``extensions.code``."""

    def __init__(self, context: ValidationContext, code: str) -> None:
        self._context = context
        self._code = code

    def report_error(self, error: GraphQLError) -> None:
        self._context.report_error(
            GraphQLError(
                error.message,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                extensions={**(error.extensions or {}), "code": self._code},
            )
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def coded_rule(rule: type[ASTValidationRule], code: str) -> type[ASTValidationRule]:
    """``rule`` with its errors tagged with ``code``."""

    class CodedRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._inner = rule(cast(ValidationContext, _CodedContext(context, code)))

        def get_enter_leave_for_kind(self, kind: str) -> EnterLeaveVisitor:
            return self._inner.get_enter_leave_for_kind(kind)

    CodedRule.__name__ = f"Coded{rule.__name__}"
    return CodedRule


def limit_rules(max_depth: int, max_aliases: int) -> tuple[type[ASTValidationRule], ...]:
    """The depth and alias rules, built once so that ``ValidationCache`` can hit."""
    return (
        coded_rule(create_depth_validator(max_depth, None, None), QUERY_TOO_DEEP),
        coded_rule(create_alias_validator(max_aliases), TOO_MANY_ALIASES),
    )


def tag_token_limit(error: GraphQLError) -> GraphQLError:
    """The parser's "more than N tokens" syntax error, with its own code."""
    if isinstance(error, GraphQLSyntaxError) and "tokens" in error.message:
        return GraphQLError(
            error.message,
            source=error.source,
            positions=error.positions,
            extensions={"code": TOO_MANY_TOKENS},
        )
    return error


@dataclass(frozen=True)
class _PageArgument:
    literal: int | None
    variable: str | None
    node: FieldNode
    argument: str  # first or last


@dataclass(frozen=True)
class DocumentFacts:
    """What the input checks need from a document, computed once per query text."""

    page_arguments: tuple[_PageArgument, ...]
    variable_defaults: Mapping[str, Any]
    long_literal: StringValueNode | None
    # A string literal that is not text, and the argument or input field it is written for.
    non_text_literal: StringValueNode | None = None
    non_text_field: str | None = None


def _walk(node: Any) -> Iterator[Node]:
    """Every AST node under ``node`` (documents are small and bounded by max_tokens)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Node):
            yield current
            for key in current.keys:
                if key != "loc":
                    stack.append(getattr(current, key, None))
        elif isinstance(current, tuple | list):
            stack.extend(current)


def _literal_value(node: Any) -> Any:
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, StringValueNode):
        return node.value
    if isinstance(node, ListValueNode):
        return [_literal_value(value) for value in node.values]
    if isinstance(node, ObjectValueNode):
        return {field.name.value: _literal_value(field.value) for field in node.fields}
    return getattr(node, "value", None)


def analyse(document: DocumentNode, max_string_length: int) -> DocumentFacts:
    pages: list[_PageArgument] = []
    defaults: dict[str, Any] = {}
    long_literal: StringValueNode | None = None
    non_text: StringValueNode | None = None
    for node in _walk(document):
        if isinstance(node, FieldNode):
            for argument in node.arguments or ():
                if argument.name.value not in PAGE_SIZE_ARGUMENTS:
                    continue
                value = argument.value
                name = argument.name.value
                if isinstance(value, IntValueNode):
                    pages.append(_PageArgument(int(value.value), None, node, name))
                elif isinstance(value, VariableNode):
                    pages.append(_PageArgument(None, value.name.value, node, name))
        elif isinstance(node, OperationDefinitionNode | FragmentDefinitionNode):
            for definition in node.variable_definitions or ():
                if definition.default_value is not None:
                    defaults[definition.variable.name.value] = _literal_value(
                        definition.default_value
                    )
        elif isinstance(node, StringValueNode):
            if len(node.value) > max_string_length:
                long_literal = long_literal or node
            if non_text is None and not is_text(node.value):
                non_text = node
    field = None
    if non_text is not None:
        field = enclosing_name(document, lambda candidate: candidate is non_text)
    return DocumentFacts(tuple(pages), defaults, long_literal, non_text, field)


class BoundedCache(Generic[V]):
    """Bounded LRU: what a document's text determines (the input checks'
    :class:`DocumentFacts`, cost.py's plans; hashing a str is cached), and the query texts
    clients persist (persisted.py). Each entry weighs ``weigh(value)`` (1 by default); the
    least recently used go once the total passes ``max_weight``."""

    def __init__(self, max_weight: int = 256, weigh: Callable[[V], int] = lambda _: 1) -> None:
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._weight = 0
        self._max_weight = max_weight
        self._weigh = weigh

    def lookup(self, key: Hashable) -> V | None:
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(self, key: Hashable, value: V) -> None:
        weight = self._weigh(value)
        if key in self._entries or weight > self._max_weight:
            return
        self._entries[key] = value
        self._weight += weight
        while self._weight > self._max_weight:
            _, dropped = self._entries.popitem(last=False)
            self._weight -= self._weigh(dropped)

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        value = compute()
        self.put(key, value)
        return value


def _too_long(value: Any, limit: int) -> bool:
    if isinstance(value, str):
        return len(value) > limit
    if isinstance(value, dict):
        return any(_too_long(item, limit) for item in value.values())
    if isinstance(value, list):
        return any(_too_long(item, limit) for item in value)
    return False


def _non_text(value: Any) -> object | None:
    """The first string in ``value`` that is not text (or the object with such a key)."""
    stack: list[Any] = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if not is_text(current):
                return current
        elif isinstance(current, dict):
            if not all(is_text(key) for key in current):
                return current
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return None


def _variable_definition(document: DocumentNode, name: str) -> VariableDefinitionNode | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            for variable in definition.variable_definitions or ():
                if variable.variable.name.value == name:
                    return variable
    return None


def _validation_error(message: str, field: str, node: Node | None = None) -> GraphQLError:
    return GraphQLError(
        message, nodes=node, extensions={"code": ErrorCode.VALIDATION.value, "field": field}
    )


class InputLimits(SchemaExtension):
    """Refuses page sizes and strings over the limits before execution starts."""

    def __init__(
        self, *, max_page_size: int, max_string_length: int, cache: BoundedCache[DocumentFacts]
    ) -> None:
        self.max_page_size = max_page_size
        self.max_string_length = max_string_length
        self._cache = cache

    def on_execute(self) -> Iterator[None]:
        errors = self._check()
        if errors:
            if self.execution_context.operation_type is OperationType.SUBSCRIPTION:
                # A subscription ignores a result set beforehand; what on_execute raises
                # is its one result, and ends it.
                raise errors[0]
            # A result set before execution makes strawberry skip it entirely.
            self.execution_context.result = GraphQLExecutionResult(data=None, errors=errors)
        yield

    def _check(self) -> list[GraphQLError]:
        context = self.execution_context
        document = context.graphql_document
        if document is None:
            return []
        query = context.query or ""
        facts = self._cache.get(query, lambda: analyse(document, self.max_string_length))
        variables = context.variables or {}
        errors: list[GraphQLError] = []
        limit = self.max_page_size
        for page in facts.page_arguments:
            value: Any = page.literal
            if page.variable is not None:
                value = variables.get(page.variable, facts.variable_defaults.get(page.variable))
            # Non-integers are left to GraphQL's own coercion, which refuses them.
            if isinstance(value, int) and not isinstance(value, bool) and not 1 <= value <= limit:
                errors.append(
                    _validation_error(
                        f"{page.argument} must be between 1 and {limit} (got {value})",
                        page.argument,
                        page.node,
                    )
                )
        if facts.long_literal is not None:
            errors.append(
                _validation_error(
                    f"a string argument is longer than {self.max_string_length} characters",
                    "query",
                    facts.long_literal,
                )
            )
        if facts.non_text_literal is not None:
            field = facts.non_text_field or "query"
            errors.append(_validation_error(f"{field} {NOT_TEXT}", field, facts.non_text_literal))
        for name, value in variables.items():
            refused = _non_text(value)
            if refused is not None:
                # Typed like a scalar's refusal, so the error names the field it was sent for.
                message = f"a string {NOT_TEXT}"
                errors.append(
                    GraphQLError(
                        message,
                        nodes=_variable_definition(document, name),
                        original_error=InvalidScalar(message, refused),
                    )
                )
            if _too_long(value, self.max_string_length):
                errors.append(
                    _validation_error(
                        f"variable ${name} holds a string longer than "
                        f"{self.max_string_length} characters",
                        name,
                    )
                )
        return errors


def input_limits_factory(max_page_size: int, max_string_length: int) -> Callable[[], InputLimits]:
    cache = BoundedCache[DocumentFacts]()
    return lambda: InputLimits(
        max_page_size=max_page_size, max_string_length=max_string_length, cache=cache
    )
