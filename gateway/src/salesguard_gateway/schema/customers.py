"""The customer registry (customers ``CustomersService``): customers and follow-ups, and their queries.

Contact fields arrive already masked by the service when the caller's grant
masks them (listed in ``maskedFields``): the gateway never sees what it must hide.
The registry's mutations are in schema/customers_mutations.py.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry
from google.protobuf.field_mask_pb2 import FieldMask
from strawberry.utils.str_converters import to_camel_case

from salesguard_api.customers.v1 import customers_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.common import (
    Connection,
    Location,
    selected,
    selects,
)
from salesguard_gateway.schema.conversions import (
    converted,
    enum_numbers,
    from_timestamp,
    optional,
    read_on_demand,
    to_timestamp,
)
from salesguard_gateway.schema.enums import (
    CustomerStatus,
    FollowUpKind,
    SourceChannel,
    customer_status_of,
    source_of,
)
from salesguard_gateway.schema.links import Link
from salesguard_gateway.schema.nodes import GlobalID, Node, raw_id
from salesguard_gateway.schema.people import BRANCH, EMPLOYEE, TEAM
from salesguard_gateway.schema.resolvers import Listing, by_id, listed, owned


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


def _location(message: customers_pb2.Customer) -> Location | None:
    if not message.HasField("location"):
        return None
    return Location(lat=message.location.lat, lng=message.location.lng)


# A page of customers shows a few of their fields: each is converted only when read.
customer_from_proto: Callable[[customers_pb2.Customer], Customer] = read_on_demand(
    Customer,
    {
        "id": None,
        "code": None,
        "name": None,
        "company": optional,
        "phone": optional,
        "email": optional,
        "address": optional,
        "source": source_of,
        "source_detail": optional,
        "first_contact_at": from_timestamp,
        "registered_at": from_timestamp,
        "updated_at": from_timestamp,
        "status": customer_status_of,
        "pooled_at": from_timestamp,
        "masked_fields": list,
        "owner_id": None,
        "team_id": None,
        "branch_id": None,
    },
    {"location": _location},
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


# The Customer fields the customers service writes into a page only when the request's
# read_mask names them (a customer's times cost the most of it to write), by the field
# that shows each; their proto names are the Customer type's Python names.
OPTIONAL_FIELDS = {
    to_camel_case(name): name
    for name in ("first_contact_at", "registered_at", "updated_at", "pooled_at", "location")
}
_OPTIONAL_NAMES = frozenset(OPTIONAL_FIELDS)


@functools.cache
def read_mask(shown: frozenset[str]) -> FieldMask:
    """The read_mask of a page that shows ``shown`` of :data:`OPTIONAL_FIELDS`: every
    other Customer field is named, as the gateway may read any of them."""
    left_out = {OPTIONAL_FIELDS[name] for name in _OPTIONAL_NAMES - shown}
    return FieldMask(
        paths=[
            name
            for name in customers_pb2.Customer.DESCRIPTOR.fields_by_name
            if name not in left_out
        ]
    )


def contact_selected(info: Info) -> dict[str, bool]:
    """Whether a page of customers must come with contact fields: the query shows them."""
    return {"include_contact": selects(info, CONTACT_FIELDS, NODE_PATH)}


_CURSOR = frozenset({"cursor"})


def page_fields(info: Info) -> dict[str, Any]:
    """What a ListCustomers page must come with: contact fields when the query shows
    them, of the optional fields those it shows, and each customer's cursor only when it
    shows the edges' (pageInfo's start and end cursors are the page's ends')."""
    return {
        **contact_selected(info),
        "read_mask": read_mask(selected(info, _OPTIONAL_NAMES, NODE_PATH)),
        "end_cursors_only": not selects(info, _CURSOR, ("edges",)),
    }


CUSTOMERS = Listing(
    "customers",
    customers_pb2.ListCustomersRequest,
    "customers",
    customer_from_proto,
    customers_pb2.CustomerFilter,
    page_fields,
)


async def read_customer(info: Info, customer_id: str) -> Customer:
    """One customer, with contact fields when the query shows them."""
    response = await info.context.clients.customers.GetCustomer(
        customers_pb2.GetCustomerRequest(
            id=customer_id, include_contact=selects(info, CONTACT_FIELDS)
        )
    )
    return customer_from_proto(response.customer)


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
