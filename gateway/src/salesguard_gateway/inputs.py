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
    VariableDefinitionNode,
    VariableNode,
)

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


def enclosing_name(document: DocumentNode, wanted: Callable[[Node], bool]) -> str | None:
    """The argument or input-object field around the first node ``wanted`` picks."""
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
        if self._document is None or node is None or error.path is not None:
            return None
        if not isinstance(node, VariableDefinitionNode):
            return enclosing_name(self._document, lambda candidate: candidate is node)
        variable = node.variable.name.value
        raised = cause(error)
        if isinstance(raised, InvalidScalar) and variable in self._variables:
            key = _key_holding(self._variables[variable], raised.value)
            if key is not None:
                return key
        used = enclosing_name(
            self._document,
            lambda candidate: (
                isinstance(candidate, VariableNode) and candidate.name.value == variable
            ),
        )
        return (used or variable) + _inner_path(error.message)


# graphql-core names where in a variable's value a coercion failed:
# "Variable '$filter' has invalid value at .kinds[0]: ...".
_COERCION_AT = re.compile(r"has invalid value at ((?:\.\w+|\[\d+\])+):")


def _inner_path(message: str) -> str:
    """The input fields within a variable where its value failed (".kinds" for
    ".kinds[0]"), without list positions; "" when it failed as a whole."""
    found = _COERCION_AT.search(message)
    return re.sub(r"\[\d+\]", "", found.group(1)) if found else ""
