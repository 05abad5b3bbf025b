"""Commission plans as stored: versions, and the terms a run applies.

``upsert`` never rewrites a plan: it stores the next version. Which version is in
force for a period is :func:`salesguard_commissions.rules.rates.in_force`; with none,
the settings' default rates apply as version 0. Locked periods keep the lines they
were written with, whatever plan comes later.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.db import new_id, utcnow
from salesguard.errors import Conflict, InvalidInput
from salesguard.idempotency import IdempotentWrites
from salesguard.money import (
    MAX_MINOR,
    parse_decimal,
    percent_to_basis_points,
    percent_to_proto,
    to_proto,
)
from salesguard.principal import current_principal
from salesguard.service import Runtime
from salesguard.timeutil import to_timestamp
from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_api.common.v1 import common_pb2
from salesguard_commissions.models import IdempotencyKey, Plan
from salesguard_commissions.rules.rates import PlanTerms, in_force_query
from salesguard_commissions.settings import CommissionsSettings

WRITE_ACTION = "commissions.plans.write"
READ_ACTION = "commissions.plans.read"
DEFAULT_PLAN_ID = "default"
# Version 0 (the settings' rates) is in force from the beginning of time.
DEFAULT_EFFECTIVE_FROM = date(1970, 1, 1)


def rate_bp(field: str, value: common_pb2.Decimal | str) -> int:
    """A required rate in percent (0–100, at most two decimals) as basis points of a percent."""
    text = value.value if isinstance(value, common_pb2.Decimal) else value
    if not text.strip():  # percent_to_basis_points reads an empty rate as 0 %
        raise InvalidInput(field, f"{field} is required")
    return percent_to_basis_points(field, value)


def cap_minor(field: str, value: common_pb2.Decimal) -> int | None:
    """An optional cap in cents: empty or zero is no cap."""
    if not value.value.strip():
        return None
    amount = parse_decimal(field, value, places=2)
    if amount < 0:
        raise InvalidInput(field, f"{field} cannot be negative")
    minor = int(amount * 100)
    if minor > MAX_MINOR:
        raise InvalidInput(field, f"{field} is too large")
    return minor or None


def plan_to_proto(row: Plan) -> pb.CommissionPlan:
    return pb.CommissionPlan(
        id=row.id,
        version=row.version,
        effective_from=row.effective_from.isoformat(),
        company_rate_percent=percent_to_proto(row.company_rate_bp),
        personal_rate_percent=percent_to_proto(row.personal_rate_bp),
        cap_per_order=to_proto(row.cap_per_order_minor or 0),
        cap_per_period=to_proto(row.cap_per_period_minor or 0),
        created_by=row.created_by,
        created_at=to_timestamp(row.created_at),
        note=row.note,
    )


def terms_of(row: Any) -> PlanTerms:
    """The terms of a plan row (an ORM object or a Core row of the plans table)."""
    return PlanTerms(
        version=row.version,
        company_rate_bp=row.company_rate_bp,
        personal_rate_bp=row.personal_rate_bp,
        cap_per_order_minor=row.cap_per_order_minor,
        cap_per_period_minor=row.cap_per_period_minor,
    )


class Plans:
    def __init__(self, runtime: Runtime[CommissionsSettings]) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey)
        self.policy = runtime.policy
        self.settings = runtime.settings

    def default_terms(self) -> PlanTerms:
        return PlanTerms(
            version=0,
            company_rate_bp=rate_bp(
                "default_company_rate_percent",
                self.settings.default_company_rate_percent,
            ),
            personal_rate_bp=rate_bp(
                "default_personal_rate_percent",
                self.settings.default_personal_rate_percent,
            ),
            cap_per_order_minor=None,
            cap_per_period_minor=None,
        )

    def _default_proto(self) -> pb.CommissionPlan:
        terms = self.default_terms()
        return pb.CommissionPlan(
            id=DEFAULT_PLAN_ID,
            version=0,
            effective_from=DEFAULT_EFFECTIVE_FROM.isoformat(),
            company_rate_percent=percent_to_proto(terms.company_rate_bp),
            personal_rate_percent=percent_to_proto(terms.personal_rate_bp),
            cap_per_order=to_proto(0),
            cap_per_period=to_proto(0),
            created_by="settings",
            note="default rates from the service settings",
        )

    async def upsert(self, request: pb.UpsertCommissionPlanRequest) -> pb.CommissionPlan:
        principal = current_principal()
        (await self.policy.decide(principal, WRITE_ACTION)).require(WRITE_ACTION)
        effective_from = validation.civil_date("effective_from", request.effective_from)
        company = rate_bp("company_rate_percent", request.company_rate_percent)
        personal = rate_bp("personal_rate_percent", request.personal_rate_percent)
        per_order = cap_minor("cap_per_order", request.cap_per_order)
        per_period = cap_minor("cap_per_period", request.cap_per_period)
        note = validation.text("note", request.note, max_length=validation.REASON_LENGTH)

        async def store(session: AsyncSession) -> pb.CommissionPlan:
            latest = await session.scalar(select(func.max(Plan.version)))
            row = Plan(
                id=new_id(),
                version=(latest or 0) + 1,
                effective_from=effective_from,
                company_rate_bp=company,
                personal_rate_bp=personal,
                cap_per_order_minor=per_order,
                cap_per_period_minor=per_period,
                note=note,
                created_by=principal.id,
                created_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            return plan_to_proto(row)

        try:
            return await self.idempotent.run(principal.id, request, pb.CommissionPlan, store)
        except IntegrityError:
            # Another version was stored at the same moment: the caller retries on top of it.
            raise Conflict("another plan version was stored at the same time; retry") from None

    async def list_plans(self) -> list[pb.CommissionPlan]:
        (await self.policy.decide(current_principal(), READ_ACTION)).require(READ_ACTION)
        async with self.db.read() as session:
            rows = (await session.scalars(select(Plan).order_by(Plan.version))).all()
        return [self._default_proto(), *(plan_to_proto(row) for row in rows)]

    async def terms_for(self, first_day: date) -> PlanTerms:
        """The plan in force for a period starting on ``first_day`` (version 0 when none)."""
        async with self.db.read() as session:
            row = (await session.execute(in_force_query(Plan.__table__, first_day))).first()
        return self.default_terms() if row is None else terms_of(row)
