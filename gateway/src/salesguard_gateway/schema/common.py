"""Scalars, Relay connections and the helpers every domain module shares.

The conversions from protobuf messages are in schema/conversions.py.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, Protocol, TypeVar, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField
from strawberry.types.scalar import ScalarDefinition

from salesguard.errors import InvalidInput
from salesguard.timeutil import RANGE, moment_in_range, parse_day
from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.inputs import InvalidScalar

T = TypeVar("T")
M = TypeVar("M")
P = TypeVar("P", covariant=True)
F = TypeVar("F", bound=Callable[..., Any])


def described(description: str) -> Callable[[F], F]:
    """``@strawberry.field(description=...)`` that keeps the resolver's type for mypy."""
    return cast(Callable[[F], F], strawberry.field(description=description))


def idempotency_key_field(
    description: str = "A retried request with the same key returns the first result.",
) -> Any:
    """The optional ``idempotencyKey`` every create-type mutation's input accepts."""
    return strawberry.field(default=None, description=description)


# --- scalars ---------------------------------------------------------------


def _serialize_datetime(value: datetime) -> str:
    return value.isoformat()


def parse_datetime(value: object) -> datetime:
    """A DateTime input: ISO-8601 with a UTC offset, within the accepted range."""
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidScalar(
            "DateTime must be an ISO-8601 string, e.g. 2025-05-01T09:30:00+08:00", value
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidScalar(
            f"{value!r} is not an ISO-8601 date-time, e.g. 2025-05-01T09:30:00+08:00", value
        ) from None
    if parsed.tzinfo is None:
        raise InvalidScalar(f"{value!r} has no UTC offset; add one, e.g. +08:00 or Z", value)
    if not moment_in_range(parsed):
        raise InvalidScalar(f"DateTime must be {RANGE}: {value!r}", value)
    return parsed


def parse_date(value: object) -> date:
    """A Date input: YYYY-MM-DD, within the accepted range."""
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidScalar("Date must be a string YYYY-MM-DD", value)
    try:
        return parse_day(value)
    except ValueError as error:
        raise InvalidScalar(f"Date {error}", value) from None


def _serialize_decimal(value: Decimal) -> str:
    return str(value)


# Money, quantities, rates and percentages: no input needs more digits on either side.
MAX_DECIMAL_DIGITS = 18


def parse_decimal(value: object) -> Decimal:
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidScalar('Decimal must be a string, e.g. "1234.50"', value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InvalidScalar(f"{value!r} is not a decimal number", value) from None
    if not number.is_finite():
        raise InvalidScalar("Decimal must be finite", value)
    if number and not -MAX_DECIMAL_DIGITS <= number.adjusted() < MAX_DECIMAL_DIGITS:
        raise InvalidScalar(
            f"Decimal must be below 1E{MAX_DECIMAL_DIGITS} with at most "
            f"{MAX_DECIMAL_DIGITS} decimal places: {value!r}",
            value,
        )
    return number


DateTimeScalar: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    description=(
        f"An ISO-8601 date-time with a UTC offset, e.g. 2025-05-01T09:30:00+08:00, {RANGE}."
    ),
    serialize=_serialize_datetime,
    parse_value=parse_datetime,
)
DateScalar: ScalarDefinition = strawberry.scalar(
    name="Date",
    description=f"A calendar date YYYY-MM-DD, e.g. 2025-05-01, {RANGE}.",
    serialize=date.isoformat,
    parse_value=parse_date,
)
DecimalScalar: ScalarDefinition = strawberry.scalar(
    name="Decimal",
    description='A decimal number as a string, e.g. "1234.50"; never a float.',
    serialize=_serialize_decimal,
    parse_value=parse_decimal,
)
# graphql-core parses an inline literal with the same parse_value (its default
# parse_literal), so a value written in the query and one sent as a variable meet
# the same checks.
SCALARS: Mapping[object, ScalarDefinition] = {
    datetime: DateTimeScalar,
    date: DateScalar,
    Decimal: DecimalScalar,
}

__all__ = ["JSON"]

# --- Relay connections -----------------------------------------------------


@strawberry.type(description="Where a page of a connection stands (the Relay spec's PageInfo).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description=(
            "Whether more items follow: ask again with after: endCursor. Paging backwards, "
            "true when the page was read before a cursor."
        )
    )
    has_previous_page: bool = strawberry.field(
        description=(
            "Whether items precede the page. Paging backwards (last/before: alerts, "
            "employeeTimeline, auditEvents), ask again with before: startCursor. Paging "
            "forward (first/after) it is false, as the Relay spec allows."
        )
    )
    start_cursor: str | None = strawberry.field(
        description="The first edge's cursor; null on an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor, to pass as after; null on an empty page."
    )

    @classmethod
    def forward(cls, cursors: Sequence[str], has_next_page: bool) -> PageInfo:
        """A page read forward whose edges have ``cursors``."""
        return cls(
            has_next_page=has_next_page,
            has_previous_page=False,
            start_cursor=(cursors[0] or None) if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )

    @classmethod
    def backward(
        cls, cursors: Sequence[str], has_previous_page: bool, *, from_cursor: bool
    ) -> PageInfo:
        """A page read backward (last/before) whose edges have ``cursors``: items follow it
        when it was read from a cursor (the ``before`` edge at least), none at the end."""
        return cls(
            has_next_page=from_cursor,
            has_previous_page=has_previous_page,
            start_cursor=(cursors[0] or None) if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )


