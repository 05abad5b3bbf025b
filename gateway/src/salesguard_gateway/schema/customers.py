"""The customer registry (customers ``CustomersService``): customers and follow-ups.

Contact fields arrive already masked by the service when the caller's grant
masks them (listed in ``maskedFields``): the gateway never sees what it must hide.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Self

import strawberry

from salesguard_api.customers.v1 import customers_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.codes import AlertKind, codes_of, duplicate_criteria_named
from salesguard_gateway.schema.common import (
    Connection,
    Location,
    LocationInput,
    idempotency_key_field,
    selects,
)
from salesguard_gateway.schema.conversions import (
    converted,
    enum_numbers,
    from_timestamp,
    to_timestamp,
)
from salesguard_gateway.schema.enums import (
    CustomerStatus,
    DuplicateCriterion,
    FollowUpKind,
    SourceChannel,
    customer_status_of,
    source_of,
)
from salesguard_gateway.schema.links import Link
from salesguard_gateway.schema.nodes import GlobalID, Node, raw_id, raw_ids
from salesguard_gateway.schema.people import BRANCH, EMPLOYEE, TEAM
from salesguard_gateway.schema.resolvers import Listing, by_id, listed, mutation, owned


@strawberry.type(
    description="A customer in the registry (C1), as far as the caller may see it (SPEC §2): "
    "a junior rep sees the customers they own; a senior rep their own and their team's (a "
    "teammate's contact fields masked); a manager those of their branch (a headquarters "
    "manager: all); HR and finance every customer, contact fields masked; nobody else. "
    "Outside that scope a customer is NOT_FOUND or left out of lists."
)
class Customer(Node):
    code: str = strawberry.field(description='The readable company code, e.g. "C-000123".')
    name: str = strawberry.field(description="The customer's name.")
    company: str | None = strawberry.field(description="The customer's company; null if none.")
    phone: str | None = strawberry.field(
        description="The phone number, normalised to E.164 (C3). Masked (e.g. 138****5678, "
        "and named in maskedFields) for HR, finance and a senior rep on a teammate's "
        "customer; an unmasked read is audited (C7) and counts towards BULK_CONTACT_ACCESS "
        "(C8). Read from the service only when the query selects it; null if none."
    )
    email: str | None = strawberry.field(
        description="The email address, lower-cased (C3). Masked and audited as phone is; "
        "null if none."
    )
    address: str | None = strawberry.field(
        description="The address. Masked and audited as phone is; null if none."
    )
    location: Location | None = strawberry.field(
        description="Where the customer is: check-ins linked to the customer are measured "
        "against it (A3). Null if not registered."
    )
    source: SourceChannel | None = strawberry.field(
        description="The source channel registered (C4): fixed at registration, changed only "
        "by a manager with a reason (audited); it sets the commission rate (M1)."
    )
    source_detail: str | None = strawberry.field(
        description="What the rep noted about the source (C1); null if nothing."
    )
    first_contact_at: datetime | None = strawberry.field(
        description="When the rep first contacted the customer; a registration more than "
        "24 h later (policy data) raised LATE_REGISTRATION (C2)."
    )
    registered_at: datetime | None = strawberry.field(
        description="When the customer was registered; lists of customers are newest first by it."
    )
    updated_at: datetime | None = strawberry.field(
        description="When the record last changed (a field, the owner, the pool)."
    )
    status: CustomerStatus | None = strawberry.field(
        description="ACTIVE or ARCHIVED: a customer is never deleted."
    )
    pooled_at: datetime | None = strawberry.field(
        description="Set while the customer sits in its branch's pool, owned by nobody (C11)."
    )
    masked_fields: list[str] = strawberry.field(
        description="Contact fields holding masked values (e.g. 138****5678) for this caller."
    )
    owner_id: strawberry.Private[str]
    team_id: strawberry.Private[str]
    branch_id: strawberry.Private[str]

    owner = EMPLOYEE.field(
        "owner_id",
        "The rep who owns the customer; null while it sits in the pool, or when the caller "
        "may not see the owner in the directory.",
    )
    team = TEAM.field("team_id", "The owner's team; null while pooled or when none.")
    branch = BRANCH.field(
        "branch_id", "The owner's branch, or the branch whose pool holds the customer."
    )

    follow_ups = owned(
        "salesguard_gateway.schema.customers",
        "FollowUp",
        "FOLLOW_UPS",
        "customer_id",
        "Follow-ups recorded on this customer (C5), newest first; whoever may see the "
        "customer sees them.",
    )


def customer_from_proto(message: customers_pb2.Customer) -> Customer:
    return Customer(
        id=message.id,
        code=message.code,
        name=message.name,
        company=message.company or None,
        phone=message.phone or None,
        email=message.email or None,
        address=message.address or None,
        location=(
            Location(lat=message.location.lat, lng=message.location.lng)
            if message.HasField("location")
            else None
        ),
        source=source_of(message.source),
        source_detail=message.source_detail or None,
        first_contact_at=from_timestamp(message.first_contact_at),
        registered_at=from_timestamp(message.registered_at),
        updated_at=from_timestamp(message.updated_at),
        status=customer_status_of(message.status),
        pooled_at=from_timestamp(message.pooled_at),
        masked_fields=list(message.masked_fields),
        owner_id=message.owner_id,
        team_id=message.team_id,
        branch_id=message.branch_id,
    )


# Unmasked contact reads are audited (C7) and count towards BULK_CONTACT_ACCESS
# (C8), so the services return contact fields only when the query shows them.
CONTACT_FIELDS = frozenset({"phone", "email", "address"})
NODE_PATH = ("edges", "node")


def _customer_loader(info: Info) -> Callable[[str], Awaitable[customers_pb2.Customer | None]]:
    loaders = info.context.loaders
    loader = loaders.customers_with_contact if selects(info, CONTACT_FIELDS) else loaders.customers
    return loader.load


CUSTOMER = Link(Customer, _customer_loader, customer_from_proto)
load_customer = CUSTOMER.load


@strawberry.type(
    description="A follow-up recorded on a customer (C5): a visit, call, message or meeting. "
    "Whoever may see the customer sees its follow-ups."
)
class FollowUp(Node):
    kind: FollowUpKind | None = strawberry.field(description="VISIT, CALL, MESSAGE or MEETING.")
    at: datetime | None = strawberry.field(
        description="When it took place, as recorded (never in the future)."
    )
    note: str | None = strawberry.field(description="What the employee noted; null if nothing.")
    recorded_at: datetime | None = strawberry.field(description="When it was recorded.")
    customer_id: strawberry.Private[str]
    employee_id: strawberry.Private[str]

    customer = CUSTOMER.field(
        "customer_id", "The customer followed up; null when the caller may not see them."
    )
    employee = EMPLOYEE.field(
        "employee_id",
        "The employee who recorded it, credited with it; null when not visible to the caller.",
    )


def follow_up_from_proto(message: customers_pb2.FollowUp) -> FollowUp:
    return converted(FollowUp, message)


FOLLOW_UPS = Listing(
    "customers", customers_pb2.ListFollowUpsRequest, "follow_ups", follow_up_from_proto
)


CustomerConnection = Connection[Customer]


@strawberry.input(
    description="Which customers to list, within the caller's scope; the conditions given all "
    "apply."
)
class CustomerFilter:
    text: str | None = strawberry.field(
        default=None,
        description="Matches code, name or company (substring), or an exact phone or email.",
    )
    owner_id: GlobalID | None = strawberry.field(
        default=None, description="Only customers this employee (an employee's ID) owns."
    )
    sources: list[SourceChannel] | None = strawberry.field(
        default=None, description="Only customers registered with one of these sources."
    )
    registered_from: datetime | None = strawberry.field(
        default=None, description="Only customers registered at or after this moment."
    )
    registered_to: datetime | None = strawberry.field(
        default=None, description="Only customers registered before this moment."
    )
    statuses: list[CustomerStatus] | None = strawberry.field(
        default=None, description="Only customers in one of these statuses."
    )

    def to_proto(self) -> customers_pb2.CustomerFilter:
        return customers_pb2.CustomerFilter(
            text=self.text or "",
            owner_id=raw_id(self.owner_id, "Employee", "filter.ownerId"),
            sources=enum_numbers(self.sources),
            registered_from=to_timestamp(self.registered_from),
            registered_to=to_timestamp(self.registered_to),
            statuses=enum_numbers(self.statuses),
        )


def contact_selected(info: Info) -> dict[str, bool]:
    """Whether a page of customers must come with contact fields: the query shows them."""
    return {"include_contact": selects(info, CONTACT_FIELDS, NODE_PATH)}


CUSTOMERS = Listing(
    "customers",
    customers_pb2.ListCustomersRequest,
    "customers",
    customer_from_proto,
    customers_pb2.CustomerFilter,
    contact_selected,
)


async def read_customer(info: Info, customer_id: str) -> Customer:
    """One customer, with contact fields when the query shows them."""
    response = await info.context.clients.customers.GetCustomer(
        customers_pb2.GetCustomerRequest(
            id=customer_id, include_contact=selects(info, CONTACT_FIELDS)
        )
    )
    return customer_from_proto(response.customer)


@strawberry.input(
    description="A new customer (C1); a phone or an email is required, and neither may match "
    "a registered customer's (C3)."
)
class RegisterCustomerInput:
    name: str = strawberry.field(description="The customer's name; required.")
    company: str | None = strawberry.field(default=None, description="The customer's company.")
    phone: str | None = strawberry.field(
        default=None,
        description="Stored normalised to E.164 (the service's default region when no "
        "country code is given) and encrypted (C10).",
    )
    email: str | None = strawberry.field(
        default=None, description="Stored lower-cased and encrypted (C10)."
    )
    address: str | None = strawberry.field(default=None, description="Stored encrypted (C10).")
    location: LocationInput | None = strawberry.field(
        default=None, description="Where the customer is, for check-in geofences (A3)."
    )
    source: SourceChannel = strawberry.field(
        description="How the customer was found (C4); fixed after registration but for a "
        "manager's change."
    )
    source_detail: str | None = strawberry.field(
        default=None, description="What to note about the source, e.g. which exhibition."
    )
    first_contact_at: datetime = strawberry.field(
        description="When the rep first contacted the customer, not in the future; more than "
        "24 h before now raises LATE_REGISTRATION (C2)."
    )
    owner_id: GlobalID | None = strawberry.field(
        default=None, description="Defaults to the caller; a manager may register for a rep."
    )
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="The result of registerCustomer.")
class RegisterCustomerPayload:
    customer: Customer = strawberry.field(
        description="The customer registered, contact fields as given (the caller just "
        "entered them)."
    )
    warnings: list[AlertKind] = strawberry.field(
        description="Alert kinds the registration raised, e.g. LATE_REGISTRATION, and"
        " SHARED_CONTACT_DETAIL when a shared duplicate criterion was not checked (C12)."
    )
    shared_criteria: list[DuplicateCriterion] = strawberry.field(
        description="Duplicate criteria whose values are shared by too many customers to block"
        " on, so were not checked (C12)."
    )


@strawberry.input(description="Only the fields given are changed.")
class UpdateCustomerInput:
    id: GlobalID = strawberry.field(description="The customer to change (a Customer's ID).")
    name: str | None = strawberry.field(
        default=None, description="A core field: a senior rep may not change it."
    )
    company: str | None = strawberry.field(
        default=None, description="A core field: a senior rep may not change it."
    )
    phone: str | None = strawberry.field(
        default=None,
        description="A core field: a senior rep may not change it; must not match another "
        "customer's (C3).",
    )
    email: str | None = strawberry.field(
        default=None,
        description="A core field: a senior rep may not change it; must not match another "
        "customer's (C3).",
    )
    address: str | None = strawberry.field(default=None, description="The new address.")
    location: LocationInput | None = strawberry.field(default=None, description="The new location.")
    source: SourceChannel | None = strawberry.field(
        default=None, description="Managers only, with a reason (C4)."
    )
    source_detail: str | None = strawberry.field(
        default=None, description="Managers only, with a reason: part of the source (C4)."
    )
    reason: str | None = strawberry.field(
        default=None,
        description="Why; required when source or sourceDetail changes, recorded in the audit trail (C7).",
    )

    def to_proto(self) -> customers_pb2.UpdateCustomerRequest:
        request = customers_pb2.UpdateCustomerRequest(
            id=raw_id(self.id, "Customer", "filter.id"),
            location=self.location.to_proto() if self.location is not None else None,
            source=(
                self.source.value
                if self.source is not None
                else customers_pb2.SOURCE_CHANNEL_UNSPECIFIED
            ),
            reason=self.reason or "",
        )
        for name in ("name", "company", "phone", "email", "address", "source_detail"):
            value = getattr(self, name)
            if value is not None:
                setattr(request, name, value)
        return request


@strawberry.type(description="The result of updateCustomer.")
class UpdateCustomerPayload:
    customer: Customer = strawberry.field(
        description="The customer as changed, masked as the caller reads it."
    )


@strawberry.input(description="A follow-up to record on a customer (C5).")
class RecordFollowUpInput:
    customer_id: GlobalID = strawberry.field(description="The customer's ID.")
    kind: FollowUpKind = strawberry.field(description="A visit, call, message or meeting.")
    at: datetime | None = strawberry.field(
        default=None, description="When it took place, not in the future; defaults to now."
    )
    note: str | None = strawberry.field(default=None, description="What to note.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="The result of recordFollowUp.")
class RecordFollowUpPayload:
    follow_up: FollowUp = strawberry.field(description="The follow-up recorded.")


@strawberry.input(description="Customers to move to a new owner (C6).")
class ReassignCustomersInput:
    customer_ids: list[GlobalID] = strawberry.field(
        description="The customers' IDs: at least one, at most the service's limit per call."
    )
    new_owner_id: GlobalID = strawberry.field(
        description="The new owner's employee ID: an active employee within the caller's scope."
    )
    reason: str = strawberry.field(description="Required; recorded in the audit trail (C7).")


@strawberry.type(description="The result of reassignCustomers.")
class ReassignCustomersPayload:
    customers: list[Customer] = strawberry.field(
        description="The customers as now owned, without contact fields (phone, email and "
        "address are null)."
    )


@strawberry.input(description="A customer's value to mark shared (C12).")
class MarkCriterionSharedInput:
    customer_id: GlobalID = strawberry.field(description="The customer's ID.")
    criterion: DuplicateCriterion = strawberry.field(
        description="Which of its values: the phone, the email or the name+company."
    )
    reason: str = strawberry.field(description="Required; audited.")


@strawberry.input(description="A customer's value marked shared to block again (C12).")
class UnmarkCriterionSharedInput:
    customer_id: GlobalID = strawberry.field(description="The customer's ID.")
    criterion: DuplicateCriterion = strawberry.field(
        description="Which of its values: the phone, the email or the name+company."
    )
    reason: str = strawberry.field(description="Required; audited.")


@strawberry.type
class CriterionSharing:
    """Whether a customer's value for a duplicate criterion is shared (C12)."""

    criterion: DuplicateCriterion | None = strawberry.field(
        description="Which of the customer's values."
    )
    shared: bool = strawberry.field(
        description="Whether the value is now marked shared: it no longer blocks registrations."
    )
    changed: bool = strawberry.field(
        description="False when the value already was so: nothing changed, nothing audited."
    )
    changed_at: datetime | None = strawberry.field(
        description="When the value last became shared or stopped being so."
    )
    customer_id: strawberry.Private[str]

    customer = CUSTOMER.field(
        "customer_id", "The customer whose value it is; null when the caller may not see them."
    )

    @classmethod
    def from_proto(cls, message: customers_pb2.SetCriterionSharedResponse) -> Self:
        return converted(cls, message)


