"""Unmasked contact reads: audited, and watched for bulk harvesting (C7, C8)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import distinct, func, select

from salesguard.alerts import AlertDraft, raise_alert
from salesguard.db import Database, utcnow
from salesguard.policy import PolicyClient
from salesguard.principal import Principal
from salesguard_customers import SERVICE_NAME, audit
from salesguard_customers.models import Alert, ContactRead, Customer

DEFAULT_BULK_COUNT = 10
DEFAULT_BULK_WINDOW_SECONDS = 3600


async def bulk_threshold(policy: PolicyClient) -> tuple[int, int]:
    """(customers, window in seconds) from policy data, so the security team tunes it."""
    settings = await policy.threshold("bulk_contact_access")
    return (
        int(settings.get("count", DEFAULT_BULK_COUNT)),
        int(settings.get("window_seconds", DEFAULT_BULK_WINDOW_SECONDS)),
    )


async def record_contact_reads(
    db: Database,
    policy: PolicyClient,
    principal: Principal,
    customers: Sequence[Customer],
    fields: Sequence[str],
) -> None:
    """Audit one read of unmasked contact fields and raise BULK_CONTACT_ACCESS at the threshold."""
    if not customers:
        return
    threshold, window_seconds = await bulk_threshold(policy)
    now = utcnow()
    branches = {customer.branch_id for customer in customers}
    async with db.transaction() as session:
        session.add_all(
            ContactRead(actor_id=principal.id, customer_id=c.id, at=now) for c in customers
        )
        await audit.append(
            session,
            [
                audit.AuditEntry(
                    actor_id=principal.id,
                    action="customer.contact.read",
                    customer_ids=[c.id for c in customers],
                    fields=list(fields),
                    branch_id=branches.pop() if len(branches) == 1 else None,
                )
            ],
        )
        await session.flush()
        window_start = now - timedelta(seconds=window_seconds)
        seen = int(
            await session.scalar(
                select(func.count(distinct(ContactRead.customer_id))).where(
                    ContactRead.actor_id == principal.id, ContactRead.at > window_start
                )
            )
            or 0
        )
        if seen >= threshold:
            # One alert per actor and window, however many reads follow.
            bucket = int(now.timestamp()) // window_seconds
            await raise_alert(
                session,
                Alert,
                AlertDraft(
                    kind="BULK_CONTACT_ACCESS",
                    dedupe_key=f"BULK_CONTACT_ACCESS:{principal.id}:{bucket}",
                    employee_id=principal.id,
                    branch_id=principal.branch_id,
                    evidence={
                        "customer_count": seen,
                        "threshold": threshold,
                        "window_minutes": window_seconds // 60,
                        "last_customer_ids": [c.id for c in customers][-20:],
                    },
                ),
                source=SERVICE_NAME,
            )
