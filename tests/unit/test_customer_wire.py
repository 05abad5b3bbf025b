"""A customer written as wire bytes (salesguard_customers.wire, issue 16) is the message
the protobuf runtime builds field by field: the same bytes once serialised, for rows of
every shape (contacts masked or not, unicode, no location or a zero one, pooled or not,
times before 1970 and naive ones), one by one and as a page."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from cryptography.exceptions import InvalidTag
from google.protobuf import timestamp_pb2
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import Row as SqlRow
from sqlalchemy.engine.result import SimpleResultMetaData

from salesguard.crypto import BlindIndex, FieldCipher
from salesguard.errors import InvalidInput
from salesguard.masking import mask_value
from salesguard.pagination import keyset_page
from salesguard.policy import Decision
from salesguard.policy.decision import Grant, Scope, ScopeKind
from salesguard.timeutil import set_timestamp
from salesguard_api.customers.v1 import customers_pb2 as pb
from salesguard_api.customers.v1 import pool_pb2
from salesguard_customers.contacts import CONTACT_FIELDS, Contact, ContactVault
from salesguard_customers.models import format_code
from salesguard_customers.registry import PRESENTED_NAMES, Read, Registry, row_masks
from salesguard_customers.wire import timestamp, varint

KEY = os.urandom(32)
SOURCES = [name.removeprefix("SOURCE_CHANNEL_") for name, _ in pb.SourceChannel.items()]
STATUSES = [name.removeprefix("CUSTOMER_STATUS_") for name, _ in pb.CustomerStatus.items()]
TEXTS = ["", "a", "Customer 7", "张三贸易有限公司", "Ünïcödé — ✓", "x" * 200, "emoji 🎉 name"]


@dataclass(frozen=True)
class Row:
    id: str
    number: int
    name: str
    company: str
    source: str
    source_detail: str
    owner_id: str | None
    team_id: str | None
    branch_id: str | None
    status: str
    first_contact_at: datetime
    registered_at: datetime
    updated_at: datetime
    pooled_at: datetime | None
    lat: float | None
    lng: float | None
    phone_cipher: bytes | None
    email_cipher: bytes | None
    address_cipher: bytes | None


def a_time(rng: random.Random) -> datetime:
    moment = datetime(1900, 1, 1, tzinfo=UTC) + timedelta(
        seconds=rng.randrange(0, 300 * 365 * 86400),
        microseconds=rng.choice([0, 1, 16, 999_999, rng.randrange(1_000_000)]),
    )
    kind = rng.randrange(4)
    if kind == 0:
        return moment.replace(tzinfo=None)  # naive: taken as UTC
    if kind == 1:
        return moment.astimezone(timezone(timedelta(hours=8)))
    if kind == 2:
        return datetime(1970, 1, 1, tzinfo=UTC)  # the epoch: an empty Timestamp
    return moment


def a_row(rng: random.Random, cipher: FieldCipher) -> Row:
    row_id = f"{rng.getrandbits(128):032x}"
    values = {
        "phone": rng.choice(["", "+8613900001234", "+14155550123", "12"]),
        "email": rng.choice(["", "c1@example.com", "张@例子.中国", "noat"]),
        "address": rng.choice(TEXTS),
    }
    sealed = {
        field: cipher.encrypt(value, field=field, row_id=row_id)
        if value
        else rng.choice([None, b""])
        for field, value in values.items()
    }
    location = rng.choice([None, (0.0, 0.0), (-0.0, 121.5), (31.2304, 121.4737), (None, 1.0)])
    return Row(
        id=row_id,
        number=rng.choice([0, 1, 123, 999_999, 1_000_000, 2**40]),
        name=rng.choice(TEXTS),
        company=rng.choice(TEXTS),
        source=rng.choice(SOURCES),
        source_detail=rng.choice(["", "fair 2026", "展会"]),
        owner_id=rng.choice([None, "", "rep1", "rep2"]),
        team_id=rng.choice([None, "t1", "t2"]),
        branch_id=rng.choice([None, "hq", "b2"]),
        status=rng.choice(STATUSES),
        first_contact_at=a_time(rng),
        registered_at=a_time(rng),
        updated_at=a_time(rng),
        pooled_at=rng.choice([None, a_time(rng)]),
        lat=None if location is None else location[0],
        lng=None if location is None else location[1],
        phone_cipher=sealed["phone"],
        email_cipher=sealed["email"],
        address_cipher=sealed["address"],
    )


def reference(row: Any, contact: Contact | None, masked: frozenset[str]) -> pb.Customer:
    """The customer as built field by field before issue 16."""
    message = pb.Customer(
        id=row.id,
        code=format_code(row.number),
        name=row.name,
        company=row.company,
        source=pb.SourceChannel.Value(f"SOURCE_CHANNEL_{row.source}"),
        source_detail=row.source_detail,
        owner_id=row.owner_id or "",
        team_id=row.team_id or "",
        branch_id=row.branch_id or "",
        status=pb.CustomerStatus.Value(f"CUSTOMER_STATUS_{row.status}"),
        masked_fields=sorted(masked & set(CONTACT_FIELDS)),
    )
    set_timestamp(message.first_contact_at, row.first_contact_at)
    set_timestamp(message.registered_at, row.registered_at)
    set_timestamp(message.updated_at, row.updated_at)
    set_timestamp(message.pooled_at, row.pooled_at)
    if contact is not None:
        message.phone, message.email, message.address = contact
    if row.lat is not None and row.lng is not None:
        message.location.lat, message.location.lng = row.lat, row.lng
    return message


def reference_contact(cipher: FieldCipher, row: Any, masked: frozenset[str]) -> Contact:
    values = []
    for field in CONTACT_FIELDS:
        sealed = getattr(row, f"{field}_cipher")
        value = cipher.decrypt(sealed, field=field, row_id=row.id) if sealed else ""
        values.append(mask_value(field, value) if field in masked else value)
    return Contact(*values)


def a_decision(rng: random.Random) -> Decision:
    grants = [
        Grant(Scope(ScopeKind.OWN, employee_id="rep1"), frozenset()),
        Grant(Scope(ScopeKind.TEAM, team_id="t1"), frozenset({"email"})),
        Grant(Scope(ScopeKind.BRANCH, branch_id="hq"), frozenset(rng.sample(CONTACT_FIELDS, 2))),
        Grant(Scope(ScopeKind.ALL), frozenset(rng.choice([(), ("phone", "address", "location")]))),
    ]
    return Decision(
        allow=True,
        grants=tuple(rng.sample(grants, rng.randrange(1, 5))),
        max_rows=0,
        requires_approval=False,
        reasons=(),
    )


def registry(cipher: FieldCipher) -> Registry:
    presenter = Registry.__new__(Registry)
    presenter.vault = ContactVault(cipher, BlindIndex(KEY))
    return presenter


@pytest.mark.parametrize("seed", range(40))
def test_each_customer_is_the_message_built_field_by_field(seed: int) -> None:
    rng = random.Random(seed)
    cipher = FieldCipher(KEY)
    presenter = registry(cipher)
    for _ in range(50):
        row = a_row(rng, cipher)
        masked = frozenset(rng.sample([*CONTACT_FIELDS, "location"], rng.randrange(4)))
        contact = rng.choice([None, reference_contact(cipher, row, masked)])
        expected = reference(row, contact, masked).SerializeToString()
        assert presenter.to_proto(row, contact, masked).SerializeToString() == expected


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("include_contact", [True, False])
def test_a_page_is_the_page_built_field_by_field(seed: int, include_contact: bool) -> None:
    rng = random.Random(seed)
    cipher = FieldCipher(KEY)
    presenter = registry(cipher)
    decision = a_decision(rng)
    # As a page reads them: SQLAlchemy's rows of the presented columns.
    columns = SimpleResultMetaData(PRESENTED_NAMES)
    rows: list[Any] = [
        SqlRow(
            columns, None, columns._key_to_index, tuple(getattr(row, n) for n in PRESENTED_NAMES)
        )
        for row in (a_row(rng, cipher) for _ in range(rng.randrange(0, 52)))
    ]
    page = keyset_page(rows, 50, lambda row: (row.registered_at, row.number))

    expected = pb.ListCustomersResponse()
    shown_rows: list[Any] = []
    shown_fields: set[str] = set()
    for row in page.rows:
        masks = row_masks(decision, row)
        contact = reference_contact(cipher, row, masks) if include_contact else None
        expected.customers.append(reference(row, contact, masks))
        shown = {f for f in CONTACT_FIELDS if contact and f not in masks and getattr(contact, f)}
        if shown:
            shown_rows.append(row)
            shown_fields |= shown
    expected.cursors.extend(page.cursors)

    for response_type in (pb.ListCustomersResponse, pool_pb2.ListPoolResponse):
        encoded, unmasked, fields = presenter.present_encoded(page.rows, decision, include_contact)
        assert (unmasked, fields) == (shown_rows, shown_fields)
        built = response_type()
        presenter.fill_page(built, encoded, page.cursors)
        assert (
            built.SerializeToString()
            == response_type.FromString(expected.SerializeToString()).SerializeToString()
        )

    messages, unmasked, fields = presenter.present(page.rows, decision, include_contact)
    assert [m.SerializeToString() for m in messages] == [
        m.SerializeToString() for m in expected.customers
    ]


@pytest.mark.parametrize("seed", range(10))
def test_a_read_mask_leaves_out_only_the_optional_fields_it_does_not_name(seed: int) -> None:
    rng = random.Random(seed)
    cipher = FieldCipher(KEY)
    presenter = registry(cipher)
    decision = a_decision(rng)
    rows = [a_row(rng, cipher) for _ in range(30)]
    everything, _, _ = presenter.present_encoded(rows, decision, True)
    for _ in range(8):
        named = rng.sample(list(pb.Customer.DESCRIPTOR.fields_by_name), rng.randrange(0, 20))
        mask = FieldMask(paths=named)
        read = Read.of(mask)
        narrow, _, _ = presenter.present_encoded(rows, decision, True, read)
        for full, partial in zip(everything, narrow, strict=True):
            expected = pb.Customer.FromString(full)
            if named:
                for field in Read._fields:
                    if field not in named:
                        cast(Any, expected).ClearField(field)
            assert pb.Customer.FromString(partial) == expected


def test_a_read_mask_names_customer_fields_only() -> None:
    assert Read.of(FieldMask()) == Read()
    assert Read.of(FieldMask(paths=["id"])) == Read(*([False] * len(Read._fields)))
    assert Read.of(FieldMask(paths=["pooled_at", "location"])).pooled_at
    every = list(pb.Customer.DESCRIPTOR.fields_by_name)
    assert Read.of(FieldMask(paths=every)) == Read()
    for paths in (
        *(["id", wrong] for wrong in ("", "Id", "location.lat", "owner", "x" * 10_000)),
        [*every, "id"],
        ["id"] * 100_000,
    ):
        with pytest.raises(InvalidInput) as raised:
            Read.of(FieldMask(paths=paths))
        assert raised.value.field == "read_mask.paths"
        assert len(str(raised.value)) < 200


def test_every_field_of_the_customer_is_written() -> None:
    """A field added to the proto needs a line in wire.py: a fully set row fills them all."""
    rng = random.Random(1)
    cipher = FieldCipher(KEY)
    row = a_row(rng, cipher)
    row = Row(
        **{
            **row.__dict__,
            "name": "n",
            "company": "c",
            "source": SOURCES[1],
            "source_detail": "d",
            "owner_id": "o",
            "team_id": "t",
            "branch_id": "b",
            "status": STATUSES[1],
            "first_contact_at": datetime(2026, 1, 1, tzinfo=UTC),
            "registered_at": datetime(2026, 1, 1, tzinfo=UTC),
            "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
            "pooled_at": datetime(2026, 1, 1, tzinfo=UTC),
            "lat": 1.0,
            "lng": 2.0,
        }
    )
    message = registry(cipher).to_proto(row, Contact("p", "e", "a"), frozenset({"phone"}))
    listed = {field.name for field, _ in message.ListFields()}
    assert listed == set(pb.Customer.DESCRIPTOR.fields_by_name)


def test_a_ciphertext_of_another_row_does_not_open() -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.encrypt("+8613900001234", field="phone", row_id="r1")
    opener = cipher.opener("phone")
    assert opener(sealed, "r1") == b"+8613900001234"
    with pytest.raises(InvalidTag):
        opener(sealed, "r2")
    with pytest.raises(InvalidTag):
        cipher.opener("email")(sealed, "r1")


@pytest.mark.parametrize("number", [0, 1, 127, 128, 300, 16383, 16384, 2**40, -1, -(2**40)])
def test_varints(number: int) -> None:
    expected = timestamp_pb2.Timestamp(seconds=number).SerializeToString()
    assert b"\x08" + varint(number) == expected or number == 0


def test_timestamps() -> None:
    rng = random.Random(7)
    edges = [
        datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=2**k + d)
        for k in (28, 35)
        for d in (-1, 0, 1)
    ]
    moments = [*edges, *(a_time(rng) for _ in range(20_000))]
    for moment in moments:
        for micro in (0, moment.microsecond, 16, 2097):
            value = moment.replace(microsecond=micro)
            message = pb.Customer()
            set_timestamp(message.updated_at, value)
            assert timestamp(b"\x92\x01", value) == message.SerializeToString(), value


def test_masked_values_are_kept_only_for_their_row_and_field() -> None:
    cipher = FieldCipher(KEY)
    vault = ContactVault(cipher, BlindIndex(KEY))
    sealed = cipher.encrypt("+8613900001234", field="phone", row_id="r1")
    phone = frozenset({"phone"})
    first = vault.open_utf8("r1", (sealed, None, None), phone)
    assert first == (mask_value("phone", "+8613900001234").encode(), b"", b"")
    assert vault.open_utf8("r1", (sealed, None, None), phone) == first
    # A ciphertext copied into another row or field still does not open there.
    with pytest.raises(InvalidTag):
        vault.open_utf8("r2", (sealed, None, None), phone)
    with pytest.raises(InvalidTag):
        vault.open_utf8("r1", (None, sealed, None), frozenset({"email"}))
    # Unmasked, it is decrypted each time: no plaintext is kept.
    assert vault.open_utf8("r1", (sealed, None, None), frozenset()) == (b"+8613900001234", b"", b"")
    assert b"+8613900001234" not in vault._masked_values.values()
