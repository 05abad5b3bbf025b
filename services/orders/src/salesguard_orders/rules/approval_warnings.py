"""O2 ``APPROVAL_DESPITE_WARNING``: an approver who goes on approving a rep's orders after
being warned that orders they approved for that rep look fake (issue 17: a manager
approving a colluding rep's fake deals).

A *warning* is an alert of a warning kind (policy data ``approval_warning.warning_kinds``,
by default ``FAKE_DEAL_SUSPECTED``) that

- concerns an order the same rep submitted and this approver approved (a step of theirs),
- still stands: open, acknowledged, or resolved as confirmed (the statuses that withhold
  commission, M2); a dismissed or cleared alert warns nobody any more,
- and whose order is still unpaid and unshipped: a late payment or a shipment answers it.

Approving a new order of that rep while at least ``approval_warning.min_warnings`` (by
default 1) warnings stand raises the alert on the approver, once per ignored warning (the
newest one names it). An honest approver holds or rejects the rep's orders once warned, or
asks HR to look into the alert; a colluding one keeps approving. Nothing is counted from
the approvals made before the warning, so a manager who approved a rep's fake deals in good
faith (every approver of a fake deal does, at first) is not flagged for them. The alert is
about the approver: the case-access policy shows a manager's case to HR and headquarters
only, never to the manager it names nor to their branch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, not_, or_, select

from salesguard_orders.models import Alert, ApprovalStep, Order, Shipment

APPROVAL_DESPITE_WARNING = "APPROVAL_DESPITE_WARNING"
DEFAULT_WARNING_KINDS = ("FAKE_DEAL_SUSPECTED",)
# The alert statuses that still stand (as for withholding, M2), and the one resolution.
STANDING_STATUSES = ("OPEN", "ACKNOWLEDGED")
RESOLVED = "RESOLVED"
CONFIRMED = "CONFIRMED"
UNPAID = "UNPAID"
APPROVED = "APPROVED"


@dataclass(frozen=True)
class WarningThresholds:
    """Policy data ``approval_warning``."""

    min_warnings: int = 1
    warning_kinds: tuple[str, ...] = DEFAULT_WARNING_KINDS


def thresholds_from(values: Mapping[str, Any]) -> WarningThresholds:
    kinds = values.get("warning_kinds")
    return WarningThresholds(
        min_warnings=max(1, int(values.get("min_warnings", 1))),
        warning_kinds=(
            tuple(str(k) for k in kinds)
            if isinstance(kinds, Sequence) and not isinstance(kinds, str) and kinds
            else DEFAULT_WARNING_KINDS
        ),
    )


def warning_stands(
    *,
    kind: str,
    status: str,
    resolution: str | None,
    payment_state: str,
    paid_minor: int,
    shipped: bool,
    shipments: int,
    thresholds: WarningThresholds,
) -> bool:
    """An alert on an order the approver approved warns them (see the module)."""
    return (
        kind in thresholds.warning_kinds
        and (status in STANDING_STATUSES or (status == RESOLVED and resolution == CONFIRMED))
        and payment_state == UNPAID
        and paid_minor == 0
        and not shipped
        and shipments == 0
    )


def ignores_warnings(warnings: int, thresholds: WarningThresholds) -> bool:
    """O2: approving with this many warnings standing raises APPROVAL_DESPITE_WARNING."""
    return warnings >= thresholds.min_warnings


def dedupe_key(approver_id: str, submitted_by: str, warning_alert_id: str) -> str:
    """One alert per approver, rep and newest warning ignored."""
    return f"{APPROVAL_DESPITE_WARNING}:{approver_id}:{submitted_by}:{warning_alert_id}"


def warnings_select(
    *, approver_id: str, submitted_by: str, order_id: str, thresholds: WarningThresholds
) -> Select[tuple[str, int]]:
    """:func:`warning_stands` in SQL: the warnings standing against ``approver_id`` about
    ``submitted_by``'s orders other than ``order_id`` (alert ID, order number), oldest first."""
    standing: ColumnElement[bool] = or_(
        Alert.status.in_(STANDING_STATUSES),
        and_(Alert.status == RESOLVED, Alert.resolution == CONFIRMED),
    )
    return (
        select(Alert.id, Order.number)
        .join(Order, Order.id == Alert.order_id)
        .where(
            Alert.kind.in_(thresholds.warning_kinds),
            standing,
            Order.submitted_by == submitted_by,
            Order.id != order_id,
            Order.payment_state == UNPAID,
            Order.paid_minor == 0,
            not_(Order.shipped),
            ~exists().where(Shipment.order_id == Order.id),
            exists().where(
                ApprovalStep.order_id == Order.id,
                ApprovalStep.approver_id == approver_id,
                ApprovalStep.status == APPROVED,
            ),
        )
        .order_by(Order.number, Alert.id)
    )
