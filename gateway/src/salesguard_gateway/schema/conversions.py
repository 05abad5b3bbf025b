"""Conversions between protobuf messages and the schema's values, shared by every domain.

Conversions build strawberry objects directly from protobuf messages (no
``MessageToDict``): a page of 50 customers is on the hot path.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from types import NoneType
from typing import Any, TypeVar, cast, get_args, get_type_hints

import strawberry
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from strawberry.scalars import JSON

from salesguard.errors import InvalidInput
from salesguard.timeutil import to_timestamp as to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.execution import MESSAGE_READS, MessageRead

T = TypeVar("T")
E = TypeVar("E", bound=Enum)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_timestamp(stamp: Timestamp) -> datetime | None:
    """None for an unset Timestamp (proto3 gives a zero one)."""
    seconds = stamp.seconds
    nanos = stamp.nanos
    if seconds == 0 and nanos == 0:
        return None
    # A third faster than Timestamp.ToDatetime, and this runs 3 times per customer;
    # timedelta's positional arguments (days, seconds, microseconds) parse faster.
    return _EPOCH + timedelta(0, seconds, nanos // 1000)


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
    from salesguard_gateway.schema.codes import code_of

    return functools.partial(code_of, enum)


def read_on_demand(
    make: type[T],
    fields: Mapping[str, Callable[[Any], Any] | None],
    computed: Mapping[str, Callable[[Any], Any]] | None = None,
) -> Callable[[Any], T]:
    """A ``make`` (a strawberry type) from a service's message whose fields are read off
    the message when they are asked for: each of ``fields`` from the message's field of the
    same name, converted by the function given (None: as it is), each of ``computed`` by
    its function of the whole message. Together they must name every field the constructor
    requires (what a resolver answers is answered as ever). A query reads only the fields
    it selects: a page of 50 customers showing 10 of their 20 fields converts those 10.
    What it answers is a ``make`` to every reader (``isinstance``, its fields; its GraphQL
    type); a field read twice is converted twice, the conversions being free of effects."""
    computed = computed or {}
    declared = {
        field.name
        for field in dataclasses.fields(cast(Any, make))
        if field.init
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    }
    given = fields.keys() | computed.keys()
    if declared != given:
        raise TypeError(
            f"{make.__name__}: fields read on demand {sorted(given)} != {sorted(declared)}"
        )

    def init(self: Any, message: Any) -> None:
        self._message = message

    namespace: dict[str, Any] = {
        "__slots__": ("_message",),
        "__init__": init,
        "__doc__": f"A {make.__name__} read off its message on demand (conversions.read_on_demand).",
    }
    reads: dict[str, MessageRead] = {}
    for name, convert in fields.items():
        namespace[name] = _message_property(name, convert)
        reads[name] = MessageRead(namespace[name], operator.attrgetter(name), convert)
    for name, compute in computed.items():
        namespace[name] = property(functools.partial(_computed_field, compute))
    namespace[MESSAGE_READS] = reads
    return cast(Callable[[Any], T], type(f"{make.__name__}OnDemand", (make,), namespace))


def _message_property(name: str, convert: Callable[[Any], Any] | None) -> property:
    read = operator.attrgetter(f"_message.{name}")
    if convert is None:
        return property(read)
    return property(lambda self: convert(read(self)))


def _computed_field(compute: Callable[[Any], Any], view: Any) -> Any:
    return compute(view._message)


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