@strawberry.type(
    description=(
        "One item of a connection's page (Relay edge): the item and the cursor to resume after it."
    )
)
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description=(
            "Opaque: pass it as after to get the items that follow this one. Empty when the "
            "list resumes only from the page's end (then use pageInfo.endCursor)."
        )
    )
    node: T = strawberry.field(description="The item.")


@strawberry.type(
    description=(
        "One page of a list (a Relay connection), in the list's order: its items, where the page "
        "stands and how many items the whole list holds. Only what the caller may see is listed."
    )
)
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The page's items, each with its cursor.")
    page_info: PageInfo = strawberry.field(description="Whether more items follow, and from where.")
    total_count: int = strawberry.field(
        description=(
            "How many items the whole list holds (every page, within the filter and what the "
            "caller may see)."
        )
    )


TOTAL_COUNT = frozenset({"totalCount"})

# An export's downloadUrl (C9): what the frontends must know to follow it.
DOWNLOAD_URL_DESCRIPTION = (
    "A one-time download (README, Exports): GET it with the bearer token of the employee "
    "who exported, once, before downloadUrlExpiresAt; any other caller gets 403, a second "
    "GET 410. Every attempt is audited."
)


@dataclasses.dataclass(frozen=True)
class Paging:
    """A connection's paging arguments, checked: forward (first/after) or backward
    (last/before). Page sizes were range-checked before execution (limits.InputLimits)."""

    size: int | None
    cursor: str | None
    backward: bool = False

    @classmethod
    def of(
        cls,
        first: int | None,
        after: str | None,
        last: int | None = None,
        before: str | None = None,
    ) -> Paging:
        if last is None and before is None:
            return cls(first, after)
        if first is not None:
            raise InvalidInput("first", "first pages forward: page backwards with last alone")
        if after is not None:
            raise InvalidInput("after", "after pages forward: page backwards with before")
        return cls(last, before, backward=True)

    def request(self, info: Info) -> common_pb2.PageRequest:
        """The services' page request."""
        return common_pb2.PageRequest(
            page_size=first_size(self.size, info),
            page_token=self.cursor or "",
            include_total_count=selects(info, TOTAL_COUNT),
            backward=self.backward,
        )

    def page_info(self, cursors: Sequence[str], has_more: bool) -> PageInfo:
        """``has_more``: whether more items lie the way the page was read."""
        if self.backward:
            return PageInfo.backward(cursors, has_more, from_cursor=bool(self.cursor))
        return PageInfo.forward(cursors, has_more)


FORWARD = Paging(None, None)


def first_size(first: int | None, info: Info) -> int:
    """``first``, or the default page size when absent; ``first`` was checked against
    ``max_page_size`` before execution (limits.InputLimits)."""
    return info.context.settings.default_page_size if first is None else first


def page_request(first: int | None, after: str | None, info: Info) -> common_pb2.PageRequest:
    """The services' page request; ``first`` was range-checked before execution (limits.py)."""
    return Paging(first, after).request(info)


class ListResponse(Protocol):
    """What every list RPC answers besides its items."""

    @property
    def cursors(self) -> Sequence[str]: ...

    @property
    def page_info(self) -> common_pb2.PageInfo: ...


def page_of(
    response: ListResponse,
    items: Iterable[M],
    convert: Callable[[M], T],
    paging: Paging = FORWARD,
) -> Connection[T]:
    """A list RPC's answer as a connection of its ``items``, each converted."""
    return connection(
        [convert(item) for item in items], response.cursors, response.page_info, paging
    )


class ToProto(Protocol[P]):
    def to_proto(self) -> P: ...


def filter_proto(given: ToProto[P] | None, empty: Callable[[], P], **fixed: str | None) -> P:
    """A filter input as its message, with the fields a parent fixes (an employee's orders)."""
    message = given.to_proto() if given is not None else empty()
    for name, value in fixed.items():
        if value is not None:
            setattr(message, name, value)
    return message


def connection(
    nodes: Sequence[T],
    cursors: Sequence[str],
    page_info: common_pb2.PageInfo,
    paging: Paging = FORWARD,
) -> Connection[T]:
    """A connection from a list RPC's items, per-item cursors and page info."""
    if len(cursors) != len(nodes):
        # The service gave no per-item cursors: only the last item can be resumed from.
        cursors = [""] * (len(nodes) - 1) + [page_info.next_page_token] if nodes else []
    edges = [Edge(cursor=cursor, node=node) for node, cursor in zip(nodes, cursors, strict=True)]
    return Connection(
        edges=edges,
        page_info=paging.page_info(cursors, page_info.has_next_page),
        total_count=page_info.total_count,
    )


