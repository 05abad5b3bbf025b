"""Fields that follow an ID to another type through the request's DataLoaders
(batched per request: a page costs a fixed number of calls, never one per item).

A type that names another by ID (an order's owner, a payment's branch) keeps the ID
private and exposes the linked object with ``EMPLOYEE.field("owner_id")``: one
resolver shape for every link, batched per request, null when the ID is empty or the
service leaves it out (unknown, or outside the caller's scope).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry

from salesguard_gateway.context import Info

M = TypeVar("M")
T = TypeVar("T")


@dataclass(frozen=True)
class Link(Generic[M, T]):
    """How to reach a ``target`` by ID: the request's loader for it and the conversion."""

    target: type[T]
    loader: Callable[[Info], Callable[[str], Awaitable[M | None]]]
    convert: Callable[[M], T]

    async def load(self, info: Info, target_id: str) -> T | None:
        """The linked object; None for an empty ID or one the service leaves out."""
        if not target_id:
            return None
        message = await self.loader(info)(target_id)
        return self.convert(message) if message is not None else None

    def field(self, id_attribute: str, description: str | None = None) -> Any:
        """A GraphQL field of type ``target`` (nullable) for the ID held in ``id_attribute``."""
        load = self.load

        async def resolve(root: Any, info: Info) -> T | None:
            return await load(info, getattr(root, id_attribute) or "")

        return strawberry.field(
            resolver=resolve, graphql_type=self.target | None, description=description
        )
