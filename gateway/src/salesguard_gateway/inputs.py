"""Input values refused at the edge, and the field each was sent for (VALIDATION naming it).

A scalar's parser sees only a value, not where it was written, and graphql-core
reports a refused literal at its node and a refused variable at its definition.
:class:`InputFields` finds the name a client knows from the document and the raw
variables: the argument or input-object field the value was written for (for a
variable, the innermost key holding the refused value, or the argument the
variable fills).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    Node,
    ObjectFieldNode,
    StringValueNode,
    VariableDefinitionNode,
    VariableNode,
)
from strawberry.relay.types import InvalidGlobalIDError

from salesguard.errors import ErrorCode, ServiceError

# U+0000 (which PostgreSQL cannot store) and lone UTF-16 surrogates (which no UTF-8
# encoder can write: JSON's "\\ud800"; decoding joins an escaped pair into one character,
# so any surrogate left is unpaired).
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
NOT_TEXT = "holds U+0000 or an unpaired UTF-16 surrogate (U+D800 to U+DFFF), which is not text"


def is_text(value: str) -> bool:
    """Whether ``value`` can be stored and sent on as text."""
    return _NOT_TEXT.search(value) is None


class InvalidScalar(ServiceError):
    """A scalar's parser refused ``value`` (in a literal or a variable); typed ``VALIDATION``."""

    code = ErrorCode.VALIDATION

    def __init__(self, message: str, value: object) -> None:
        super().__init__(message)
        self.value = value


def cause(error: GraphQLError) -> BaseException | None:
    """What raised ``error``, through graphql-core's wrapping (a variable's error wraps its
    coercion error, which wraps what the scalar raised)."""
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def enclosing_name(document: Node, wanted: Callable[[Node], bool]) -> str | None:
    """The argument or input-object field around the first node ``wanted`` picks (within
    ``document``, a whole document or one field)."""
    stack: list[tuple[Any, str | None]] = [(document, None)]
    while stack:
        node, name = stack.pop()
        if isinstance(node, tuple | list):
            stack.extend((child, name) for child in reversed(node))
            continue
        if not isinstance(node, Node):
            continue
        if wanted(node):
            return name
        if isinstance(node, ArgumentNode | ObjectFieldNode):
            name = node.name.value
        stack.extend(
            (getattr(node, key, None), name) for key in reversed(node.keys) if key != "loc"
        )
    return None


def _key_holding(value: Any, target: object) -> str | None:
    """The innermost object key under which ``target`` (by identity) sits in ``value``."""
    stack: list[tuple[Any, str | None]] = [(value, None)]
    while stack:
        current, key = stack.pop()
        if current is target:
            return key
        if isinstance(current, dict):
            stack.extend((item, name) for name, item in current.items())
        elif isinstance(current, list):
            stack.extend((item, key) for item in current)
    return None


class InputFields:
    """Names the field of an input error from the operation's document and raw variables."""

    def __init__(self, document: DocumentNode | None, variables: Mapping[str, Any] | None) -> None:
        self._document = document
        self._variables = variables or {}

    def field_of(self, error: GraphQLError) -> str | None:
        node = error.nodes[0] if error.nodes else None
        if self._document is None or node is None:
            return None
        if error.path is not None:
            return self._global_id_field(error, node)
        if not isinstance(node, VariableDefinitionNode):
            return enclosing_name(self._document, lambda candidate: candidate is node)
        variable = node.variable.name.value
        raised = cause(error)
        if isinstance(raised, InvalidScalar) and variable in self._variables:
            key = _key_holding(self._variables[variable], raised.value)
            if key is not None:
                return key
        used = enclosing_name(self._document, _use_of(variable))
        return (used or variable) + _inner_path(error.message)

    def _global_id_field(self, error: GraphQLError, field: Node) -> str | None:
        """The argument or input field of a value that is not a global ID: strawberry
        decodes IDs as it hands a resolver its arguments, so the error is the field's and
        names only the value."""
        raised = cause(error)
        if not isinstance(raised, InvalidGlobalIDError):
            return None
        found = _NOT_A_GLOBAL_ID.search(str(raised))
        if found is None:
            return None
        value = found.group(1)
        literal = enclosing_name(
            field,
            lambda candidate: isinstance(candidate, StringValueNode) and candidate.value == value,
        )
        if literal is not None:
            return literal
        for variable in _variables_in(field):
            given = self._variables.get(variable)
            key = _key_equal_to(given, value)
            if key is not None:
                return key
            if given == value or (isinstance(given, list) and value in given):
                return enclosing_name(field, _use_of(variable))
        return None


def _use_of(variable: str) -> Callable[[Node], bool]:
    def uses(candidate: Node) -> bool:
        return isinstance(candidate, VariableNode) and candidate.name.value == variable

    return uses


# strawberry's message for an ID argument that does not decode.
_NOT_A_GLOBAL_ID = re.compile(r'GlobalID: "(.*)"\.?$', re.S)


def _variables_in(node: Node) -> list[str]:
    """The variables a field's arguments use, in document order."""
    names: list[str] = []
    stack: list[Any] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, tuple | list):
            stack.extend(reversed(current))
        elif isinstance(current, VariableNode):
            names.append(current.name.value)
        elif isinstance(current, Node):
            stack.extend(
                getattr(current, key, None) for key in reversed(current.keys) if key != "loc"
            )
    return names


def _key_equal_to(value: Any, target: str) -> str | None:
    """The innermost object key under which a string equal to ``target`` sits in ``value``."""
    stack: list[tuple[Any, str | None]] = [(value, None)]
    while stack:
        current, key = stack.pop()
        if isinstance(current, dict):
            stack.extend((item, name) for name, item in current.items())
        elif isinstance(current, list):
            stack.extend((item, key) for item in current)
        elif key is not None and current == target:
            return key
    return None


# graphql-core names where in a variable's value a coercion failed:
# "Variable '$filter' has invalid value at .kinds[0]: ...".
_COERCION_AT = re.compile(r"has invalid value at ((?:\.\w+|\[\d+\])+):")


def _inner_path(message: str) -> str:
    """The input fields within a variable where its value failed (".kinds" for
    ".kinds[0]"), without list positions; "" when it failed as a whole."""
    found = _COERCION_AT.search(message)
    return re.sub(r"\[\d+\]", "", found.group(1)) if found else ""