# --- selections --------------------------------------------------------------

Selection = SelectedField | FragmentSpread | InlineFragment


def _included(selection: Selection) -> bool:
    directives = selection.directives
    if "skip" in directives and directives["skip"].get("if"):
        return False
    return not ("include" in directives and not directives["include"].get("if", True))


def _selected(
    selections: Iterable[Selection], path: Sequence[str], names: frozenset[str], found: set[str]
) -> None:
    """Adds to ``found`` which of ``names`` ``selections`` ask for under ``path``."""
    for selection in selections:
        if not _included(selection):
            continue
        if not isinstance(selection, SelectedField):
            _selected(selection.selections, path, names, found)
        elif path:
            if selection.name == path[0]:
                _selected(selection.selections, path[1:], names, found)
        elif selection.name in names:
            found.add(selection.name)


def selected(info: Info, names: frozenset[str], path: Sequence[str] = ()) -> frozenset[str]:
    """Which of ``names`` the query asks for under this field and ``path``."""
    key = _selection_key(info, names, path)
    if key is None:
        return _selected_now(info, names, path)
    known = _SELECTED.get(key)
    if known is not None:
        return known[1]
    answer = _selected_now(info, names, path)
    if len(_SELECTED) >= MAX_SELECTIONS_KEPT:
        _SELECTED.clear()
    _SELECTED[key] = (info.operation, answer)
    return answer


def selects(info: Info, names: frozenset[str], path: Sequence[str] = ()) -> bool:
    """Whether the query asks, under this field and ``path``, for any of ``names``."""
    return bool(selected(info, names, path))


def _selected_now(info: Info, names: frozenset[str], path: Sequence[str]) -> frozenset[str]:
    found: set[str] = set()
    for field in info.selected_fields:
        _selected(field.selections, path, names, found)
    return frozenset(found)


# What selected() answered, per operation (its parsed node, the same object for the same
# text while the parser's cache holds it), field (its path, each step with its parent
# type, list indices left out), names and path: a page of customers asks twice per request
# (contact fields, totalCount), and working it out converts the field's whole selection.
# Only operations whose text holds no directive are kept: their selections do not depend
# on variables. Each entry holds its operation, so an id is never reused meanwhile.
MAX_SELECTIONS_KEPT = 1024
_SELECTED: dict[tuple[Any, ...], tuple[Any, frozenset[str]]] = {}


def _selection_key(
    info: Info, names: frozenset[str], path: Sequence[str]
) -> tuple[Any, ...] | None:
    query = info.query
    if query is None or "@" in query:
        return None
    steps: list[tuple[str, str | None]] = []
    step: Any = info.path
    while step is not None:
        if isinstance(step.key, str):
            steps.append((step.key, step.typename))
        step = step.prev
    return (id(info.operation), tuple(steps), names, tuple(path))


# --- geography --------------------------------------------------------------


@strawberry.type(description="A point on the earth, as GPS gives it (WGS 84, in degrees).")
class Location:
    lat: float = strawberry.field(description="Latitude in degrees, -90 to 90 (north positive).")
    lng: float = strawberry.field(description="Longitude in degrees, -180 to 180 (east positive).")


@strawberry.input(description="A point on the earth, as GPS gives it (WGS 84, in degrees).")
class LocationInput:
    lat: float = strawberry.field(
        description="Latitude in degrees, -90 to 90 (north positive); else VALIDATION."
    )
    lng: float = strawberry.field(
        description="Longitude in degrees, -180 to 180 (east positive); else VALIDATION."
    )

    def to_proto(self) -> common_pb2.GeoPoint:
        return common_pb2.GeoPoint(lat=self.lat, lng=self.lng)


def location(point: common_pb2.GeoPoint) -> Location:
    return Location(lat=point.lat, lng=point.lng)


# --- composite cursors -------------------------------------------------------


def encode_state(state: Mapping[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_state(cursor: str, field: str = "after") -> dict[str, Any]:
    if len(cursor) > 4096:
        raise InvalidInput(field, "the cursor is too long")
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput(field, "the cursor is malformed") from None
    if not isinstance(state, dict):
        raise InvalidInput(field, "the cursor is malformed")
    return state


def source_state(after: str | None, keys: Iterable[str], field: str = "after") -> dict[str, str]:
    """A composite cursor as each source's page token ("" = from its start)."""
    state = dict.fromkeys(keys, "")
    if after:
        decoded = decode_state(after, field)
        for key in state:
            token = decoded.get(key, "")
            if not isinstance(token, str):
                raise InvalidInput(field, "the cursor is malformed")
            state[key] = token
    return state
