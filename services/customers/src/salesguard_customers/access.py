"""Unmasked contact reads: audited, and watched for bulk harvesting (:mod:`.rules.contact_reads`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import distinct, func, select

from salesguard.alerts import AlertDraft, raise_alert
from salesguard.db import Database, utcnow
from salesguard.policy import PolicyClient
from salesguard.principal import Principal
from salesguard_customers import SERVICE_NAME, audit
from salesguard_customers.models import Alert, ContactRead
from salesguard_customers.rules.contact_reads import (
    BULK_CONTACT_ACCESS,
    BulkThreshold,
    bulk_contact_access,
)


async def bulk_threshold(policy: PolicyClient) -> BulkThreshold:
    """From policy data, so the security team tunes it."""
    return BulkThreshold.from_policy(await policy.threshold("bulk_contact_access"))


class ReadCustomer(Protocol):
    """What the record of a read names of a customer (a :class:`.models.Customer` or a row)."""

    @property
    def id(self) -> str: ...
    @property
    def branch_id(self) -> str | None: ...


async def record_contact_reads(
    db: Database,
    policy: PolicyClient,
    principal: Principal,
    customers: Sequence[ReadCustomer],
    fields: Sequence[str],
) -> None:
    """Audit one read of unmasked contact fields and raise BULK_CONTACT_ACCESS at the threshold."""
    if not customers:
        return
    threshold = await bulk_threshold(policy)
    now = utcnow()
    branches = {customer.branch_id for customer in customers}
    async with db.transaction() as session:
        session.add_all(
            ContactRead(actor_id=principal.id, customer_id=c.id, at=now) for c in customers
        )
        await audit.record(
            session,
            audit.AuditEntry(
                actor_id=principal.id,
                action="customer.contact.read",
                customer_ids=[c.id for c in customers],
                fields=list(fields),
                branch_id=branches.pop() if len(branches) == 1 else None,
            ),
        )
        await session.flush()
        seen = int(
            await session.scalar(
                select(func.count(distinct(ContactRead.customer_id))).where(
                    ContactRead.actor_id == principal.id,
                    ContactRead.at > threshold.window_start(now),
                )
            )
            or 0
        )
        bulk = bulk_contact_access(principal.id, seen, threshold, now, [c.id for c in customers])
        if bulk is not None:
            await raise_alert(
                session,
                Alert,
                AlertDraft(
                    kind=BULK_CONTACT_ACCESS,
                    dedupe_key=bulk.dedupe_key,
                    employee_id=principal.id,
                    branch_id=principal.branch_id,
                    evidence=bulk.evidence,
                ),
                source=SERVICE_NAME,
            )