@strawberry.type(description="The result of markCriterionShared (C12).")
class MarkCriterionSharedPayload(CriterionSharing):
    pass


@strawberry.type(description="The result of unmarkCriterionShared (C12).")
class UnmarkCriterionSharedPayload(CriterionSharing):
    pass


async def set_criterion_shared(
    info: Info,
    input: MarkCriterionSharedInput | UnmarkCriterionSharedInput,
    *,
    shared: bool,
) -> customers_pb2.SetCriterionSharedResponse:
    return await info.context.clients.customers.SetCriterionShared(
        customers_pb2.SetCriterionSharedRequest(
            customer_id=raw_id(input.customer_id, "Customer", "input.customerId"),
            criterion=input.criterion.value,
            shared=shared,
            reason=input.reason,
        )
    )


@strawberry.type
class CustomersQuery:
    customer = by_id(
        Customer,
        "The customer's ID.",
        read_customer,
        "One customer; null (NOT_FOUND) when unknown or outside the caller's scope (see "
        "Customer). Contact fields are read only when selected; unmasked ones are audited (C7).",
    )
    customers = listed(
        Customer,
        CUSTOMERS.first,
        CustomerFilter,
        "Which customers to list.",
        "Customers the caller may see (see Customer), newest registered first. Contact fields "
        "are read only when selected; unmasked ones are audited (C7) and count towards "
        "BULK_CONTACT_ACCESS (C8).",
    )


