"""A customer as ``salesguard.customers.v1.Customer`` wire bytes, written directly.

Setting a message's fields through the protobuf runtime costs ~10 µs a customer (each
field set is a call into upb, each Timestamp a sub-message wrapper); a page builds 50.
Writing the same fields as protobuf wire bytes in Python and letting upb parse the page
at once costs a fraction of that. The bytes are only ever parsed (into a response, or a
:class:`~salesguard_api.customers.v1.customers_pb2.Customer`), never sent as they are:
what leaves is upb's serialisation of the parsed message, so it is the same bytes as a
message built field by field (tests/unit/test_customer_wire.py compares the two).

Field numbers are those of ``proto/salesguard/customers/v1/customers.proto``; a change
there needs a change here (the test checks every field of the message is written).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DOUBLE = struct.Struct("<d")


def _varint(number: int) -> bytes:
    if number < 0:
        number += 1 << 64
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


# Varints looked up, 14 bits at a time: a whole one below 2**14 (lengths, mostly), and
# the two continued bytes of each 14 bits below the top (a Timestamp's seconds and nanos
# have 31: three lookups, not a loop of five steps).
_WHOLE = tuple(_varint(n) for n in range(1 << 14))
_CONTINUED = tuple(bytes(((n & 0x7F) | 0x80, (n >> 7) | 0x80)) for n in range(1 << 14))


def varint(number: int) -> bytes:
    """``number`` as a protobuf varint (a negative one as its 64-bit two's complement)."""
    if 0 <= number < 1 << 14:
        return _WHOLE[number]
    if 0 < number < 1 << 28:
        return _CONTINUED[number & 0x3FFF] + _WHOLE[number >> 14]
    if 0 < number < 1 << 42:
        return (
            _CONTINUED[number & 0x3FFF] + _CONTINUED[number >> 14 & 0x3FFF] + _WHOLE[number >> 28]
        )
    return _varint(number)


def length(number: int) -> bytes:
    return _WHOLE[number] if number < 1 << 14 else varint(number)


def tag(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def text(field_tag: bytes, value: str) -> bytes:
    """A string field (nothing when empty: proto3 leaves it out)."""
    if not value:
        return b""
    data = value.encode()
    return field_tag + length(len(data)) + data


def raw(field_tag: bytes, data: bytes) -> bytes:
    """A string field of UTF-8 bytes (nothing when empty)."""
    if not data:
        return b""
    return field_tag + length(len(data)) + data


def enum(field_tag: bytes, number: int) -> bytes:
    return field_tag + varint(number) if number else b""


# Customer's fields.
ID, CODE, NAME, COMPANY = tag(1, 2), tag(2, 2), tag(3, 2), tag(4, 2)
PHONE, EMAIL, ADDRESS, LOCATION = tag(5, 2), tag(6, 2), tag(7, 2), tag(8, 2)
SOURCE, SOURCE_DETAIL = tag(9, 0), tag(10, 2)
OWNER_ID, TEAM_ID, BRANCH_ID = tag(11, 2), tag(12, 2), tag(13, 2)
FIRST_CONTACT_AT, REGISTERED_AT = tag(14, 2), tag(15, 2)
MASKED_FIELDS, STATUS, UPDATED_AT, POOLED_AT = tag(16, 2), tag(17, 0), tag(18, 2), tag(19, 2)
CONTACT_TAGS = {"phone": PHONE, "email": EMAIL, "address": ADDRESS}
# GeoPoint's and Timestamp's.
_LAT, _LNG = tag(1, 1), tag(2, 1)
_SECONDS, _NANOS = tag(1, 0), tag(2, 0)
_LOCATION_HEAD = LOCATION + varint(18) + _LAT
# A Timestamp of five-byte seconds: the last byte of its seconds with the nanos' tag;
# its length and the seconds' tag when it has no nanos.
_NANOS_HEAD = tuple(bytes((n,)) + _NANOS for n in range(1 << 7))
_SECONDS_HEAD = varint(6) + _SECONDS


def timestamp(field_tag: bytes, value: datetime | None) -> bytes:
    """A Timestamp field as :func:`salesguard.timeutil.set_timestamp` sets it: present for
    any time (naive ones taken as UTC), absent for None."""
    if value is None:
        return b""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    nanos = delta.microseconds * 1000
    # Seconds since 1970 within 2**28 .. 2**35 (1978 .. 3058): five bytes, written out
    # here (a list's times, nearly always).
    if 1 << 28 <= seconds < 1 << 35:
        if nanos >= 1 << 28:
            # Five bytes of nanos too (from 0.268 s on: most times), written out as well.
            return b"".join(
                (
                    field_tag,
                    _WHOLE[12],
                    _SECONDS,
                    _CONTINUED[seconds & 0x3FFF],
                    _CONTINUED[seconds >> 14 & 0x3FFF],
                    _NANOS_HEAD[seconds >> 28],
                    _CONTINUED[nanos & 0x3FFF],
                    _CONTINUED[nanos >> 14 & 0x3FFF],
                    _WHOLE[nanos >> 28],
                )
            )
        if nanos:
            encoded_nanos = varint(nanos)
            return b"".join(
                (
                    field_tag,
                    _WHOLE[7 + len(encoded_nanos)],
                    _SECONDS,
                    _CONTINUED[seconds & 0x3FFF],
                    _CONTINUED[seconds >> 14 & 0x3FFF],
                    _NANOS_HEAD[seconds >> 28],
                    encoded_nanos,
                )
            )
        return b"".join(
            (
                field_tag,
                _SECONDS_HEAD,
                _CONTINUED[seconds & 0x3FFF],
                _CONTINUED[seconds >> 14 & 0x3FFF],
                _WHOLE[seconds >> 28],
            )
        )
    body = (_SECONDS + varint(seconds) if seconds else b"") + (
        _NANOS + varint(nanos) if nanos else b""
    )
    return field_tag + _WHOLE[len(body)] + body


def location(lat: float | None, lng: float | None) -> bytes:
    """The GeoPoint field, present when both coordinates are. Both are written, zeros
    too: the parse that follows sets them as assigning them would, and its serialisation
    leaves out what proto3 leaves out."""
    if lat is None or lng is None:
        return b""
    return _LOCATION_HEAD + _DOUBLE.pack(lat) + _LNG + _DOUBLE.pack(lng)


def strings(field_tag: bytes, values: Iterable[str]) -> bytes:
    """A repeated string field, in order (empty strings included, as repeated fields keep
    them)."""
    out = []
    for value in values:
        data = value.encode()
        out.append(field_tag + length(len(data)) + data)
    return b"".join(out)


def message(field_tag: bytes, body: bytes) -> bytes:
    """A message field (or an element of a repeated one) holding ``body``."""
    return field_tag + length(len(body)) + body
