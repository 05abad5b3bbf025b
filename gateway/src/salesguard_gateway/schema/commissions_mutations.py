"""Commissions' mutations: a plan's next version, a period's run, lock and payroll export.

Who may do what is the service's decision (policy as code): finance runs, locks and
exports; admins and finance write plans. A period is a calendar month written
``YYYY-MM`` (``PERIOD_DESCRIPTION``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_gateway.context import Info
from salesguard_gateway.schema.commissions import (
    PERIOD_DESCRIPTION,
    CommissionPlan,
    PeriodSummary,
    period_from_proto,
    plan_from_proto,
)
from salesguard_gateway.schema.common import (
    DOWNLOAD_URL_DESCRIPTION,
    idempotency_key_field,
)
from salesguard_gateway.schema.conversions import (
    civil_date,
    copied,
    from_timestamp,
    to_decimal,
)
from salesguard_gateway.schema.nodes import GlobalID, raw_id
from salesguard_gateway.schema.resolvers import mutation

# --- mutations' inputs and payloads --------------------------------------------------


@strawberry.input(description="Stores the next plan version; versions are never rewritten.")
class UpsertCommissionPlanInput:
    effective_from: date = strawberry.field(
        description="The plan applies to periods starting on or after this day."
    )
    company_rate_percent: Decimal = strawberry.field(description="0–100, up to 2 decimals.")
    personal_rate_percent: Decimal = strawberry.field(description="0–100, up to 2 decimals.")
    cap_per_order: Decimal | None = strawberry.field(
        default=None, description="Up to 2 decimals; none (or zero): no cap."
    )
    cap_per_period: Decimal | None = strawberry.field(
        default=None, description="Per employee and period; none (or zero): no cap."
    )
    note: str | None = strawberry.field(default=None, description="What the version is for.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="The result of upsertCommissionPlan.")
class UpsertCommissionPlanPayload:
    plan: CommissionPlan = strawberry.field(description="The plan version stored.")


@strawberry.input(description="Which period to run (M2).")
class RunCommissionsInput:
    period: str = strawberry.field(description=PERIOD_DESCRIPTION)
    branch_id: GlobalID | None = strawberry.field(
        default=None,
        description="None: every branch (locked ones are left as they are).",
    )


@strawberry.type(description="The result of runCommissions.")
class RunCommissionsPayload:
    periods: list[PeriodSummary] = strawberry.field(
        description="One summary per branch period run or, when locked, left as it was."
    )


@strawberry.input(description="Which branch period to lock (M5).")
class LockCommissionPeriodInput:
    period: str = strawberry.field(description=PERIOD_DESCRIPTION)
    branch_id: GlobalID = strawberry.field(description="The branch's ID.")


@strawberry.type(description="The result of lockCommissionPeriod.")
class LockCommissionPeriodPayload:
    period: PeriodSummary = strawberry.field(description="The period, now LOCKED.")


@strawberry.input(description="Which period to export for payroll.")
class ExportCommissionPeriodInput:
    period: str = strawberry.field(description=PERIOD_DESCRIPTION)
    branch_id: GlobalID | None = strawberry.field(default=None, description="None: every branch.")


@strawberry.type(
    description=(
        "A payroll CSV of the period's lines, the same bytes for the same lines; no cell "
        "starts a spreadsheet formula (README, Exports)."
    )
)
class ExportCommissionPeriodPayload:
    download_url: str = strawberry.field(description=DOWNLOAD_URL_DESCRIPTION)
    download_url_expires_at: datetime | None = strawberry.field(
        description="When downloadUrl stops working."
    )
    row_count: int = strawberry.field(description="Lines in the file, the header aside.")
    sha256: str = strawberry.field(description="Of the file's bytes, hex.")


def _branch_period(
    input: RunCommissionsInput | LockCommissionPeriodInput | ExportCommissionPeriodInput,
) -> dict[str, str]:
    """The period and branch a run, a lock or an export names, as its request's fields."""
    return {
        "period": input.period,
        "branch_id": raw_id(input.branch_id, "Branch", "input.branchId"),
    }


@strawberry.type
class CommissionsMutation:
    @mutation(
        "Store the next commission plan version (M1); admin or finance.", input="The plan version."
    )
    async def upsert_commission_plan(
        self, info: Info, input: UpsertCommissionPlanInput
    ) -> UpsertCommissionPlanPayload:
        request = pb.UpsertCommissionPlanRequest(
            effective_from=civil_date(input.effective_from),
            company_rate_percent=to_decimal(input.company_rate_percent),
            personal_rate_percent=to_decimal(input.personal_rate_percent),
            cap_per_order=to_decimal(input.cap_per_order),
            cap_per_period=to_decimal(input.cap_per_period),
            note=input.note or "",
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.commissions.UpsertCommissionPlan(request)
        return UpsertCommissionPlanPayload(plan=plan_from_proto(response.plan))

    @mutation(
        "Compute a period's lines from the valid orders paid in it (M2–M5); finance only. "
        "Deterministic and idempotent: a re-run gives the same lines, and picks up alerts "
        "decided since (a cleared alert releases the lines it withheld).",
        input="The period and branch.",
    )
    async def run_commissions(
        self, info: Info, input: RunCommissionsInput
    ) -> RunCommissionsPayload:
        response = await info.context.clients.commissions.RunCommissions(
            pb.RunCommissionsRequest(**_branch_period(input))
        )
        return RunCommissionsPayload(periods=[period_from_proto(p) for p in response.periods])

    @mutation(
        "Lock a branch's period after its run: it never changes again, corrections go into a "
        "later period (M5); finance only. A period that has not run is FAILED_PRECONDITION.",
        input="The period and branch.",
    )
    async def lock_commission_period(
        self, info: Info, input: LockCommissionPeriodInput
    ) -> LockCommissionPeriodPayload:
        response = await info.context.clients.commissions.LockCommissionPeriod(
            pb.LockCommissionPeriodRequest(**_branch_period(input))
        )
        return LockCommissionPeriodPayload(period=period_from_proto(response.period))

    @mutation(
        "Export a period's lines for payroll as a CSV; finance only.",
        input="The period and branch.",
    )
    async def export_commission_period(
        self, info: Info, input: ExportCommissionPeriodInput
    ) -> ExportCommissionPeriodPayload:
        response = await info.context.clients.commissions.ExportCommissionPeriod(
            pb.ExportCommissionPeriodRequest(**_branch_period(input))
        )
        return copied(
            ExportCommissionPeriodPayload,
            response,
            download_url_expires_at=from_timestamp(response.download_url_expires_at),
        )
