"""The customer registry's mutations, with their inputs and payloads.

Registering and changing customers (C1, C3, C7), recording follow-ups (C5), reassigning
customers (C6), and marking or unmarking a duplicate criterion shared (C12).
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from salesguard_api.customers.v1 import customers_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.codes import AlertKind, codes_of, duplicate_criteria_named
from salesguard_gateway.schema.common import (
    LocationInput,
    idempotency_key_field,
)
from salesguard_gateway.schema.conversions import (
    converted,
    to_timestamp,
)
from salesguard_gateway.schema.customers import (
    CUSTOMER,
    Customer,
    FollowUp,
    customer_from_proto,
    follow_up_from_proto,
)
from salesguard_gateway.schema.enums import (
    DuplicateCriterion,
    FollowUpKind,
    SourceChannel,
)
from salesguard_gateway.schema.nodes import GlobalID, raw_id, raw_ids
from salesguard_gateway.schema.resolvers import mutation


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
class CustomersMutation:
    @mutation(
        "Register a customer (C1): a rep for themselves, a manager for an active employee of "
        "their branch; nobody else. A phone, email or name+company already registered is refused "
        "with DUPLICATE_CUSTOMER, naming the existing customer's code and masked owner, and "
        "raises DUPLICATE_CUSTOMER_CLAIM (C3). A location near another owner's customer of the "
        "same company name registers, with the warning SIMILAR_CUSTOMER (an alert for a manager).",
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
