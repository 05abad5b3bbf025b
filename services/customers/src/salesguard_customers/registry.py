"""The customer registry: reads, presentation and who may own a customer.

Registration is :mod:`.registration`, changes and reassignment :mod:`.changes`,
follow-ups :mod:`.follow_ups`; they share what is here. Every operation asks the policy engine once, turns the decision into a SQL
filter over the rows, and masks each row with the narrowest grant that covers
it before anything leaves the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol, cast

from google.protobuf.internal.containers import (
    RepeatedCompositeFieldContainer,
    RepeatedScalarFieldContainer,
)
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from salesguard import validation
from salesguard.db import lock_keys
from salesguard.directory import DirectoryClient
from salesguard.errors import InvalidInput
from salesguard.listing import enum_filter, equal_to, period
from salesguard.pagination import keyset_page, keyset_query
from salesguard.phones import looks_like_phone, normalise_phone
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.principal import Principal, current_principal
from salesguard.reads import distinct_ids, one_by_id, rows_by_id
from salesguard.service import Runtime
from salesguard.timeutil import set_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2 as pb
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


@cache
def _masked_contact_fields(masked: frozenset[str]) -> tuple[str, ...]:
    """The contact fields among ``masked``, sorted (a grant's masks: a handful of sets)."""
    return tuple(sorted(masked & set(CONTACT_FIELDS)))


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
PRESENTED_COLUMNS = tuple(
    Customer.__table__.c[name]
    for name in (
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
)


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


def row_masks(decision: Decision, customer: Presented) -> frozenset[str]:
    """The fields to mask on a row: the narrowest covering grant's, or every contact field
    when no grant covers it (SQL scope filters keep such rows out; this is the backstop)."""
    masks = decision.masks_for(customer.owner_id, customer.team_id, customer.branch_id)
    return frozenset(CONTACT_FIELDS) if masks is None else masks


class Registry:
    def __init__(
        self, runtime: Runtime[CustomersSettings], vault: ContactVault, directory: DirectoryClient
    ) -> None:
        self.db = runtime.db
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.vault = vault
        self.directory = directory

    # -- presentation -------------------------------------------------------

    def to_proto(
        self,
        customer: Presented,
        contact: Contact | None,
        masked: frozenset[str],
        new: Callable[..., pb.Customer] = pb.Customer,
    ) -> pb.Customer:
        # Enum numbers from dicts and timestamps written in place: a page builds 50 of these.
        # ``new`` may be a response's ``customers.add``: built where it is sent, not copied.
        message = new(
            id=customer.id,
            code=format_code(customer.number),
            name=customer.name,
            company=customer.company,
            source=_SOURCE_NUMBERS[customer.source],
            source_detail=customer.source_detail,
            owner_id=customer.owner_id or "",
            team_id=customer.team_id or "",
            branch_id=customer.branch_id or "",
            status=_STATUS_NUMBERS[customer.status],
            masked_fields=_masked_contact_fields(masked),
        )
        set_timestamp(message.first_contact_at, customer.first_contact_at)
        set_timestamp(message.registered_at, customer.registered_at)
        set_timestamp(message.updated_at, customer.updated_at)
        set_timestamp(message.pooled_at, customer.pooled_at)
        if contact is not None:
            message.phone, message.email, message.address = (
                contact.phone,
                contact.email,
                contact.address,
            )
        if customer.lat is not None and customer.lng is not None:
            message.location.lat, message.location.lng = customer.lat, customer.lng
        return message

    def present(
        self,
        rows: Sequence[Presented],
        decision: Decision,
        include_contact: bool,
        new: Callable[..., pb.Customer] = pb.Customer,
    ) -> tuple[list[pb.Customer], list[Presented], set[str]]:
        """Protos masked per row, the rows whose contact fields went out unmasked, and which
        fields. Each proto is made by ``new`` (a response's ``customers.add`` builds them in
        the response: a message passed to a response's constructor is copied)."""
        messages = []
        unmasked_rows = []
        unmasked_fields: set[str] = set()
        every_field = frozenset(CONTACT_FIELDS)
        # The masks depend on the row's scope only: asked of the decision once per scope.
        masks_by_scope: dict[tuple[str | None, str | None, str | None], frozenset[str]] = {}
        for row in rows:
            scope = (row.owner_id, row.team_id, row.branch_id)
            masks = masks_by_scope.get(scope)
            if masks is None:
                masks = masks_by_scope[scope] = row_masks(decision, row)
            contact = self.vault.read(row, masks) if include_contact else None
            messages.append(self.to_proto(row, contact, masks, new))
            if contact is not None and not every_field <= masks:
                shown = {
                    field
                    for field in CONTACT_FIELDS
                    if field not in masks and getattr(contact, field)
                }
                if shown:
                    unmasked_rows.append(row)
                    unmasked_fields |= shown
        return messages, unmasked_rows, unmasked_fields

    async def present_recorded(
        self,
        principal: Principal,
        rows: Sequence[Presented],
        decision: Decision,
        include_contact: bool,
        new: Callable[..., pb.Customer] = pb.Customer,
    ) -> list[pb.Customer]:
        """:meth:`present`, recording the contact fields that leave unmasked
        (:func:`.access.record_contact_reads`)."""
        messages, unmasked, fields = self.present(rows, decision, include_contact, new)
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
        conditions = [scope_filter(decision, SCOPE), *self.filter_conditions(request.filter)]
        response = pb.ListCustomersResponse()
        await self.customer_page(
            principal,
            decision,
            conditions,
            request.page,
            decision.page_size(requested),
            Customer.registered_at,
            include_contact=request.include_contact,
            into=response,
        )
        return response

    async def customer_page(
        self,
        principal: Principal,
        decision: Decision,
        conditions: Sequence[Any],
        page_request: common_pb2.PageRequest,
        size: int,
        sorted_by: InstrumentedAttribute[datetime | None],
        *,
        include_contact: bool,
        into: CustomerPage,
    ) -> None:
        """One keyset page of the customers matching ``conditions`` by (``sorted_by``, number),
        presented under ``decision`` into the response ``into`` (its customers, cursors and
        page info); unmasked contact fields that leave are recorded."""
        query = keyset_query(
            select(*PRESENTED_COLUMNS).where(*conditions),
            page_request,
            size,
            sorted_by,
            Customer.number,
        )
        # Plain SELECTs, each on its own; the page's rows without the ORM or a session.
        total = None
        async with self.db.statements() as connection:
            rows = cast(list[Presented], (await connection.execute(query)).all())
            if page_request.include_total_count:
                counted = select(func.count()).select_from(Customer).where(*conditions)
                total = int(await connection.scalar(counted) or 0)
        key = sorted_by.key
        page = keyset_page(rows, size, lambda row: (getattr(row, key), row.number))
        await self.present_recorded(
            principal, page.rows, decision, include_contact, into.customers.add
        )
        into.cursors.extend(page.cursors)
        into.page_info.CopyFrom(page.page_info(total))
