"""The resolver shapes every domain module shares, written once: a list RPC answered as a
connection (:class:`Listing`), and the fields that read one object by its global ID
(:func:`by_id`), list a connection with a filter (:func:`listed`) or list what one object
owns (:func:`owned`).

A field made here has the arguments, descriptions and types a hand-written resolver
would have (``first``/``after``, ``last``/``before`` with the shared descriptions of
schema/arguments.py); the GraphQL schema cannot tell them apart.

No ``from __future__ import annotations`` here: the resolvers' argument annotations are
built from the factories' parameters (a filter's type, an argument's description), so
they must be evaluated where they are written.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Annotated, Any, Generic, Protocol, TypeVar, cast, get_type_hints

import strawberry

from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.clients import ServiceClients
from salesguard_gateway.context import Info
from salesguard_gateway.schema.arguments import AFTER, BEFORE, FIRST, LAST
from salesguard_gateway.schema.common import (
    Connection,
    Paging,
    ToProto,
    filter_proto,
    page_of,
)
from salesguard_gateway.schema.nodes import GlobalID, raw_id, type_name_of

T = TypeVar("T")
R = TypeVar("R", bound=Callable[..., Any])
F = TypeVar("F")
F_contra = TypeVar("F_contra", contravariant=True)

First = Annotated[int | None, strawberry.argument(description=FIRST)]
After = Annotated[str | None, strawberry.argument(description=AFTER)]
Last = Annotated[int | None, strawberry.argument(description=LAST)]
Before = Annotated[str | None, strawberry.argument(description=BEFORE)]


def _no_fields(info: Info) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class Listing(Generic[T]):
    """A list RPC: the ``client`` (a :class:`ServiceClients` attribute) whose method the
    ``request`` message is named after (``ListOrdersRequest``: ``ListOrders``), the
    repeated field of its answer holding the ``items``, and their conversion. The request
    takes a ``filter`` of ``filter_message`` when it has one, and ``query_fields`` that
    depend on the query (whether contact fields are selected)."""

    client: str
    request: Callable[..., Any]
    items: str
    convert: Callable[[Any], T]
    filter_message: Callable[..., Any] | None = None
    query_fields: Callable[[Info], Mapping[str, Any]] = field(default=_no_fields)

    def rpc(self, clients: ServiceClients) -> Callable[[Any], Awaitable[Any]]:
        method = self.request.DESCRIPTOR.name.removesuffix("Request")  # type: ignore[attr-defined]
        return cast(Callable[[Any], Awaitable[Any]], getattr(getattr(clients, self.client), method))

    async def page(
        self,
        info: Info,
        paging: Paging,
        filter: ToProto[Any] | None = None,
        /,
        **fixed: str | None,
    ) -> Connection[T]:
        """One page, with the filter given and the fields a parent fixes (an employee's
        orders: the filter's ``submitted_by``; a customer's follow-ups, without a filter:
        the request's ``customer_id``)."""
        fields = dict(self.query_fields(info))
        if self.filter_message is not None:
            fields["filter"] = filter_proto(filter, self.filter_message, **fixed)
        else:
            fields.update(fixed)
        response = await self.rpc(info.context.clients)(
            self.request(page=paging.request(info), **fields)
        )
        return page_of(response, getattr(response, self.items), self.convert, paging)

    async def first(
        self,
        info: Info,
        first: int | None,
        after: str | None,
        filter: ToProto[Any] | None = None,
        /,
        **fixed: str | None,
    ) -> Connection[T]:
        """A page read forward: ``first`` items after the cursor ``after``."""
        return await self.page(info, Paging(first, after), filter, **fixed)

    async def by_ids(self, info: Info, ids: Sequence[str], **fields: Any) -> list[T]:
        """The items among ``ids`` the caller may see, in one call (Relay's ``nodes``): the
        filter's ``ids``, one page as large as the batch, and the request's ``fields``."""
        assert self.filter_message is not None, "a list by IDs filters by them"
        response = await self.rpc(info.context.clients)(
            self.request(
                filter=self.filter_message(ids=list(ids)),
                page=common_pb2.PageRequest(page_size=len(ids)),
                **fields,
            )
        )
        return [self.convert(item) for item in getattr(response, self.items)]


class Lister(Protocol[F_contra, T]):
    """Reads a page forward: ``first`` items after ``after``, within ``filter``."""

    def __call__(
        self, info: Info, first: int | None, after: str | None, filter: F_contra | None, /
    ) -> Awaitable[Connection[T]]: ...


def _nullable_connection(node: object) -> Any:
    """The GraphQL type ``<node>Connection`` (nullable), as ``Connection[Order] | None``."""
    return cast(Any, Connection)[node] | None


def by_id(
    target: type[T],
    argument: str,
    read: Callable[[Info, str], Awaitable[T]],
    description: str,
) -> Any:
    """A field ``(id: ID!): target`` reading the object whose global ID is given (one of
    another type is VALIDATION): ``read`` gets the service's own ID."""
    type_name = type_name_of(target)

    async def resolve(
        info: Info, id: Annotated[GlobalID, strawberry.argument(description=argument)]
    ) -> T:
        return await read(info, raw_id(id, type_name, "id"))

    return strawberry.field(resolver=resolve, graphql_type=target | None, description=description)


def _filter_argument(filter_type: type[Any], description: str) -> Any:
    """The type of an optional ``filter`` argument with its description."""
    return Annotated[filter_type | None, strawberry.argument(description=description)]


def listed(
    node: type[T],
    lister: Lister[F, T],
    filter_type: type[F],
    filter_description: str,
    description: str,
) -> Any:
    """A connection field ``(first, after, filter): Connection`` of ``node`` answered by
    ``lister``."""
    Filter = _filter_argument(filter_type, filter_description)

    async def resolve(
        info: Info,
        first: First = None,
        after: After = None,
        filter: Filter = None,  # type: ignore[valid-type]
    ) -> Connection[T]:
        return await lister(info, first, after, filter)

    return strawberry.field(
        resolver=resolve, graphql_type=_nullable_connection(node), description=description
    )


def paged(node: type[T], listing: Listing[T], description: str) -> Any:
    """A connection field ``(first, after): Connection`` of ``node``, without a filter."""

    async def resolve(info: Info, first: First = None, after: After = None) -> Connection[T]:
        return await listing.first(info, first, after)

    return strawberry.field(
        resolver=resolve, graphql_type=_nullable_connection(node), description=description
    )


def listed_both_ways(
    node: type[T],
    listing: Listing[T],
    filter_type: type[F],
    filter_description: str,
    description: str,
) -> Any:
    """Like :func:`listed`, also paging backwards: ``(first, after, filter, last, before)``."""

    async def resolve(
        info: Info,
        first: First = None,
        after: After = None,
        filter: _filter_argument(filter_type, filter_description) = None,  # type: ignore[valid-type]
        last: Last = None,
        before: Before = None,
    ) -> Connection[T]:
        return await listing.page(info, Paging.of(first, after, last, before), filter)

    return strawberry.field(
        resolver=resolve, graphql_type=_nullable_connection(node), description=description
    )


def owned(module: str, node: str, listing: str, owner: str, description: str) -> Any:
    """A connection field ``(first, after)`` on an object: what the ``listing`` of
    ``module`` lists of ``node`` with its filter's ``owner`` field fixed to the object's ID
    (an employee's orders). The module is read when the field is resolved, so that modules
    which link each other both ways need not import each other first."""
    graphql_type = _nullable_connection(Annotated[node, strawberry.lazy(module)])

    async def resolve(
        root: Any, info: Info, first: First = None, after: After = None
    ) -> Connection[Any]:
        found: Listing[Any] = getattr(import_module(module), listing)
        return await found.page(info, Paging(first, after), **{owner: str(root.id)})

    return strawberry.field(resolver=resolve, graphql_type=graphql_type, description=description)


def mutation(description: str, *, input: str) -> Callable[[R], R]:
    """A mutation field (``@strawberry.field`` with ``description``) whose one argument,
    ``input``, is described as ``input``: the resolver declares it plainly
    (``input: SubmitOrderInput``, or ``SubmitOrderInput | None = None`` when optional).
    Its payload is nullable, as every mutation's: an error answers null with the error."""

    def make(resolver: R) -> R:
        hints = get_type_hints(resolver)
        resolver.__annotations__["input"] = Annotated[
            hints["input"], strawberry.argument(description=input)
        ]
        return cast(
            R,
            strawberry.field(
                resolver=resolver, description=description, graphql_type=hints["return"] | None
            ),
        )

    return make


__all__ = ["After", "Before", "First", "Last", "Listing", "by_id", "listed", "mutation", "owned"]
