"""Commissions (the commissions service, M1–M5): plans, runs, locks, statements, exports.

A period is a calendar month written ``YYYY-MM`` (in the branch's time zone); the
service checks it and answers ``VALIDATION`` with ``extensions.field = "period"``.
Who may do what is the service's decision (policy as code): finance runs, locks
and exports; a rep reads their own statement, a manager their branch's, HR and
finance everyone's; admins and finance write plans.

Amounts are ``Money`` (a Decimal and its currency); rates, and the caps (applied in each
line's own currency), the ``Decimal`` scalar. A statement is one call to the
service; its lines link orders, customers, employees and branches through the
request's DataLoaders, so a statement costs a fixed number of calls however
many lines it has (one more per hundred orders or customers). The lines of a
statement are a plain list, not a connection: the service answers a statement
(one employee, one month) whole, with totals that are exactly the sums of its
lines; paging it would only hide lines from the totals.

This module holds the types and the queries; the mutations (plans, runs, locks and
exports) are in schema/commissions_mutations.py.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.common import (
    described,
)
from salesguard_gateway.schema.conversions import (
    Money,
    amount,
    converted,
    money,
    optional_decimal,
    optional_money,
)
from salesguard_gateway.schema.customers import CUSTOMER
from salesguard_gateway.schema.enums import (
    LineKind,
    LineStatus,
    PeriodStatus,
    SourceChannel,
    period_status_of,
)
from salesguard_gateway.schema.nodes import GlobalID, Node, raw_id, reference, references
from salesguard_gateway.schema.orders import ORDER
from salesguard_gateway.schema.people import BRANCH, EMPLOYEE

PERIOD_DESCRIPTION = 'A month, written YYYY-MM (e.g. "2026-03"), in the branch\'s time zone.'

# --- enums -------------------------------------------------------------------------


# --- plans -------------------------------------------------------------------------


@strawberry.type(
    description="A commission plan version (M1): rates by source class, optional caps. Admins, "
    "finance and HR read the plans."
)
class CommissionPlan(Node):
    version: int = strawberry.field(description="0: the service's default rates.")
    effective_from: date | None = strawberry.field(
        description="The plan applies to periods starting on or after this day."
    )
    company_rate_percent: Decimal = strawberry.field(
        description="For customers registered through a company channel."
    )
    personal_rate_percent: Decimal = strawberry.field(
        description="For customers registered as PERSONAL (the rep's own network)."
    )
    cap_per_order: Decimal | None = strawberry.field(description="Null: no cap.")
    cap_per_period: Decimal | None = strawberry.field(
        description="Per employee and period; null: no cap."
    )
    created_at: datetime | None = strawberry.field(
        description="When the version was stored; null for version 0."
    )
    note: str | None = strawberry.field(description="What the version is for; null if nothing.")
    created_by_id: strawberry.Private[str]

    created_by_id_field = reference(
        "Employee",
        "created_by_id",
        "createdById",
        "Who stored it; null for version 0 (the default plan, from the service's settings).",
    )

    created_by = EMPLOYEE.field(
        "created_by_id",
        "Who stored it; null for the default plan or when not visible to the caller.",
    )


def _cap(value: common_pb2.Decimal) -> Decimal | None:
    """A cap: unset or zero is none."""
    cap = optional_decimal(value)
    return cap if cap else None


def plan_from_proto(message: pb.CommissionPlan) -> CommissionPlan:
    return converted(
        CommissionPlan,
        message,
        company_rate_percent=amount(message.company_rate_percent),
        personal_rate_percent=amount(message.personal_rate_percent),
        cap_per_order=_cap(message.cap_per_order),
        cap_per_period=_cap(message.cap_per_period),
        # Version 0 is "created" by the service's settings, not by an employee.
        created_by_id="" if message.version == 0 else message.created_by,
    )


# --- lines and statements ------------------------------------------------------------


@strawberry.type(description="One order's commission in a period, or a clawback of one (M2–M4).")
class CommissionLine(Node):
    period: str = strawberry.field(description=PERIOD_DESCRIPTION)
    order_code: str = strawberry.field(
        description='The order\'s code, e.g. "O-000123", also when the order is hidden.'
    )
    kind: LineKind | None = strawberry.field(
        description="COMMISSION for an order paid in the period; CLAWBACK for a payment "
        "reversed after the period of its order's line was locked (M4), always PAYABLE."
    )
    status: LineStatus | None = strawberry.field(
        description="WITHHELD while a FAKE_DEAL_SUSPECTED, DIVERSION_RISK or "
        "ATTRIBUTION_MISMATCH alert concerns the order or its customer and is not cleared or "
        "dismissed (M2); PENDING_REVIEW when the source needs a person (SOURCE_CONFLICT, M3; "
        "an unknown customer) or the employee left and their lines are frozen; else PAYABLE."
    )
    base: Money = strawberry.field(description="The order total the rate applies to.")
    rate: Decimal = strawberry.field(description='In percent, e.g. "5.00".')
    amount: Money = strawberry.field(
        description="Base × rate, rounded half-up to the cent, after caps; negative for a clawback."
    )
    currency: str = strawberry.field(description="ISO 4217: the order's currency.")
    reason: str = strawberry.field(
        description=(
            'Why, as codes joined by "; ": COMPANY_CHANNEL, PERSONAL_CHANNEL, SOURCE_CONFLICT, '
            "UNKNOWN_CUSTOMER, CAPPED_PER_ORDER, CAPPED_PER_PERIOD, the kinds of the alerts "
            "that withhold it, or the clawback's origin."
        )
    )
    alert_ids: strawberry.Private[list[str]]

    alert_ids_field = references(
        "Alert",
        "alert_ids",
        "alertIds",
        "The alerts withholding the line (updateAlert takes these IDs).",
    )
    source_claim: SourceChannel | None = strawberry.field(
        description="The source channel the rep claimed on the order."
    )
    registered_source: SourceChannel | None = strawberry.field(
        description="The customer's source channel in the registry, which sets the rate."
    )
    plan_version: int = strawberry.field(description="The plan version whose rates applied.")
    fully_paid_at: datetime | None = strawberry.field(
        description="When the order's payments first covered its total: what puts it in the period."
    )
    order_id: strawberry.Private[str]
    employee_id: strawberry.Private[str]
    customer_id: strawberry.Private[str]

    order_id_field = reference(
        "Order",
        "order_id",
        "orderId",
        "The order, also when the caller may not see it.",
        required=True,
    )
    employee_id_field = reference(
        "Employee", "employee_id", "employeeId", "Who is credited: the submitter.", required=True
    )
    branch_id: strawberry.Private[str]

    order = ORDER.field("order_id", "Null when the caller may not see the order.")

    customer = CUSTOMER.field("customer_id", "Null when the caller may not see the customer.")

    employee = EMPLOYEE.field(
        "employee_id", "Who is credited; null when not visible to the caller."
    )

    branch = BRANCH.field("branch_id", "The branch whose period holds the line: the order's.")


def line_from_proto(message: pb.CommissionLine) -> CommissionLine:
    return converted(
        CommissionLine,
        message,
        base=money(message.base, message.currency),
        rate=amount(message.rate_percent),
        amount=money(message.amount, message.currency),
    )


@strawberry.type(description="A statement's sums in one currency: exactly the sums of its lines.")
class StatementTotal:
    currency: str = strawberry.field(description="ISO 4217: the currency of these sums.")
    payable: Money = strawberry.field(description="The sum of the PAYABLE commission lines.")
    withheld: Money = strawberry.field(description="The sum of the WITHHELD lines.")
    pending_review: Money = strawberry.field(description="The sum of the PENDING_REVIEW lines.")
    clawback: Money = strawberry.field(description="Zero or negative.")


@strawberry.type(
    description="One employee's commission lines of a month, with totals per currency. A rep "
    "reads their own, a manager their branch's (a headquarters manager: all), HR and finance "
    "anyone's."
)
class CommissionStatement:
    period: str = strawberry.field(description=PERIOD_DESCRIPTION)
    period_status: PeriodStatus | None = strawberry.field(
        description="LOCKED when every branch period of the lines is locked; null before a run."
    )
    lines: list[CommissionLine] = strawberry.field(
        description="Commissions first, then clawbacks; each by payment time and order code."
    )
    totals: list[StatementTotal] = strawberry.field(
        description="One entry per currency of the lines; none for an empty month."
    )
    employee_id: strawberry.Private[str]

    employee_id_field = reference(
        "Employee", "employee_id", "employeeId", "Whose statement it is.", required=True
    )
    employee = EMPLOYEE.field(
        "employee_id", "The employee credited; null when not visible to the caller."
    )


def statement_from_proto(message: pb.CommissionStatement) -> CommissionStatement:
    return CommissionStatement(
        period=message.period,
        period_status=period_status_of(message.period_status),
        lines=[line_from_proto(line) for line in message.lines],
        totals=[
            StatementTotal(
                currency=total.currency,
                payable=money(total.payable, total.currency),
                withheld=money(total.withheld, total.currency),
                pending_review=money(total.pending_review, total.currency),
                clawback=money(total.clawback, total.currency),
            )
            for total in message.totals
        ],
        employee_id=message.employee_id,
    )


# --- periods -----------------------------------------------------------------------


@strawberry.type(description="A branch's commission period after a run or a lock.")
class PeriodSummary:
    period: str = strawberry.field(description=PERIOD_DESCRIPTION)
    status: PeriodStatus | None = strawberry.field(
        description="OPEN (a run rewrites its lines) or LOCKED (it never changes again)."
    )
    lines: int = strawberry.field(description="Lines of the period, clawbacks included.")
    orders: int = strawberry.field(description="Commission lines (one per order), clawbacks aside.")
    payable: Money | None = strawberry.field(
        description=(
            "Null when the period has no lines, or lines in more than one currency "
            "(see statements); so are the other sums."
        )
    )
    withheld: Money | None = strawberry.field(
        description="The sum of the WITHHELD lines; null as payable is."
    )
    pending_review: Money | None = strawberry.field(
        description="The sum of the PENDING_REVIEW lines; null as payable is."
    )
    clawback: Money | None = strawberry.field(
        description="The sum of the clawback lines, zero or negative; null as payable is."
    )
    last_run_at: datetime | None = strawberry.field(description="When it last ran.")
    locked_at: datetime | None = strawberry.field(
        description="When it was locked; null while OPEN."
    )
    plan_version: int = strawberry.field(description="The plan version its last run applied.")
    branch_id: strawberry.Private[str]
    locked_by_id: strawberry.Private[str]

    branch_id_field = reference(
        "Branch", "branch_id", "branchId", "The branch of the period.", required=True
    )
    locked_by_id_field = reference(
        "Employee", "locked_by_id", "lockedById", "Who locked the period; null while open."
    )
    branch = BRANCH.field("branch_id", "The branch whose period it is.")

    locked_by = EMPLOYEE.field(
        "locked_by_id", "Who locked it; null while OPEN or when not visible to the caller."
    )


def period_from_proto(message: pb.PeriodSummary) -> PeriodSummary:
    return converted(
        PeriodSummary,
        message,
        payable=optional_money(message.payable, message.currency),
        withheld=optional_money(message.withheld, message.currency),
        pending_review=optional_money(message.pending_review, message.currency),
        clawback=optional_money(message.clawback, message.currency),
        locked_by_id=message.locked_by,
    )


# --- roots -------------------------------------------------------------------------


@strawberry.type
class CommissionsQuery:
    @described(
        "Every plan version, oldest first; version 0 is the service's default rates. Admins, "
        "finance and HR; anyone else is FORBIDDEN."
    )
    async def commission_plans(self, info: Info) -> list[CommissionPlan] | None:
        response = await info.context.clients.commissions.ListCommissionPlans(
            pb.ListCommissionPlansRequest()
        )
        return [plan_from_proto(plan) for plan in response.plans]

    @described(
        "An employee's commission lines of a month with their totals. A rep reads their own, "
        "a manager their branch's, HR and finance anyone's (else FORBIDDEN)."
    )
    async def commission_statement(
        self,
        info: Info,
        employee_id: Annotated[
            GlobalID | None, strawberry.argument(description="Defaults to the caller.")
        ] = None,
        *,
        period: Annotated[str, strawberry.argument(description=PERIOD_DESCRIPTION)],
    ) -> CommissionStatement | None:
        request = pb.GetCommissionStatementRequest(
            employee_id=raw_id(employee_id, "Employee", "employeeId")
            or info.context.caller.principal.id,
            period=period,
        )
        response = await info.context.clients.commissions.GetCommissionStatement(request)
        return statement_from_proto(response.statement)
