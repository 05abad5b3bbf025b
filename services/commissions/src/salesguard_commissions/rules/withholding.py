"""M2: the status of a commission line, strongest first.

- ``WITHHELD``: an alert of a withholding kind (:data:`ALERT_KINDS`) concerns the order
  or its customer, and is open, acknowledged, or resolved as confirmed (a cleared or
  dismissed one releases the line). An alert naming an order concerns that order; one
  naming a customer and no order (e.g. ``DIVERSION_RISK``) concerns every order of the
  customer. The alert kinds lead the line's reason.
- ``PENDING_REVIEW``: the source class needs a person (a source conflict, an unknown
  customer), or the employee has left and their lines are frozen.
- ``PAYABLE``: otherwise.

A freeze turns the employee's payable and pending lines of open periods to
``PENDING_REVIEW`` set-based (:func:`freezable_lines`); :func:`status_after_freeze` is
the same rule for one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, FromClause

from salesguard_api.common.v1 import common_pb2
from salesguard_commissions.rules.locking import in_open_period, is_open
from salesguard_commissions.rules.vocabulary import (
    COMMISSION,
    PAYABLE,
    PENDING_REVIEW,
    REASON_SEPARATOR,
    WITHHELD,
    join_reasons,
)

# The alert kinds that hold a line back (the settings may name others).
ALERT_KINDS = ("FAKE_DEAL_SUSPECTED", "DIVERSION_RISK", "ATTRIBUTION_MISMATCH")
# The line statuses a freeze turns to PENDING_REVIEW: a withheld line stays withheld.
FREEZABLE_STATUSES = (PAYABLE, PENDING_REVIEW)

# (alert ID, kind)
AlertRef = tuple[str, str]


# Alerts in these statuses hold back; a resolved one only with this resolution.
HOLDING_STATUSES = (common_pb2.ALERT_STATUS_OPEN, common_pb2.ALERT_STATUS_ACKNOWLEDGED)
HOLDING_RESOLUTION = common_pb2.ALERT_RESOLUTION_CONFIRMED


def withholds(target: common_pb2.AlertTarget) -> bool:
    """Open and acknowledged alerts hold back; a resolved one only when confirmed."""
    if target.status in HOLDING_STATUSES:
        return True
    return (
        target.status == common_pb2.ALERT_STATUS_RESOLVED
        and target.resolution == HOLDING_RESOLUTION
    )


@dataclass(frozen=True)
class Withholding:
    """The alerts that hold lines back, indexed by what they concern."""

    by_order: dict[str, list[AlertRef]] = field(default_factory=dict)
    by_customer: dict[str, list[AlertRef]] = field(default_factory=dict)

    @classmethod
    def from_targets(cls, targets: Iterable[common_pb2.AlertTarget]) -> Withholding:
        by_order: dict[str, list[AlertRef]] = {}
        by_customer: dict[str, list[AlertRef]] = {}
        for target in targets:
            if not withholds(target):
                continue
            entry = (target.alert_id, target.kind)
            if target.order_id:
                by_order.setdefault(target.order_id, []).append(entry)
            elif target.customer_id:
                by_customer.setdefault(target.customer_id, []).append(entry)
        return cls(by_order, by_customer)

    def concerning(self, order_id: str, customer_id: str) -> list[AlertRef]:
        """(alert ID, kind) of the alerts holding this order back, sorted by ID."""
        found = self.by_order.get(order_id, []) + self.by_customer.get(customer_id, [])
        return sorted(set(found))

    def __len__(self) -> int:
        return sum(map(len, self.by_order.values())) + sum(map(len, self.by_customer.values()))


@dataclass(frozen=True, slots=True)
class LineStatus:
    status: str
    reason: str
    alert_ids: list[str]


def frozen_reason(reason: str) -> str:
    return f"employee left: {reason}" if reason else "employee left"


def line_status(
    needs_review: bool, reason: str, alerts: Sequence[AlertRef], frozen: str | None
) -> LineStatus:
    """The status of a line whose source class ``needs_review`` (or not), with the reason
    so far, the alerts concerning it (:meth:`Withholding.concerning`) and, when its
    employee is frozen, the reason they were."""
    status = PENDING_REVIEW if needs_review else PAYABLE
    alert_ids: list[str] = []
    if alerts:
        status = WITHHELD
        alert_ids = [alert_id for alert_id, _ in alerts]
        reason = join_reasons(*sorted({kind for _, kind in alerts}), reason)
    if frozen is not None and status != WITHHELD:
        status = PENDING_REVIEW
        reason = join_reasons(reason, frozen_reason(frozen))
    return LineStatus(status, reason, alert_ids)


def freezes(kind: str, status: str, period_status: str | None) -> bool:
    """Whether a freeze of the line's employee holds this line for review."""
    return kind == COMMISSION and status in FREEZABLE_STATUSES and is_open(period_status)


def status_after_freeze(kind: str, status: str, period_status: str | None) -> str:
    """A line's status once its employee is frozen."""
    return PENDING_REVIEW if freezes(kind, status, period_status) else status


def freezable_lines(
    lines: FromClause, periods: FromClause, employee_id: str
) -> list[ColumnElement[bool]]:
    """The employee's lines :func:`freezes` holds, as SQL conditions over the lines and
    periods tables."""
    return [
        lines.c.employee_id == employee_id,
        lines.c.kind == COMMISSION,
        lines.c.status.in_(FREEZABLE_STATUSES),
        in_open_period(lines, periods),
    ]


def frozen_values(lines: FromClause, reason: str) -> dict[str, object]:
    """What a freeze sets on the lines of :func:`freezable_lines` (``reason``: why the
    employee was frozen)."""
    return {
        "status": PENDING_REVIEW,
        "reason": lines.c.reason + REASON_SEPARATOR + frozen_reason(reason),
    }
