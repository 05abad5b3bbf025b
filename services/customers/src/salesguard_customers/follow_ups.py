"""Follow-ups (C5): visits, calls, messages and meetings recorded on a customer.

A follow-up also restarts the customer's neglect clock (:mod:`.rules.pool`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.db import new_id, utcnow
from salesguard.errors import Forbidden
from salesguard.idempotency import IdempotentWrites
from salesguard.listing import equal_to, period
from salesguard.pagination import count_if_asked, keyset_page, keyset_query
from salesguard.policy import scope_filter
from salesguard.principal import current_principal
from salesguard.timeutil import to_timestamp
from salesguard.writes import past_moment
from salesguard_api.customers.v1 import customers_pb2 as pb
from salesguard_customers.models import Customer, FollowUp, IdempotencyKey
from salesguard_customers.registry import SCOPE, Registry, customer_resource

FOLLOW_UP_KINDS = validation.enum_names(pb.FollowUpKind, "FOLLOW_UP_KIND_")


def follow_up_to_proto(row: FollowUp) -> pb.FollowUp:
    return pb.FollowUp(
        id=row.id,
        customer_id=row.customer_id,
        employee_id=row.employee_id,
        kind=pb.FollowUpKind.Value(f"FOLLOW_UP_KIND_{row.kind}"),
        at=to_timestamp(row.at),
        note=row.note,
        recorded_at=to_timestamp(row.recorded_at),
    )


class FollowUps:
    """``RecordFollowUp`` and ``ListFollowUps``."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.db = registry.db
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey)
        self.policy = registry.policy
        self.settings = registry.settings

    async def record_follow_up(
        self, request: pb.RecordFollowUpRequest
    ) -> pb.RecordFollowUpResponse:
        principal = current_principal()
        # Authorised first (a customer one may not read is absent, one read but not
        # followed up is FORBIDDEN), then the input validated.
        customer = await self.registry.readable(principal, request.customer_id)
        decision = await self.policy.decide(
            principal, "customers.follow_up", customer_resource(customer)
        )
        if not decision.allow:
            raise Forbidden(
                "you may record follow-ups only on customers in your scope",
                details={"reasons": ",".join(decision.reasons)},
            )
        # The follow-up is credited to the caller: active in the directory (SPEC §2).
        await self.registry.directory.require_active(principal.id)
        kind = validation.enum_value("kind", request.kind, FOLLOW_UP_KINDS)
        note = validation.text("note", request.note, max_length=validation.MAX_NOTE)
        now = utcnow()
        at = past_moment(
            "at", request.at, now=now, default=now, skew_seconds=self.settings.clock_skew_seconds
        )

        async def insert(session: AsyncSession) -> pb.RecordFollowUpResponse:
            follow_up = FollowUp(
                id=new_id(),
                customer_id=customer.id,
                employee_id=principal.id,
                kind=kind,
                at=at,
                note=note,
                recorded_at=utcnow(),
            )
            session.add(follow_up)
            await session.flush()
            return pb.RecordFollowUpResponse(follow_up=follow_up_to_proto(follow_up))

        return await self.idempotent.run(principal.id, request, pb.RecordFollowUpResponse, insert)

    async def list_follow_ups(self, request: pb.ListFollowUpsRequest) -> pb.ListFollowUpsResponse:
        principal = current_principal()
        requested = validation.page_size(
            "page.page_size", request.page.page_size, self.settings.page_limits
        )
        decision = await self.registry.read_decision(principal)
        size = decision.page_size(requested)
        conditions: list[Any] = [
            scope_filter(decision, SCOPE),
            *equal_to(
                (FollowUp.customer_id, request.customer_id),
                (FollowUp.employee_id, request.employee_id),
            ),
            *period(FollowUp.at, getattr(request, "from"), request.to),
        ]
        query = (
            select(FollowUp).join(Customer, Customer.id == FollowUp.customer_id).where(*conditions)
        )
        query = keyset_query(query, request.page, size, FollowUp.at, FollowUp.id)
        count_query = (
            select(func.count())
            .select_from(FollowUp)
            .join(Customer, Customer.id == FollowUp.customer_id)
            .where(*conditions)
        )
        async with self.db.read() as session:
            rows = list((await session.scalars(query)).all())
            total = await count_if_asked(request.page, session, count_query)
        page = keyset_page(rows, size, lambda row: (row.at, row.id))
        return pb.ListFollowUpsResponse(
            follow_ups=[follow_up_to_proto(row) for row in page.rows],
            cursors=page.cursors,
            page_info=page.page_info(total),
        )
