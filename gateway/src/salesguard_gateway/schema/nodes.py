"""Relay object identification: global IDs and the ``Node`` interface.

Every entity the API answers (a customer, an order, an alert, an employee, ...) is a
``Node``: its ``id`` is a *global ID*, the Relay convention's base64 of
``"<Type>:<the owning service's ID>"`` (strawberry's ``GlobalID``). It is unique across
types (the people directory numbers employees, teams and branches alike, so the same
service ID can name an employee and a branch), stable, and opaque: clients store and
send it back, never build or parse it. ``node(id:)`` / ``nodes(ids:)`` refetch any of
them (schema/node_query.py).

Every ID a client sends (an argument, an input field) is such a global ID, annotated
``GlobalID`` so strawberry decodes it at the edge (a value that is not one is
VALIDATION); :func:`raw_id` then checks it names the expected type and hands the
service's own ID on. Every ID the API answers is one too: an entity's ``id`` through
this interface, a reference to another entity through :func:`global_id`.
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Iterable
from typing import Any

import strawberry
from strawberry.relay import GlobalID

from salesguard.errors import InvalidInput
from salesguard_gateway.inputs import NOT_TEXT, is_text

__all__ = ["GlobalID", "Node", "global_id", "global_ids", "raw_id", "raw_ids", "type_name_of"]


_TYPE_NAMES: dict[type, str] = {}


def type_name_of(cls: type) -> str:
    """The GraphQL name of a strawberry type (cached: asked once per node answered)."""
    name = _TYPE_NAMES.get(cls)
    if name is None:
        name = _TYPE_NAMES[cls] = str(cls.__strawberry_definition__.name)  # type: ignore[attr-defined]
    return name


@strawberry.interface(
    description=(
        "An object with a global ID (Relay): refetch it with node(id:), keep it in a "
        "client cache by its id."
    )
)
class Node:
    # The owning service's ID; the GraphQL ``id`` is its global form.
    id: strawberry.Private[str]

    @strawberry.field(  # type: ignore[untyped-decorator]
        name="id",
        description=(
            "The global ID: unique across every type, stable and opaque (store it, send it "
            "back, never parse it). Every ID argument takes these."
        ),
    )
    def global_id(self) -> strawberry.ID:
        return global_id(type_name_of(type(self)), self.id)


def global_id(type_name: str, service_id: str) -> strawberry.ID:
    """The global ID of the ``type_name`` the owning service calls ``service_id``."""
    if type(service_id) is str:
        # What str(GlobalID(...)) answers, without building one: it runs once per node.
        return strawberry.ID(b64encode(f"{type_name}:{service_id}".encode()).decode())
    return strawberry.ID(str(GlobalID(type_name, service_id)))


def global_ids(type_name: str, service_ids: Iterable[str]) -> list[strawberry.ID]:
    return [global_id(type_name, service_id) for service_id in service_ids]


def raw_id(value: GlobalID | None, type_name: str, field: str) -> str:
    """The service's ID behind a global ID a client sent for ``field``; "" for none.

    A global ID of another type is refused (VALIDATION naming the field): a client that
    sends an order's ID as a customer's made a mistake worth telling, not a lookup that
    quietly finds nothing."""
    if value is None:
        return ""
    if value.type_name != type_name or not value.node_id:
        raise InvalidInput(field, f"{field} must be the ID of a {type_name}")
    return service_id_of(value, field)


def service_id_of(value: GlobalID, field: str) -> str:
    """The service's ID inside a global ID, held to the edge's rule for every string: the
    base64 hides what limits.py checks in plain strings (U+0000, lone surrogates)."""
    if not is_text(value.node_id):
        raise InvalidInput(field, f"{field} {NOT_TEXT}")
    return value.node_id


def raw_ids(values: Iterable[GlobalID] | None, type_name: str, field: str) -> list[str]:
    return [raw_id(value, type_name, field) for value in values or ()]


def reference(
    type_name: str, attribute: str, name: str, description: str, *, required: bool = False
) -> Any:
    """A GraphQL ``ID`` field ``name``: the global ID of the ``type_name`` whose service ID
    the object keeps in ``attribute`` (null when empty, unless ``required``: ``ID!``).
    Beside a link to the object: the ID is answered even when the caller may not see
    what it names."""

    def resolve(root: Any) -> strawberry.ID | None:
        service_id = getattr(root, attribute)
        return global_id(type_name, service_id) if service_id or required else None

    graphql_type = strawberry.ID if required else strawberry.ID | None
    return strawberry.field(
        resolver=resolve, name=name, graphql_type=graphql_type, description=description
    )


def references(type_name: str, attribute: str, name: str, description: str) -> Any:
    """Like :func:`reference`, for a list of service IDs (``[ID!]!``)."""

    def resolve(root: Any) -> list[strawberry.ID]:
        return global_ids(type_name, getattr(root, attribute))

    return strawberry.field(
        resolver=resolve, name=name, graphql_type=list[strawberry.ID], description=description
    )
