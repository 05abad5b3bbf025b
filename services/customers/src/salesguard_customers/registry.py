"""The customer registry: reads, presentation and who may own a customer.

Registration is :mod:`.registration`, changes and reassignment :mod:`.changes`,
follow-ups :mod:`.follow_ups`; they share what is here. Every operation asks the policy engine once, turns the decision into a SQL
filter over the rows, and masks each row with the narrowest grant that covers
it before anything leaves the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Any, NamedTuple, Protocol, cast

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.internal.containers import (
    RepeatedCompositeFieldContainer,
    RepeatedScalarFieldContainer,
)
from sqlalchemy import DateTime, Row, Select, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from salesguard import validation
from salesguard.db import UtcDateTime, lock_keys
from salesguard.directory import DirectoryClient
from salesguard.errors import InvalidInput
from salesguard.listing import enum_filter, equal_to, period
from salesguard.pagination import (
    PAGE_AFTER_AT,
    PAGE_AFTER_KEY,
    keyset_page_by_position,
    keyset_query,
    page_after,
)
from salesguard.phones import looks_like_phone, normalise_phone
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.principal import Principal, current_principal
from salesguard.reads import (
    DriverRecord,
    DriverStatement,
    distinct_ids,
    driver_rows,
    driver_statement,
    one_by_id,
    rows_by_id,
)
from salesguard.service import Runtime
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2 as pb
from salesguard_customers import wire
from salesguard_customers.access import record_contact_reads
from salesguard_customers.contacts import (
    CONTACT_FIELDS,
    Contact,
    ContactVault,
    Sealed,
    normalise_email,
)
from salesguard_customers.models import Customer, format_code
from salesguard_customers.rules.ownership import owner_lock_key
from salesguard_customers.rules.registration import owner_of_registration
from salesguard_customers.settings import CustomersSettings

SCOPE = ScopeColumns(owner=Customer.owner_id, team=Customer.team_id, branch=Customer.branch_id)

SOURCES = validation.enum_names(pb.SourceChannel, "SOURCE_CHANNEL_")
STATUSES = validation.enum_names(pb.CustomerStatus, "CUSTOMER_STATUS_")
# A row's source and status as the proto's enum numbers.
_SOURCE_NUMBERS = {
    name.removeprefix("SOURCE_CHANNEL_"): number for name, number in pb.SourceChannel.items()
}
_STATUS_NUMBERS = {
    name.removeprefix("CUSTOMER_STATUS_"): number for name, number in pb.CustomerStatus.items()
}


# A row's source and status as their wire bytes.
_SOURCE_FIELDS = {name: wire.enum(wire.SOURCE, number) for name, number in _SOURCE_NUMBERS.items()}
_STATUS_FIELDS = {name: wire.enum(wire.STATUS, number) for name, number in _STATUS_NUMBERS.items()}


@cache
def _masked_contact_fields(masked: frozenset[str]) -> tuple[str, ...]:
    """The contact fields among ``masked``, sorted (a grant's masks: a handful of sets)."""
    return tuple(sorted(masked & set(CONTACT_FIELDS)))


class _Scope(NamedTuple):
    """What the rows of one (owner, team, branch) share in their wire bytes: the masks,
    the three scope fields and the masked_fields list, and which contact fields (by name
    and index in :data:`CONTACT_FIELDS`) go out unmasked."""

    masks: frozenset[str]
    fields: bytes
    masked_fields: bytes
    shown: tuple[tuple[str, int], ...]

    @classmethod
    def of(
        cls, owner_id: str | None, team_id: str | None, branch_id: str | None, masks: frozenset[str]
    ) -> _Scope:
        key = (owner_id, team_id, branch_id, masks)
        scope = _SCOPES.get(key)
        if scope is None:
            scope = cls(
                masks,
                wire.text(wire.OWNER_ID, owner_id or "")
                + wire.text(wire.TEAM_ID, team_id or "")
                + wire.text(wire.BRANCH_ID, branch_id or ""),
                *_masks_written(masks),
            )
            if len(_SCOPES) >= SCOPES_KEPT:
                _SCOPES.clear()
            _SCOPES[key] = scope
        return scope


# _Scope.of's answers, at most this many (then forgotten at once): a page has a handful of
# owners, each of whose scope would be written again for every page (issue 16). Only IDs
# and masks, what any row of theirs says in the clear; nothing a grant decides is kept.
SCOPES_KEPT = 4096
_SCOPES: dict[tuple[str | None, str | None, str | None, frozenset[str]], _Scope] = {}


@cache
def _masks_written(masks: frozenset[str]) -> tuple[bytes, tuple[tuple[str, int], ...]]:
    """A grant's masks as the masked_fields field, and the contact fields they leave shown
    (a grant's masks: a handful of sets)."""
    return (
        wire.strings(wire.MASKED_FIELDS, _masked_contact_fields(masks)),
        tuple((field, index) for index, field in enumerate(CONTACT_FIELDS) if field not in masks),
    )


class Read(NamedTuple):
    """Which of a customer's optional fields a caller reads (ListCustomers' ``read_mask``):
    its times and location, which cost the most to write; the rest is always written."""

    first_contact_at: bool = True
    registered_at: bool = True
    updated_at: bool = True
    pooled_at: bool = True
    location: bool = True

    @classmethod
    def of(cls, mask: FieldMask) -> Read:
        """What ``mask`` names (empty: everything); a name that is no Customer field is
        refused, naming it."""
        if not mask.paths:
            return READ_ALL
        known = pb.Customer.DESCRIPTOR.fields_by_name
        if len(mask.paths) > len(known):
            raise InvalidInput("read_mask.paths", f"names more than the {len(known)} fields")
        for path in mask.paths:
            if path not in known:
                raise InvalidInput("read_mask.paths", f"{path[:64]!r} is no Customer field")
        named = set(mask.paths)
        return cls(*(field in named for field in cls._fields))


READ_ALL = Read()


def _encoded(
    values: Sequence[Any], contact: tuple[bytes, ...] | None, scope: _Scope, read: Read = READ_ALL
) -> bytes:
    """A Customer's wire bytes from a row's :data:`PRESENTED_NAMES` values: what
    :meth:`Registry.to_proto` used to set field by field, the optional fields only as
    ``read`` asks. One list of pieces joined once (a page writes 50; each concatenation
    would copy)."""
    (
        row_id,
        number,
        name,
        company,
        source,
        source_detail,
        _owner_id,
        _team_id,
        _branch_id,
        status,
        first_contact_at,
        registered_at,
        updated_at,
        pooled_at,
        lat,
        lng,
        _phone_cipher,
        _email_cipher,
        _address_cipher,
    ) = values  # all of them: a starred name would build a list per row
    length, timestamp = wire.length, wire.timestamp
    data = row_id.encode()
    code = format_code(number).encode()
    parts = [wire.ID, length(len(data)), data, wire.CODE, length(len(code)), code]
    # Empty strings are left out, as proto3 leaves them out.
    if name:
        data = name.encode()
        parts += (wire.NAME, length(len(data)), data)
    if company:
        data = company.encode()
        parts += (wire.COMPANY, length(len(data)), data)
    if contact is not None:
        phone, email, address = contact
        if phone:
            parts += (wire.PHONE, length(len(phone)), phone)
        if email:
            parts += (wire.EMAIL, length(len(email)), email)
        if address:
            parts += (wire.ADDRESS, length(len(address)), address)
    if lat is not None and lng is not None and read.location:
        parts.append(wire.location(lat, lng))
    parts.append(_SOURCE_FIELDS[source])
    if source_detail:
        data = source_detail.encode()
        parts += (wire.SOURCE_DETAIL, length(len(data)), data)
    parts.append(scope.fields)
    if read.first_contact_at:
        parts.append(timestamp(wire.FIRST_CONTACT_AT, first_contact_at))
    if read.registered_at:
        parts.append(timestamp(wire.REGISTERED_AT, registered_at))
    parts += (scope.masked_fields, _STATUS_FIELDS[status])
    if read.updated_at:
        parts.append(timestamp(wire.UPDATED_AT, updated_at))
    if pooled_at is not None and read.pooled_at:
        parts.append(timestamp(wire.POOLED_AT, pooled_at))
    return b"".join(parts)


@cache
def _page_tags(response: type[Any]) -> tuple[bytes, bytes]:
    """The tags of a page response's ``customers`` and ``cursors`` fields."""
    fields = response.DESCRIPTOR.fields_by_name
    return (
        wire.tag(fields["customers"].number, 2),
        wire.tag(fields["cursors"].number, 2),
    )


class CustomerPage(Protocol):
    """A response that holds one page of customers (ListCustomers', ListPool's)."""

    @property
    def customers(self) -> RepeatedCompositeFieldContainer[pb.Customer]: ...
    @property
    def cursors(self) -> RepeatedScalarFieldContainer[str]: ...
    @property
    def page_info(self) -> common_pb2.PageInfo: ...


class Presented(Sealed, Protocol):
    """What a customer is presented from: a :class:`Customer`, or a row of
    :data:`PRESENTED_COLUMNS` (a page's, read without the ORM)."""

    @property
    def number(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def company(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def source_detail(self) -> str: ...
    @property
    def owner_id(self) -> str | None: ...
    @property
    def team_id(self) -> str | None: ...
    @property
    def branch_id(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def first_contact_at(self) -> datetime: ...
    @property
    def registered_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def pooled_at(self) -> datetime | None: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def lng(self) -> float | None: ...


# The columns of Presented: a page reads only these, as plain rows. An ORM object costs
# ~10 µs a row to build (identity map, instance state, attribute events) for nothing a
# read needs; a page builds 50. The table's own columns, not the mapped attributes: a
# cached statement's result then matches a new one's columns by identity, where
# attributes are compared with ==, which builds an expression each.
PRESENTED_NAMES = (
    "id",
    "number",
    "name",
    "company",
    "source",
    "source_detail",
    "owner_id",
    "team_id",
    "branch_id",
    "status",
    "first_contact_at",
    "registered_at",
    "updated_at",
    "pooled_at",
    "lat",
    "lng",
    "phone_cipher",
    "email_cipher",
    "address_cipher",
)
PRESENTED_COLUMNS = tuple(Customer.__table__.c[name] for name in PRESENTED_NAMES)
# The same, its times as asyncpg reads them: already aware and in UTC, which UtcDateTime's
# result processor (a Python call for each of a page's ~200 times) would only copy.
# PostgreSQL only: SQLite's come back naive.
_PRESENTED_COLUMNS_PG = tuple(
    type_coerce(column, DateTime(timezone=True)).label(column.name)
    if isinstance(column.type, UtcDateTime)
    else column
    for column in PRESENTED_COLUMNS
)
# A row's values in that order: a page's rows (SQLAlchemy's) index and unpack as they
# are, where reading an attribute of one costs a lookup by name; anything else (a
# Customer) is read by this.
_PRESENTED_VALUES = attrgetter(*PRESENTED_NAMES)
_NUMBER = PRESENTED_NAMES.index("number")
_CIPHERS = slice(PRESENTED_NAMES.index("phone_cipher"), PRESENTED_NAMES.index("phone_cipher") + 3)


@dataclass(frozen=True)
class Owner:
    id: str
    team_id: str | None
    branch_id: str | None

    def resource(self) -> dict[str, Any]:
        return {"owner_id": self.id, "team_id": self.team_id, "branch_id": self.branch_id}


def customer_resource(customer: Customer, **extra: Any) -> dict[str, Any]:
    return {
        "owner_id": customer.owner_id,
        "team_id": customer.team_id,
        "branch_id": customer.branch_id,
        **extra,
    }


_EVERY_FIELD = frozenset(CONTACT_FIELDS)


def row_masks(decision: Decision, customer: Presented) -> frozenset[str]:
    """The fields to mask on a row: the narrowest covering grant's, or every contact field
    when no grant covers it (SQL scope filters keep such rows out; this is the backstop)."""
    masks = decision.masks_for(customer.owner_id, customer.team_id, customer.branch_id)
    return _EVERY_FIELD if masks is None else masks


# Page statements kept by Registry.list_customers, at most this many (then forgotten at
# once): one for each set of grants, filter and page asked for lately.
LIST_STATEMENTS_KEPT = 512


class PageStatements(NamedTuple):
    """A page's SELECT, its count (when asked for) and the position of its sort time in
    :data:`PRESENTED_NAMES`; for statements kept (:meth:`Registry.list_customers`), the
    SELECT and the count as the driver runs them, where it can (:func:`driver_statement`)."""

    query: Select[Any]
    counted: Select[tuple[int]] | None
    sorted_by: int
    driver: tuple[DriverStatement, ...] | None = None

    def for_driver(self, dialect: Any) -> PageStatements:
        """These statements, compiled once for the driver when both can be."""
        compiled = [
            driver_statement(statement, dialect)
            for statement in (self.query, self.counted)
            if statement is not None
        ]
        if not all(compiled):
            return self
        return self._replace(driver=tuple(cast(list[DriverStatement], compiled)))


# What present_encoded reads by position: a page's rows (SQLAlchemy's, or the driver's).
_ROW_TYPES = (Row, DriverRecord)


class Registry:
    def __init__(
        self, runtime: Runtime[CustomersSettings], vault: ContactVault, directory: DirectoryClient
    ) -> None:
        self.db = runtime.db
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.vault = vault
        self.directory = directory
        self._list_statements: dict[tuple[Any, ...], PageStatements] = {}

    # -- presentation -------------------------------------------------------

    def to_proto(
        self, customer: Presented, contact: Contact | None, masked: frozenset[str]
    ) -> pb.Customer:
        utf8 = None if contact is None else tuple(value.encode() for value in contact)
        scope = _Scope.of(customer.owner_id, customer.team_id, customer.branch_id, masked)
        return pb.Customer.FromString(_encoded(_PRESENTED_VALUES(customer), utf8, scope))

    def present_encoded(
        self,
        rows: Sequence[Presented],
        decision: Decision,
        include_contact: bool,
        read: Read = READ_ALL,
    ) -> tuple[list[bytes], list[Presented], set[str]]:
        """Each row as a Customer's wire bytes (:mod:`.wire`), masked per row, the optional
        fields as ``read`` asks; the rows whose contact fields go out unmasked, and which
        fields."""
        encoded = []
        unmasked_rows = []
        unmasked_fields: set[str] = set()
        open_contact = self.vault.open_utf8
        # The masks depend on the row's scope only: asked of the decision once per scope.
        scopes: dict[Sequence[Any], _Scope] = {}
        for row in rows:
            values = cast(
                Sequence[Any], row if isinstance(row, _ROW_TYPES) else _PRESENTED_VALUES(row)
            )
            key = values[6:9]  # owner_id, team_id, branch_id
            scope = scopes.get(key)
            if scope is None:
                owner_id, team_id, branch_id = key
                masks = decision.masks_for(owner_id, team_id, branch_id)
                scope = scopes[key] = _Scope.of(
                    owner_id, team_id, branch_id, _EVERY_FIELD if masks is None else masks
                )
            contact = (
                open_contact(values[0], values[_CIPHERS], scope.masks) if include_contact else None
            )
            encoded.append(_encoded(values, contact, scope, read))
            if contact is not None and scope.shown:
                shown = {field for field, index in scope.shown if contact[index]}
                if shown:
                    unmasked_rows.append(row)
                    unmasked_fields |= shown
        return encoded, unmasked_rows, unmasked_fields

    def present(
        self, rows: Sequence[Presented], decision: Decision, include_contact: bool
    ) -> tuple[list[pb.Customer], list[Presented], set[str]]:
        """Protos masked per row, the rows whose contact fields went out unmasked, and which
        fields."""
        encoded, unmasked_rows, unmasked_fields = self.present_encoded(
            rows, decision, include_contact
        )
        parse = pb.Customer.FromString
        return [parse(data) for data in encoded], unmasked_rows, unmasked_fields

    async def present_recorded(
        self,
        principal: Principal,
        rows: Sequence[Presented],
        decision: Decision,
        include_contact: bool,
    ) -> list[pb.Customer]:
        """:meth:`present`, recording the contact fields that leave unmasked
        (:func:`.access.record_contact_reads`)."""
        messages, unmasked, fields = self.present(rows, decision, include_contact)
        await record_contact_reads(self.db, self.policy, principal, unmasked, sorted(fields))
        return messages

    async def read_decision(self, principal: Principal) -> Decision:
        return (await self.policy.decide(principal, "customers.read")).require("customers.read")

    # -- owners -----------------------------------------------------------------

    async def owner(self, principal: Principal, owner_id: str, field: str = "owner_id") -> Owner:
        """Who will own the customer (the caller unless named), active in the directory.

        Checked for the caller too, not only for someone named: nothing new is owned by an
        employee who is not active (SPEC §2, :mod:`.rules.ownership`), even when a leaver's principal still
        reaches the service signed. The caller: FORBIDDEN; someone named: VALIDATION on
        ``field``.
        """
        owner_id = owner_of_registration(principal.id, validation.directory_id(field, owner_id))
        themselves = owner_id == principal.id
        employee = await self.directory.require_active(
            owner_id, field=None if themselves else field
        )
        if themselves:
            return Owner(principal.id, principal.team_id, principal.branch_id)
        return Owner(employee.id, employee.team_id or None, employee.branch_id or None)

    async def authorised_owner(
        self,
        principal: Principal,
        owner_id: str,
        authorise: Callable[[Owner], Awaitable[None]],
        field: str = "owner_id",
    ) -> Owner:
        """:meth:`owner`, authorised first: ``authorise`` refuses (FORBIDDEN) an owner
        outside the caller's scope before :meth:`owner`'s refusal of an unknown or
        inactive one is told, which is not the caller's to learn (issue 11 item 12)."""
        try:
            owner = await self.owner(principal, owner_id, field)
        except InvalidInput:
            # As far as the directory knows them: an unknown ID is in nobody's scope.
            known = await self.directory.employee(owner_id) if owner_id else None
            await authorise(
                Owner(
                    owner_id or principal.id,
                    (known.team_id or None) if known is not None else None,
                    (known.branch_id or None) if known is not None else None,
                )
            )
            raise
        await authorise(owner)
        return owner

    def audit_view(self, customer: Customer) -> dict[str, Any]:
        """A customer as the audit trail records it: contact fields masked, never plaintext."""
        contact = self.vault.masked(customer)
        return {
            "code": customer.code,
            "name": customer.name,
            "company": customer.company,
            "phone": contact.phone,
            "email": contact.email,
            "address": contact.address,
            "location": [customer.lat, customer.lng] if customer.lat is not None else None,
            "source": customer.source,
            "source_detail": customer.source_detail,
            "owner_id": customer.owner_id,
            "status": customer.status,
        }

    async def fence_owner(
        self, session: AsyncSession, principal: Principal, owner_id: str, field: str
    ) -> None:
        """Nothing new for an employee who is not active, even one leaving right now.

        Under the owner's lock, which a departure's handover takes as well, the directory
        must still say ACTIVE. A departure committed after this check is followed by a
        handover that waits for this transaction and moves what it wrote. Shared: new
        customers of one owner do not wait for each other, only for a handover.
        """
        await lock_keys(session, owner_lock_key(owner_id), shared=True)
        await self.directory.require_active(
            owner_id, field=None if owner_id == principal.id else field, fresh=True
        )

    # -- reads ----------------------------------------------------------------

    async def readable(self, principal: Principal, customer_id: str) -> Customer:
        """A customer the caller may read; NOT_FOUND, as for an absent one, otherwise."""
        read = await self.read_decision(principal)
        async with self.db.read() as session:
            return await one_by_id(
                session, Customer, customer_id, scope_filter(read, SCOPE), noun="customer"
            )

    async def get(self, request: pb.GetCustomerRequest) -> pb.Customer:
        principal = current_principal()
        decision = await self.read_decision(principal)
        async with self.db.read() as session:
            row = await one_by_id(
                session, Customer, request.id, scope_filter(decision, SCOPE), noun="customer"
            )
        messages = await self.present_recorded(principal, [row], decision, request.include_contact)
        return messages[0]

    async def batch_get(self, request: pb.BatchGetCustomersRequest) -> list[pb.Customer]:
        principal = current_principal()
        ids = distinct_ids(request.ids)
        decision = await self.read_decision(principal)
        async with self.db.read() as session:
            rows = await rows_by_id(session, Customer, ids, scope_filter(decision, SCOPE))
        return await self.present_recorded(principal, rows, decision, request.include_contact)

    def filter_conditions(self, customer_filter: pb.CustomerFilter) -> list[Any]:
        conditions: list[Any] = []
        query_text = validation.text(
            "filter.text", customer_filter.text, max_length=validation.NAME_LENGTH
        )
        if query_text:
            conditions.append(self._text_condition(query_text))
        conditions += equal_to((Customer.owner_id, customer_filter.owner_id))
        conditions += enum_filter(
            Customer.source, "filter.sources", customer_filter.sources, SOURCES
        )
        conditions += enum_filter(
            Customer.status, "filter.statuses", customer_filter.statuses, STATUSES
        )
        conditions += period(
            Customer.registered_at,
            customer_filter.registered_from,
            customer_filter.registered_to,
            ("registered_from", "registered_to"),
        )
        return conditions

    def _text_condition(self, query_text: str) -> Any:
        """A code, an exact phone or email (through the blind index), or part of a name or company."""
        code = query_text.upper()
        if code.startswith("C-") and code[2:].isdigit():
            return Customer.number == int(code[2:])
        if "@" in query_text:
            try:
                return Customer.email_index == self.vault.email_index(normalise_email(query_text))
            except InvalidInput:
                pass
        if looks_like_phone(query_text):
            try:
                return Customer.phone_index == self.vault.phone_index(
                    normalise_phone(query_text, self.settings.default_phone_region)
                )
            except InvalidInput:
                pass
        pattern = (
            "%"
            + query_text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        return or_(
            func.lower(Customer.name).like(pattern, escape="\\"),
            func.lower(Customer.company).like(pattern, escape="\\"),
        )

    async def list_customers(self, request: pb.ListCustomersRequest) -> pb.ListCustomersResponse:
        principal = current_principal()
        requested = validation.page_size(
            "page.page_size", request.page.page_size, self.settings.page_limits
        )
        decision = await self.read_decision(principal)
        size = decision.page_size(requested)
        # Where the page starts (a malformed token refused before anything is kept).
        after = page_after(request.page)
        read = Read.of(request.read_mask)
        # The statements are what the grants, the filter and the page asked for make of
        # them: built (and their SQLAlchemy cache key worked out) once for each. A page
        # token is not part of it: the statement names the cursor's values (named_cursor)
        # and each request binds its own.
        shape = common_pb2.PageRequest()
        shape.CopyFrom(request.page)
        shape.page_token = ""
        key = (
            decision.grants,
            request.filter.SerializeToString(),
            shape.SerializeToString(),
            after is not None,
            size,
        )
        statements = self._list_statements.get(key)
        if statements is None:
            conditions = [scope_filter(decision, SCOPE), *self.filter_conditions(request.filter)]
            statements = self.page_statements(
                conditions, request.page, size, Customer.registered_at, named_cursor=True
            ).for_driver(self.db.engine.dialect)
            if len(self._list_statements) >= LIST_STATEMENTS_KEPT:
                self._list_statements.clear()
            self._list_statements[key] = statements
        response = pb.ListCustomersResponse()
        await self.customer_page(
            principal,
            decision,
            statements,
            size,
            include_contact=request.include_contact,
            into=response,
            cursor=None if after is None else {PAGE_AFTER_AT: after[0], PAGE_AFTER_KEY: after[1]},
            read=read,
            end_cursors_only=request.end_cursors_only,
        )
        return response

    def page_statements(
        self,
        conditions: Sequence[Any],
        page_request: common_pb2.PageRequest,
        size: int,
        sorted_by: InstrumentedAttribute[datetime | None],
        *,
        named_cursor: bool = False,
    ) -> PageStatements:
        """The SELECT of one keyset page of the customers matching ``conditions`` by
        (``sorted_by``, number), and their count when the page asks for it;
        ``named_cursor``: the page token's values as named parameters (keyset_query's)."""
        columns = PRESENTED_COLUMNS if self.db.is_sqlite else _PRESENTED_COLUMNS_PG
        query = keyset_query(
            select(*columns).where(*conditions),
            page_request,
            size,
            sorted_by,
            Customer.number,
            named_cursor=named_cursor,
        )
        counted = (
            select(func.count()).select_from(Customer).where(*conditions)
            if page_request.include_total_count
            else None
        )
        at = PRESENTED_NAMES.index(sorted_by.key)
        return PageStatements(query, counted, at)

    async def customer_page(
        self,
        principal: Principal,
        decision: Decision,
        statements: PageStatements,
        size: int,
        *,
        include_contact: bool,
        into: CustomerPage,
        cursor: Mapping[str, Any] | None = None,
        read: Read = READ_ALL,
        end_cursors_only: bool = False,
    ) -> None:
        """One keyset page (:meth:`page_statements`), presented under ``decision`` into
        the response ``into`` (its customers, cursors and page info), the optional fields
        as ``read`` asks, only the ends' cursors with ``end_cursors_only``; unmasked
        contact fields that leave are recorded. ``cursor``: the page token's values, for
        statements built with ``named_cursor``."""
        # Plain SELECTs, each on its own; the page's rows without the ORM or a session,
        # kept statements' without SQLAlchemy at all (driver_rows).
        total = None
        rows: list[Any]
        if statements.driver is not None:
            query, *count = statements.driver
            rows, *counted = await driver_rows(
                self.db, query if cursor is None else query.bound(cursor), *count
            )
            if counted:
                total = int(counted[0][0][0] or 0)
        else:
            selected = statements.query if cursor is None else statements.query.params(cursor)
            async with self.db.statements() as connection:
                rows = list((await connection.execute(selected)).all())
                if statements.counted is not None:
                    total = int(await connection.scalar(statements.counted) or 0)
        # By position: a SQLAlchemy row's attributes are looked up by name.
        at = statements.sorted_by
        page = keyset_page_by_position(rows, size, at, _NUMBER, ends_only=end_cursors_only)
        encoded, unmasked, fields = self.present_encoded(page.rows, decision, include_contact, read)
        await record_contact_reads(self.db, self.policy, principal, unmasked, sorted(fields))
        self.fill_page(into, encoded, page.cursors)
        into.page_info.CopyFrom(page.page_info(total))

    @staticmethod
    def fill_page(into: CustomerPage, encoded: Sequence[bytes], cursors: Sequence[str]) -> None:
        """Appends the customers (:meth:`present_encoded`'s bytes) and their cursors to a
        page response, parsed at once: upb builds the messages (issue 16: a page's 50
        built field by field cost ~0.6 ms)."""
        customers_tag, cursors_tag = _page_tags(type(into))
        length = wire.length
        pieces: list[bytes] = []
        for data in encoded:  # each customer's tag and length, then its bytes: one copy
            pieces += (customers_tag, length(len(data)), data)
        pieces.append(wire.strings(cursors_tag, cursors))
        cast(Any, into).MergeFromString(b"".join(pieces))
