"""The customer pool (公海, customers ``CustomerPoolService``, C11).

Neglected customers return to their branch's pool; reps of the branch browse it
(contact fields masked until claimed) and claim customers from it.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from salesguard_api.customers.v1 import pool_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.common import idempotency_key_field, selects
from salesguard_gateway.schema.conversions import copied, from_timestamp, to_timestamp
from salesguard_gateway.schema.customers import (
    CONTACT_FIELDS,
    Customer,
    contact_selected,
    customer_from_proto,
)
from salesguard_gateway.schema.nodes import GlobalID, raw_id
from salesguard_gateway.schema.resolvers import Listing, mutation, paged


@strawberry.input(description="Which pooled customer to claim.")
class ClaimCustomerInput:
    customer_id: GlobalID = strawberry.field(description="The customer to claim.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="What claimCustomer returns.")
class ClaimCustomerPayload:
    customer: Customer | None = strawberry.field(
        description="As the new owner sees it; null on a retry (same idempotencyKey) once the "
        "customer is no longer theirs."
    )
    claimed_at: datetime | None = strawberry.field(
        description="When the caller became the customer's owner."
    )


@strawberry.input(description="The moment a pool sweep runs as of.")
class RunPoolSweepInput:
    as_of: datetime | None = strawberry.field(
        default=None,
        description="Now (the default), within the service's allowed clock drift "
        "(SALESGUARD_CLOCK_SKEW_SECONDS, 300): another moment would skip the neglect or grace "
        "period, so it is refused (VALIDATION).",
    )


@strawberry.type(description="What runPoolSweep did.")
class RunPoolSweepPayload:
    as_of: datetime | None = strawberry.field(description="The moment the sweep ran as of.")
    alerted: int = strawberry.field(description="CUSTOMER_NEGLECTED alerts this run raised.")
    pooled: int = strawberry.field(description="Customers this run returned to their pool.")


POOL = Listing(
    "pool", pool_pb2.ListPoolRequest, "customers", customer_from_proto, None, contact_selected
)


@strawberry.type
class PoolQuery:
    customer_pool = paged(
        Customer,
        POOL,
        "Customers in the pool (owned by nobody), newest in the pool first: reps and "
        "managers see their branch's (a headquarters manager: every branch's), HR every "
        "branch's; others are FORBIDDEN. Reps and HR see contact fields masked (a rep until "
        "they claim the customer).",
    )


@strawberry.type
class PoolMutation:
    @mutation(
        "Take a customer from your branch's pool (C11); sales reps only, others are FORBIDDEN."
        " Refused with FAILED_PRECONDITION at"
        " your holding cap or, for its previous owner, within the cooling-off period; with"
        " CONFLICT when another rep claimed it first; NOT_FOUND outside your branch's pool.",
        input="The customer to claim.",
    )
    async def claim_customer(self, info: Info, input: ClaimCustomerInput) -> ClaimCustomerPayload:
        request = pool_pb2.ClaimCustomerRequest(
            customer_id=raw_id(input.customer_id, "Customer", "input.customerId"),
            idempotency_key=input.idempotency_key or "",
            include_contact=selects(info, CONTACT_FIELDS, ("customer",)),
        )
        response = await info.context.clients.pool.ClaimCustomer(request)
        return ClaimCustomerPayload(
            customer=(
                customer_from_proto(response.customer) if response.HasField("customer") else None
            ),
            claimed_at=from_timestamp(response.claimed_at),
        )

    @mutation(
        "Alert customers without a follow-up for the neglect period and return those whose"
        " alert outlived the grace period to their branch's pool (C11); HR and admins."
        " Re-running it changes nothing.",
        input="Omit to sweep as of now.",
    )
    async def run_pool_sweep(
        self, info: Info, input: RunPoolSweepInput | None = None
    ) -> RunPoolSweepPayload:
        given = input or RunPoolSweepInput()
        response = await info.context.clients.pool.RunPoolSweep(
            pool_pb2.RunPoolSweepRequest(as_of=to_timestamp(given.as_of))
        )
        return copied(RunPoolSweepPayload, response, as_of=from_timestamp(response.as_of))
