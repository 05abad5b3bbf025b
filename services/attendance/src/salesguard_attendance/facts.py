"""Stored rows as the facts a rule reads: a rule's dataclass names the columns it needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

Facts = TypeVar("Facts")


def facts_of(kind: Callable[..., Facts], row: object) -> Facts:
    """``kind`` (a dataclass) filled from the same-named attributes of ``row``."""
    names = getattr(kind, "__dataclass_fields__")  # noqa: B009 - a dataclass, whatever its type
    return kind(**{name: getattr(row, name) for name in names})
