"""Runs ``APPROVAL_DESPITE_WARNING`` (:mod:`.rules.approvals`) when an approver approves a
step: the data raises it, in the approval's own transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.alerts import AlertDraft, raise_alert
from salesguard.policy import PolicyClient
from salesguard.principal import Principal
from salesguard_orders import SERVICE_NAME
from salesguard_orders.models import Alert, Order, format_order_code
from salesguard_orders.rules import approvals as rules


async def thresholds(policy: PolicyClient) -> rules.WarningThresholds:
    return rules.warning_thresholds_from(await policy.threshold("approval_warning"))


async def check_approval(
    session: AsyncSession,
    policy: PolicyClient,
    order: Order,
    approver: Principal,
    now: datetime,
) -> bool:
    """Raise APPROVAL_DESPITE_WARNING on ``approver``, who has just approved a step of
    ``order``, if warnings stand against them about its submitter; True when raised."""
    limits = await thresholds(policy)
    warnings = (
        await session.execute(
            rules.warnings_select(
                approver_id=approver.id,
                submitted_by=order.submitted_by,
                order_id=order.id,
                thresholds=limits,
            )
        )
    ).all()
    if not rules.ignores_warnings(len(warnings), limits):
        return False
    newest_alert_id = warnings[-1][0]
    return await raise_alert(
        session,
        Alert,
        AlertDraft(
            kind=rules.APPROVAL_DESPITE_WARNING,
            dedupe_key=rules.warning_dedupe_key(approver.id, order.submitted_by, newest_alert_id),
            employee_id=approver.id,
            # The approver's own branch: a case about a manager is for HR and headquarters
            # (the policy hides it from branch managers), never for the order's branch.
            branch_id=approver.branch_id,
            detected_at=now,
            evidence={
                "approver_id": approver.id,
                "submitted_by": order.submitted_by,
                "order_code": order.code,
                "warnings": len(warnings),
                "warned_order_codes": ", ".join(
                    format_order_code(number) for _, number in warnings
                ),
                "warning_alert_ids": [alert_id for alert_id, _ in warnings],
                "min_warnings": limits.min_warnings,
            },
        ),
        source=SERVICE_NAME,
    )