@strawberry.type
class CustomersMutation:
    @mutation(
        "Register a customer (C1): a rep for themselves, a manager for an active employee of "
        "their branch; nobody else. A phone, email or name+company already registered is refused "
        "with DUPLICATE_CUSTOMER, naming the existing customer's code and masked owner, and "
        "raises DUPLICATE_CUSTOMER_CLAIM (C3).",
        input="The customer to register.",
    )
    async def register_customer(
        self, info: Info, input: RegisterCustomerInput
    ) -> RegisterCustomerPayload:
        request = customers_pb2.RegisterCustomerRequest(
            name=input.name,
            company=input.company or "",
            phone=input.phone or "",
            email=input.email or "",
            address=input.address or "",
            location=input.location.to_proto() if input.location is not None else None,
            source=input.source.value,
            source_detail=input.source_detail or "",
            first_contact_at=to_timestamp(input.first_contact_at),
            owner_id=raw_id(input.owner_id, "Employee", "input.ownerId"),
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.customers.RegisterCustomer(request)
        return RegisterCustomerPayload(
            customer=customer_from_proto(response.customer),
            warnings=codes_of(AlertKind, response.warnings),
            shared_criteria=duplicate_criteria_named(response.shared_criteria),
        )

    @mutation(
        "Change a customer's fields, audited with before and after (C7): a junior rep their "
        "own customers but not the source (SOURCE_CHANGE_NEEDS_MANAGER), a senior rep their "
        "own but not the core fields (CORE_FIELD_READ_ONLY), a manager those of their branch; "
        "FORBIDDEN otherwise, NOT_FOUND outside what the caller may read.",
        input="The customer and its changes.",
    )
    async def update_customer(
        self, info: Info, input: UpdateCustomerInput
    ) -> UpdateCustomerPayload:
        response = await info.context.clients.customers.UpdateCustomer(input.to_proto())
        return UpdateCustomerPayload(customer=customer_from_proto(response.customer))

    @mutation(
        "Record a follow-up on a customer (C5), credited to the caller (an active employee): "
        "a rep on their own customers, a manager on their branch's; FORBIDDEN otherwise.",
        input="The follow-up to record.",
    )
    async def record_follow_up(
        self, info: Info, input: RecordFollowUpInput
    ) -> RecordFollowUpPayload:
        request = customers_pb2.RecordFollowUpRequest(
            customer_id=raw_id(input.customer_id, "Customer", "input.customerId"),
            kind=input.kind.value,
            at=to_timestamp(input.at),
            note=input.note or "",
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.customers.RecordFollowUp(request)
        return RecordFollowUpPayload(follow_up=follow_up_from_proto(response.follow_up))

    @mutation(
        "Move customers to a new owner with a reason, audited (C6): a manager within their "
        "branch (customers and new owner), HR anywhere. A pooled customer leaves the pool; "
        "NOT_FOUND names customers outside the caller's scope.",
        input="The customers, their new owner and the reason.",
    )
    async def reassign_customers(
        self, info: Info, input: ReassignCustomersInput
    ) -> ReassignCustomersPayload:
        request = customers_pb2.ReassignCustomersRequest(
            customer_ids=raw_ids(input.customer_ids, "Customer", "input.customerIds"),
            new_owner_id=raw_id(input.new_owner_id, "Employee", "input.newOwnerId"),
            reason=input.reason,
        )
        response = await info.context.clients.customers.ReassignCustomers(request)
        return ReassignCustomersPayload(
            customers=[customer_from_proto(message) for message in response.customers]
        )

    @mutation(
        "Confirm that a customer's phone, email or name+company is shared (e.g. a"
        " switchboard): it no longer blocks registrations, which say so (C12), and the"
        " managers of the customer's branch are alerted. Only someone of no branch involved"
        " (the customer's, or that of a rep refused on the value): HR or headquarters.",
        input="The customer, its value and the reason.",
    )
    async def mark_criterion_shared(
        self, info: Info, input: MarkCriterionSharedInput
    ) -> MarkCriterionSharedPayload:
        response = await set_criterion_shared(info, input, shared=True)
        return MarkCriterionSharedPayload.from_proto(response)

    @mutation(
        "Make a value marked shared block duplicate registrations again (C12); the"
        " managers of the customer's branch, HR or headquarters.",
        input="The customer, its value and the reason.",
    )
    async def unmark_criterion_shared(
        self, info: Info, input: UnmarkCriterionSharedInput
    ) -> UnmarkCriterionSharedPayload:
        response = await set_criterion_shared(info, input, shared=False)
        return UnmarkCriterionSharedPayload.from_proto(response)
