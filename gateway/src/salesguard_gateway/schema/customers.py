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
from salesguard_gateway.schema.common import (
    Connection,
    Location,
    LocationInput,
    described,
    enum_numbers,
    filter_proto,
    from_timestamp,
    idempotency_key_field,
    optional,
    page_of,
    page_request,
    selects,
    to_timestamp,
)
from salesguard_gateway.schema.enums import (
    AlertKind,
    CustomerStatus,
    DuplicateCriterion,
    FollowUpKind,
    SourceChannel,
    codes_of,
    customer_status_of,
    duplicate_criteria_named,
    duplicate_criterion_of,
    follow_up_kind_of,
    source_of,
)
from salesguard_gateway.schema.links import Link
from salesguard_gateway.schema.nodes import GlobalID, Node, raw_id, raw_ids
from salesguard_gateway.schema.people import BRANCH, EMPLOYEE, TEAM


@strawberry.type
class Customer(Node):
    code: str = strawberry.field(description='The readable company code, e.g. "C-000123".')
    name: str
    company: str | None
    phone: str | None
    email: str | None
    address: str | None
    location: Location | None
    source: SourceChannel | None
    source_detail: str | None
    first_contact_at: datetime | None
    registered_at: datetime | None
    updated_at: datetime | None
    status: CustomerStatus | None
    pooled_at: datetime | None = strawberry.field(
        description="Set while the customer sits in its branch's pool, owned by nobody (C11)."
    )
    masked_fields: list[str] = strawberry.field(
        description="Contact fields holding masked values (e.g. 138****5678) for this caller."
    )
    owner_id: strawberry.Private[str]
    team_id: strawberry.Private[str]
    branch_id: strawberry.Private[str]

    owner = EMPLOYEE.field("owner_id")
    team = TEAM.field("team_id")
    branch = BRANCH.field("branch_id")

    @strawberry.field
    async def follow_ups(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> FollowUpConnection | None:
        request = customers_pb2.ListFollowUpsRequest(
            customer_id=self.id, page=page_request(first, after, info)
        )
        response = await info.context.clients.customers.ListFollowUps(request)
        return page_of(response, response.follow_ups, follow_up_from_proto)


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


@strawberry.type
class FollowUp(Node):
    kind: FollowUpKind | None
    at: datetime | None
    note: str | None
    recorded_at: datetime | None
    customer_id: strawberry.Private[str]
    employee_id: strawberry.Private[str]

    customer = CUSTOMER.field("customer_id")
    employee = EMPLOYEE.field("employee_id")


def follow_up_from_proto(message: customers_pb2.FollowUp) -> FollowUp:
    return FollowUp(
        id=message.id,
        kind=follow_up_kind_of(message.kind),
        at=from_timestamp(message.at),
        note=optional(message.note),
        recorded_at=from_timestamp(message.recorded_at),
        customer_id=message.customer_id,
        employee_id=message.employee_id,
    )


FollowUpConnection = Connection[FollowUp]


CustomerConnection = Connection[Customer]


@strawberry.input
class CustomerFilter:
    text: str | None = strawberry.field(
        default=None,
        description="Matches code, name or company (substring), or an exact phone or email.",
    )
    owner_id: GlobalID | None = None
    sources: list[SourceChannel] | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    statuses: list[CustomerStatus] | None = None

    def to_proto(self) -> customers_pb2.CustomerFilter:
        return customers_pb2.CustomerFilter(
            text=self.text or "",
            owner_id=raw_id(self.owner_id, "Employee", "filter.ownerId"),
            sources=enum_numbers(self.sources),
            registered_from=to_timestamp(self.registered_from),
            registered_to=to_timestamp(self.registered_to),
            statuses=enum_numbers(self.statuses),
        )


async def list_customers(
    info: Info,
    first: int | None,
    after: str | None,
    filter: CustomerFilter | None = None,
    *,
    owner_id: str | None = None,
) -> CustomerConnection:
    request = customers_pb2.ListCustomersRequest(
        filter=filter_proto(filter, customers_pb2.CustomerFilter, owner_id=owner_id),
        page=page_request(first, after, info),
        include_contact=selects(info, CONTACT_FIELDS, NODE_PATH),
    )
    response = await info.context.clients.customers.ListCustomers(request)
    return page_of(response, response.customers, customer_from_proto)


@strawberry.input
class RegisterCustomerInput:
    name: str
    company: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    location: LocationInput | None = None
    source: SourceChannel
    source_detail: str | None = None
    first_contact_at: datetime
    owner_id: GlobalID | None = strawberry.field(
        default=None, description="Defaults to the caller; a manager may register for a rep."
    )
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type
class RegisterCustomerPayload:
    customer: Customer
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
    id: GlobalID
    name: str | None = None
    company: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    location: LocationInput | None = None
    source: SourceChannel | None = strawberry.field(
        default=None, description="Managers only, with a reason (C4)."
    )
    source_detail: str | None = None
    reason: str | None = None

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


@strawberry.type
class UpdateCustomerPayload:
    customer: Customer


@strawberry.input
class RecordFollowUpInput:
    customer_id: GlobalID
    kind: FollowUpKind
    at: datetime | None = strawberry.field(default=None, description="Defaults to now.")
    note: str | None = None
    idempotency_key: str | None = None


@strawberry.type
class RecordFollowUpPayload:
    follow_up: FollowUp


@strawberry.input
class ReassignCustomersInput:
    customer_ids: list[GlobalID]
    new_owner_id: GlobalID
    reason: str


@strawberry.type
class ReassignCustomersPayload:
    customers: list[Customer]


@strawberry.input
class MarkCriterionSharedInput:
    customer_id: GlobalID
    criterion: DuplicateCriterion
    reason: str = strawberry.field(description="Required; audited.")


@strawberry.input
class UnmarkCriterionSharedInput:
    customer_id: GlobalID
    criterion: DuplicateCriterion
    reason: str = strawberry.field(description="Required; audited.")


@strawberry.type
class CriterionSharing:
    """Whether a customer's value for a duplicate criterion is shared (C12)."""

    criterion: DuplicateCriterion | None
    shared: bool
    changed: bool = strawberry.field(
        description="False when the value already was so: nothing changed, nothing audited."
    )
    changed_at: datetime | None = strawberry.field(
        description="When the value last became shared or stopped being so."
    )
    customer_id: strawberry.Private[str]

    customer = CUSTOMER.field("customer_id")

    @classmethod
    def from_proto(cls, message: customers_pb2.SetCriterionSharedResponse) -> Self:
        return cls(
            criterion=duplicate_criterion_of(message.criterion),
            shared=message.shared,
            changed=message.changed,
            changed_at=from_timestamp(message.changed_at),
            customer_id=message.customer_id,
        )


@strawberry.type
class MarkCriterionSharedPayload(CriterionSharing):
    pass


@strawberry.type
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
    @strawberry.field
    async def customer(self, info: Info, id: GlobalID) -> Customer | None:
        response = await info.context.clients.customers.GetCustomer(
            customers_pb2.GetCustomerRequest(
                id=raw_id(id, "Customer", "id"), include_contact=selects(info, CONTACT_FIELDS)
            )
        )
        return customer_from_proto(response.customer)

    @strawberry.field
    async def customers(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: CustomerFilter | None = None,
    ) -> CustomerConnection | None:
        return await list_customers(info, first, after, filter)


@strawberry.type
class CustomersMutation:
    @strawberry.mutation
    async def register_customer(
        self, info: Info, input: RegisterCustomerInput
    ) -> RegisterCustomerPayload | None:
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

    @strawberry.mutation
    async def update_customer(
        self, info: Info, input: UpdateCustomerInput
    ) -> UpdateCustomerPayload | None:
        response = await info.context.clients.customers.UpdateCustomer(input.to_proto())
        return UpdateCustomerPayload(customer=customer_from_proto(response.customer))

    @strawberry.mutation
    async def record_follow_up(
        self, info: Info, input: RecordFollowUpInput
    ) -> RecordFollowUpPayload | None:
        request = customers_pb2.RecordFollowUpRequest(
            customer_id=raw_id(input.customer_id, "Customer", "input.customerId"),
            kind=input.kind.value,
            at=to_timestamp(input.at),
            note=input.note or "",
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.customers.RecordFollowUp(request)
        return RecordFollowUpPayload(follow_up=follow_up_from_proto(response.follow_up))

    @strawberry.mutation
    async def reassign_customers(
        self, info: Info, input: ReassignCustomersInput
    ) -> ReassignCustomersPayload | None:
        request = customers_pb2.ReassignCustomersRequest(
            customer_ids=raw_ids(input.customer_ids, "Customer", "input.customerIds"),
            new_owner_id=raw_id(input.new_owner_id, "Employee", "input.newOwnerId"),
            reason=input.reason,
        )
        response = await info.context.clients.customers.ReassignCustomers(request)
        return ReassignCustomersPayload(
            customers=[customer_from_proto(message) for message in response.customers]
        )

    @described(
        "Confirm that a customer's phone, email or name+company is shared (e.g. a"
        " switchboard): it no longer blocks registrations, which say so (C12), and the"
        " managers of the customer's branch are alerted. Only someone of no branch involved"
        " (the customer's, or that of a rep refused on the value): HR or headquarters."
    )
    async def mark_criterion_shared(
        self, info: Info, input: MarkCriterionSharedInput
    ) -> MarkCriterionSharedPayload | None:
        response = await set_criterion_shared(info, input, shared=True)
        return MarkCriterionSharedPayload.from_proto(response)

    @described(
        "Make a value marked shared block duplicate registrations again (C12); the"
        " managers of the customer's branch, HR or headquarters."
    )
    async def unmark_criterion_shared(
        self, info: Info, input: UnmarkCriterionSharedInput
    ) -> UnmarkCriterionSharedPayload | None:
        response = await set_criterion_shared(info, input, shared=False)
        return UnmarkCriterionSharedPayload.from_proto(response)
