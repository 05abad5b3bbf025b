"""Scalars, Relay connections and the conversions every domain module shares.

Conversions build strawberry objects directly from protobuf messages (no
``MessageToDict``): a page of 50 customers is on the hot path.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from types import NoneType
from typing import Any, Generic, Protocol, TypeVar, cast, get_args, get_type_hints

import strawberry
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from strawberry.scalars import JSON
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField
from strawberry.types.scalar import ScalarDefinition

from salesguard.errors import InvalidInput
from salesguard.timeutil import RANGE, moment_in_range, parse_day
from salesguard.timeutil import to_timestamp as to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.inputs import InvalidScalar

T = TypeVar("T")
M = TypeVar("M")
P = TypeVar("P", covariant=True)
E = TypeVar("E", bound=Enum)
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


def _selects(selections: Iterable[Selection], path: Sequence[str], names: frozenset[str]) -> bool:
    for selection in selections:
        if not _included(selection):
            continue
        if not isinstance(selection, SelectedField):
            if _selects(selection.selections, path, names):
                return True
        elif path:
            if selection.name == path[0] and _selects(selection.selections, path[1:], names):
                return True
        elif selection.name in names:
            return True
    return False


def selects(info: Info, names: frozenset[str], path: Sequence[str] = ()) -> bool:
    """Whether the query asks, under this field and ``path``, for any of ``names``."""
    return any(_selects(field.selections, path, names) for field in info.selected_fields)


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


# --- conversions ------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_timestamp(stamp: Timestamp) -> datetime | None:
    """None for an unset Timestamp (proto3 gives a zero one)."""
    seconds = stamp.seconds
    nanos = stamp.nanos
    if seconds == 0 and nanos == 0:
        return None
    # A third faster than Timestamp.ToDatetime, and this runs 3 times per customer.
    return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


def from_civil_date(text: str) -> date | None:
    """The directory's civil dates ("YYYY-MM-DD", empty when unknown)."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def civil_date(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def optional_decimal(value: common_pb2.Decimal) -> Decimal | None:
    """A service's Decimal; None when unset."""
    return Decimal(value.value) if value.value else None


def amount(value: common_pb2.Decimal) -> Decimal:
    """A Decimal the service always sets (totals, prices, amounts)."""
    return Decimal(value.value or "0")


@strawberry.type(
    description=(
        "An amount of money with its currency, so that no amount is read without it. The "
        "currency is an ISO 4217 code as a String, not an enum: the currencies accepted are "
        "the deployment's (settings), and a new one must not change the schema."
    )
)
class Money:
    amount: Decimal = strawberry.field(description='Exact, never a float, e.g. "1234.50".')
    currency: str = strawberry.field(description='ISO 4217, e.g. "CNY".')


def money(value: common_pb2.Decimal, currency: str) -> Money:
    """An amount the service always sets, in ``currency``."""
    return Money(amount=amount(value), currency=currency)


def optional_money(value: common_pb2.Decimal, currency: str) -> Money | None:
    """None when the service left the amount, or its currency, unset."""
    number = optional_decimal(value)
    return Money(amount=number, currency=currency) if number is not None and currency else None


def to_decimal(value: Decimal | None) -> common_pb2.Decimal | None:
    """As the client wrote it: the service checks places and sign and names the field."""
    return common_pb2.Decimal(value=str(value)) if value is not None else None


def copied(make: type[T], source: Any, **given: Any) -> T:
    """A ``make`` (a strawberry type) from the same-named fields of ``source`` (a message),
    but for those ``given``. Only the fields its constructor takes: not the ones a resolver
    answers (``id`` of a Node is taken, its global form is not)."""
    names = (field.name for field in dataclasses.fields(cast(Any, make)) if field.init)
    return make(**{name: getattr(source, name) for name in names if name not in given}, **given)


def converted(make: type[T], message: Any, /, **given: Any) -> T:
    """A ``make`` (a strawberry type) from a service's ``message``: each field the
    constructor requires from the same-named field of the message, converted as the
    field's type says (:func:`conversion`), but for those ``given``."""
    values = {
        name: getattr(message, name) if convert is None else convert(getattr(message, name))
        for name, convert in _conversions(cast(type, make))
        if name not in given
    }
    return make(**values, **given)


@functools.cache
def _conversions(make: type) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    hints = get_type_hints(make)
    return tuple(
        (field.name, conversion(hints[field.name]))
        for field in dataclasses.fields(cast(Any, make))
        if field.init
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    )


def conversion(annotation: Any) -> Callable[[Any], Any] | None:
    """How a message's field becomes a value of ``annotation``; None: as it is.

    A moment or a day (``datetime | None``: a Timestamp, ``date | None``: a civil date)
    is None when unset, as text (``str | None``) is when empty; a proto enum (``E | None``)
    is its member by number, a code enum (string values) its member by code, unset or
    unknown: None; a repeated string a list."""
    if annotation == datetime | None:
        return from_timestamp
    if annotation == date | None:
        return from_civil_date
    if annotation == str | None:
        return optional
    if annotation == list[str]:
        return list
    members = [arg for arg in get_args(annotation) if arg is not NoneType]
    if not (len(members) == 1 and isinstance(members[0], type) and issubclass(members[0], Enum)):
        return None
    enum = members[0]
    if all(isinstance(member.value, int) for member in enum):
        return enum_lookup(enum)
    from salesguard_gateway.schema.enums import code_of

    return functools.partial(code_of, enum)


def upload_size(size_bytes: int) -> int:
    """The size an upload URL is signed for: the exact byte count, positive."""
    if size_bytes <= 0:
        raise InvalidInput("size_bytes", "size_bytes must be a positive number of bytes")
    return size_bytes


def upload_payload(make: type[T], response: Any) -> T:
    """A signed upload's payload (key, URL, headers, expiry) from a Create*Upload response."""
    return copied(
        make,
        response,
        upload_headers=JSON(dict(response.upload_headers)),
        expires_at=from_timestamp(response.expires_at),
    )


def optional(text: str) -> str | None:
    """Proto3 strings are never null; an empty one means "not set"."""
    return text or None


def enum_lookup(enum: type[E]) -> Callable[[int], E | None]:
    """Proto number to GraphQL enum (members' values are the proto numbers); 0 → None."""
    by_number: dict[int, E] = {member.value: member for member in enum}
    return by_number.get


def enum_numbers(values: Iterable[Enum] | None) -> list[Any]:
    """GraphQL enums to the proto numbers of a repeated enum field."""
    return [value.value for value in values or ()]


def struct_to_json(struct: Struct) -> dict[str, Any]:
    """A Struct as plain JSON values; integral numbers come back as ints, not 3.0."""
    return {key: _plain(value) for key, value in struct.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, Struct):
        return struct_to_json(value)
    if isinstance(value, Iterable) and not isinstance(value, str):
        return [_plain(item) for item in value]
    return value


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
