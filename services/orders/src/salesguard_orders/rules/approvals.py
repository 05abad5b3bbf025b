"""The approval chain (O2): which steps an order needs, whose turn it is, what a decision does.

- Every order needs a MANAGER of its branch; a FINANCE step is added above
  ``finance_approval_above_cny`` and an HQ_MANAGER step above ``hq_approval_above_cny``
  or for a line discount above ``hq_approval_discount_above_percent`` (thresholds in CNY,
  from the settings' currency rates).
- Steps are decided in sequence: the lowest pending step is the current one. Nobody
  decides their own order (``SELF_APPROVAL``), and nobody approves two steps of one
  order (``SAME_APPROVER``).
- A rejection rejects the order; the order is APPROVED once every step is approved.
- ``APPROVAL_DESPITE_WARNING`` (see :func:`warnings_select`): an approver who goes on
  approving a rep's orders after being warned that orders they approved for that rep
  look fake (issue 17: a manager approving a colluding rep's fake deals).

Pure, except :func:`awaiting_decision_of`: the same current-step rule as a set-based
filter for listings (who decides is always the policy's call).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, not_, or_, select
from sqlalchemy.orm import aliased

from salesguard import money
from salesguard.principal import Principal
from salesguard.vocabulary import ApprovalRole
from salesguard_orders.models import Alert, ApprovalStep, Order, Shipment, is_unpaid
from salesguard_orders.settings import OrdersSettings

# Step roles.
MANAGER = ApprovalRole.MANAGER
FINANCE = ApprovalRole.FINANCE
HQ_MANAGER = ApprovalRole.HQ_MANAGER
# Why a decision is refused.
SELF_APPROVAL = "SELF_APPROVAL"
SAME_APPROVER = "SAME_APPROVER"
# Step statuses.
PENDING = "PENDING"
APPROVED = "APPROVED"
REJECTED = "REJECTED"
# ApprovalStep.reason's length.
MAX_REASON = 200


@dataclass(frozen=True)
class StepPlan:
    role: str
    reason: str


def _cny(value: Decimal) -> str:
    return f"{value.quantize(money.CENT)} CNY"


def approval_chain(
    settings: OrdersSettings,
    *,
    currency: str,
    total_minor: int,
    max_discount_basis_points: int,
    flags: Sequence[str],
) -> list[StepPlan]:
    """O2: the steps an order needs: a manager always, finance and HQ above the thresholds."""
    total_cny = money.minor_to_decimal(total_minor) * settings.currency_rates_to_cny[currency]
    shown = _cny(total_cny)
    if currency != "CNY":
        shown += f" ({money.minor_to_decimal(total_minor)} {currency})"
    manager = "every order is approved by a manager of its branch"
    if flags:
        manager += f"; flagged {', '.join(flags)}"
    steps = [StepPlan(MANAGER, manager)]
    if total_cny > settings.finance_approval_above_cny:
        steps.append(
            StepPlan(FINANCE, f"total {shown} above {_cny(settings.finance_approval_above_cny)}")
        )
    hq: list[str] = []
    if total_cny > settings.hq_approval_above_cny:
        hq.append(f"total {shown} above {_cny(settings.hq_approval_above_cny)}")
    discount = Decimal(max_discount_basis_points) / 100
    if discount > settings.hq_approval_discount_above_percent:
        limit = settings.hq_approval_discount_above_percent.quantize(money.CENT)
        hq.append(f"line discount {discount.quantize(money.CENT)} % above {limit} %")
    if hq:
        steps.append(StepPlan(HQ_MANAGER, "; ".join(hq)))
    return [StepPlan(step.role, step.reason[:MAX_REASON]) for step in steps]


def current_step(statuses: Sequence[str]) -> int | None:
    """O2: the index of the step to decide now (the lowest pending one), None when decided."""
    return next((index for index, status in enumerate(statuses) if status == PENDING), None)


def step_asked_about(statuses: Sequence[str]) -> int | None:
    """The step the policy is asked about: the current one, else the last (so that an
    approver of a decided order learns it is decided), None without steps."""
    current = current_step(statuses)
    if current is not None:
        return current
    return len(statuses) - 1 if statuses else None


def is_self_approval(submitted_by: str, approver_id: str, policy_reasons: Iterable[str]) -> bool:
    """O2: nobody decides their own order (the policy says so too; either suffices)."""
    return submitted_by == approver_id or SELF_APPROVAL in policy_reasons


def approved_before(approver_ids: Iterable[str | None], approver_id: str) -> bool:
    """O2: the approver already decided a step of this order (another one must decide)."""
    return any(given == approver_id for given in approver_ids)


def step_status(approve: bool) -> str:
    return APPROVED if approve else REJECTED


def order_status_after(statuses: Sequence[str], *, approve: bool, current: str) -> str:
    """O2: the order's status once its current step is decided (``statuses`` include that
    decision): REJECTED on a rejection, APPROVED when every step is approved, else as is."""
    if not approve:
        return REJECTED
    if all(status == APPROVED for status in statuses):
        return APPROVED
    return current


def awaiting_decision_of(principal: Principal) -> ColumnElement[bool]:
    """O2 as a listing filter: orders whose current step the principal may decide.

    Mirrors the policy's step roles (MANAGER of the branch, FINANCE, HQ_MANAGER) and
    :func:`current_step`; excludes the principal's own orders (:func:`is_self_approval`)
    and orders where they already approved a step (:func:`approved_before`).
    """
    step = aliased(ApprovalStep)
    earlier = aliased(ApprovalStep)
    mine = aliased(ApprovalStep)
    roles: list[ColumnElement[bool]] = []
    if principal.has_role("MANAGER"):
        if principal.hq:
            roles += [step.role == MANAGER, step.role == HQ_MANAGER]
        elif principal.branch_id:
            roles.append(and_(step.role == MANAGER, Order.branch_id == principal.branch_id))
    if principal.has_role("FINANCE"):
        roles.append(step.role == FINANCE)
    if not roles:
        return false()
    current = ~exists().where(
        earlier.order_id == step.order_id,
        earlier.status == PENDING,
        earlier.sequence < step.sequence,
    )
    return and_(
        Order.status == "SUBMITTED",
        Order.submitted_by != principal.id,
        exists().where(step.order_id == Order.id, step.status == PENDING, or_(*roles), current),
        ~exists().where(mine.order_id == Order.id, mine.approver_id == principal.id),
    )


# -- APPROVAL_DESPITE_WARNING ------------------------------------------------------------
#
# O2: an approver who goes on approving a rep's orders after being warned.
#
# A *warning* is an alert of a warning kind (policy data ``approval_warning.warning_kinds``,
# by default ``FAKE_DEAL_SUSPECTED`` and its earlier sign ``SHIPMENT_OVERDUE``) that
#
# - concerns an order the same rep submitted and this approver approved (a step of theirs),
# - still stands: open, acknowledged, or resolved as confirmed (the statuses that withhold
#   commission); a dismissed or cleared alert warns nobody any more,
# - and whose order is still unpaid, unshipped and not back-ordered: a late payment, a
#   shipment or a back-order (which the order's approver may not record:
#   :func:`may_record_back_order`) answers it.
#
# Approving a new order of that rep while at least ``approval_warning.min_warnings`` (by
# default 1) warnings stand raises the alert on the approver, once per ignored warning (the
# newest one names it). An honest approver holds or rejects the rep's orders once warned, or
# asks HR to look into the alert; a colluding one keeps approving. Nothing is counted from
# the approvals made before the warning, so a manager who approved a rep's fake deals in good
# faith (every approver of a fake deal does, at first) is not flagged for them. The alert is
# about the approver: the case-access policy shows a manager's case to HR and headquarters
# only, never to the manager it names nor to their branch.

APPROVAL_DESPITE_WARNING = "APPROVAL_DESPITE_WARNING"
DEFAULT_WARNING_KINDS = ("FAKE_DEAL_SUSPECTED", "SHIPMENT_OVERDUE")
# The alert statuses that still stand (as for withholding commission), and the resolution.
STANDING_STATUSES = ("OPEN", "ACKNOWLEDGED")
ALERT_RESOLVED = "RESOLVED"
CONFIRMED = "CONFIRMED"
UNPAID = "UNPAID"


@dataclass(frozen=True)
class WarningThresholds:
    """Policy data ``approval_warning``."""

    min_warnings: int = 1
    warning_kinds: tuple[str, ...] = DEFAULT_WARNING_KINDS


def warning_thresholds_from(values: Mapping[str, Any]) -> WarningThresholds:
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
    back_ordered: bool,
    thresholds: WarningThresholds,
) -> bool:
    """An alert on an order the approver approved warns them (see the module)."""
    return (
        kind in thresholds.warning_kinds
        and (status in STANDING_STATUSES or (status == ALERT_RESOLVED and resolution == CONFIRMED))
        and payment_state == UNPAID
        and paid_minor == 0
        and not shipped
        and shipments == 0
        and not back_ordered
    )


def may_record_back_order(approvers: Collection[str], employee_id: str) -> bool:
    """Whoever approved an order may not vouch for its delay: a back-order defers the
    fake-deal checks and answers the approver's warnings, so a colluding approver could
    otherwise hide the deals they approve (separation of duties, as for self-approval)."""
    return employee_id not in approvers


def ignores_warnings(warnings: int, thresholds: WarningThresholds) -> bool:
    """O2: approving with this many warnings standing raises APPROVAL_DESPITE_WARNING."""
    return warnings >= thresholds.min_warnings


def warning_dedupe_key(approver_id: str, submitted_by: str, warning_alert_id: str) -> str:
    """One alert per approver, rep and newest warning ignored."""
    return f"{APPROVAL_DESPITE_WARNING}:{approver_id}:{submitted_by}:{warning_alert_id}"


def warnings_select(
    *, approver_id: str, submitted_by: str, order_id: str, thresholds: WarningThresholds
) -> Select[tuple[str, int]]:
    """:func:`warning_stands` in SQL: the warnings standing against ``approver_id`` about
    ``submitted_by``'s orders other than ``order_id`` (alert ID, order number), oldest first."""
    standing: ColumnElement[bool] = or_(
        Alert.status.in_(STANDING_STATUSES),
        and_(Alert.status == ALERT_RESOLVED, Alert.resolution == CONFIRMED),
    )
    return (
        select(Alert.id, Order.number)
        .join(Order, Order.id == Alert.order_id)
        .where(
            # The rep's alerts first (their index: employee, time), then their orders.
            Alert.employee_id == submitted_by,
            Alert.kind.in_(thresholds.warning_kinds),
            standing,
            Order.submitted_by == submitted_by,
            Order.id != order_id,
            is_unpaid(Order.number),
            not_(Order.shipped),
            Order.promised_ship_date.is_(None),
            ~exists().where(Shipment.order_id == Order.id),
            exists().where(
                ApprovalStep.order_id == Order.id,
                ApprovalStep.approver_id == approver_id,
                ApprovalStep.status == APPROVED,
            ),
        )
        .order_by(Order.number, Alert.id)
    )
