"""Alerts stored the way a service's detector raises them, at a chosen time.

For tests about reading alerts (filters, risk scores) rather than about a detector:
the alert goes into the owning service's own database through ``raise_alert`` and
is served by that service like any other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from salesguard.alerts import AlertColumns, AlertDraft, raise_alert
from salesguard_attendance.models import Alert as AttendanceAlert
from salesguard_customers.models import Alert as CustomersAlert
from salesguard_orders.models import Alert as OrdersAlert
from tests.harness import Suite, unique

# A page of alerts with a filter: IDs, kinds and sources, the total and the cursor.
ALERTS_PAGE = """query($filter: AlertFilter, $first: Int, $after: String) {
  alerts(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id kind source } }
  }
}"""

# Deciding an alert through the gateway, with the decision history it answers.
HISTORY = "history { status resolution by { id } }"
UPDATE_ALERT = f"""mutation($input: UpdateAlertInput!) {{
  updateAlert(input: $input) {{ alert {{ id status resolution {HISTORY} }} }} }}"""

ALERT_MODELS: dict[str, type[AlertColumns]] = {
    "attendance": AttendanceAlert,
    "customers": CustomersAlert,
    "orders": OrdersAlert,
}


async def stored_alert(
    suite: Suite,
    source: str,
    kind: str,
    *,
    employee_id: str,
    branch_id: str,
    detected_at: datetime | None = None,
    customer_id: str | None = None,
    order_id: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> str:
    """Store one alert in ``source``'s database; its ID."""
    model = ALERT_MODELS[source]
    dedupe_key = unique(f"test-{kind}")
    async with suite.running[source].runtime.db.transaction() as session:
        await raise_alert(
            session,
            model,
            AlertDraft(
                kind=kind,
                dedupe_key=dedupe_key,
                employee_id=employee_id,
                customer_id=customer_id,
                order_id=order_id,
                branch_id=branch_id,
                detected_at=detected_at or datetime.now(UTC),
                evidence=evidence or {},
            ),
            source=source,
        )
        alert_id = await session.scalar(select(model.id).where(model.dedupe_key == dedupe_key))
    assert isinstance(alert_id, str)
    return alert_id
