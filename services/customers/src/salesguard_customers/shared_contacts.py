"""Duplicate criteria too common to block on (C12), e.g. a company switchboard number.

A criterion value (a phone's or email's blind index, or a name+company identity
key) becomes *shared* when registrations carrying it were refused as duplicates
(C3) for ``distinct_reps`` different reps within ``window_days`` (policy data,
``thresholds.shared_contact``). The existing customer's owner does not count, and
one rep retrying counts once, so nobody unblocks a duplicate on their own. From
then on the duplicate check ignores that value; registrations that would have
matched on it succeed and say so (``warnings``/``shared_criteria``), and managers
get one ``SHARED_CONTACT_DETAIL`` alert per value to check the value is really
shared and not a way round the registry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, distinct, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.alerts import AlertDraft, raise_alert
from salesguard.db import conflict_insert
from salesguard.policy import PolicyClient
from salesguard_customers import SERVICE_NAME
from salesguard_customers.models import Alert, DuplicateBlock, SharedContactValue

KIND = "SHARED_CONTACT_DETAIL"
DEFAULT_DISTINCT_REPS = 3
DEFAULT_WINDOW_DAYS = 30


@dataclass(frozen=True)
class SharedThreshold:
    distinct_reps: int = DEFAULT_DISTINCT_REPS
    window_days: int = DEFAULT_WINDOW_DAYS


async def shared_threshold(policy: PolicyClient) -> SharedThreshold:
    """From policy data, so the security team tunes it."""
    values = await policy.threshold("shared_contact")
    return SharedThreshold(
        distinct_reps=int(values.get("distinct_reps", DEFAULT_DISTINCT_REPS)),
        window_days=int(values.get("window_days", DEFAULT_WINDOW_DAYS)),
    )


async def shared_values(
    session: AsyncSession, criteria: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of the (criterion, value key) pairs are shared: one query."""
    if not criteria:
        return set()
    rows = await session.execute(
        select(SharedContactValue.criterion, SharedContactValue.value_key).where(
            or_(
                *(
                    and_(
                        SharedContactValue.criterion == criterion,
                        SharedContactValue.value_key == value_key,
                    )
                    for criterion, value_key in criteria
                )
            )
        )
    )
    return {(criterion, value_key) for criterion, value_key in rows.all()}


@dataclass(frozen=True)
class BlockedAttempt:
    """A registration refused because ``criterion`` matched the existing customer."""

    criterion: str
    value_key: str
    # How the value reads in the alert: masked for phone and email.
    shown_value: str
    employee_id: str
    existing_id: str
    existing_code: str
    existing_owner_id: str | None
    existing_branch_id: str | None


async def record_blocked_attempt(
    session: AsyncSession, attempt: BlockedAttempt, threshold: SharedThreshold, now: datetime
) -> bool:
    """Count the refusal; mark the value shared (and alert) when enough reps hit it. True then."""
    session.add(
        DuplicateBlock(
            criterion=attempt.criterion,
            value_key=attempt.value_key,
            employee_id=attempt.employee_id,
            customer_id=attempt.existing_id,
            at=now,
        )
    )
    await session.flush()
    conditions = [
        DuplicateBlock.criterion == attempt.criterion,
        DuplicateBlock.value_key == attempt.value_key,
        DuplicateBlock.at > now - timedelta(days=threshold.window_days),
    ]
    if attempt.existing_owner_id is not None:
        conditions.append(DuplicateBlock.employee_id != attempt.existing_owner_id)
    reps = sorted(
        await session.scalars(select(distinct(DuplicateBlock.employee_id)).where(*conditions))
    )
    if len(reps) < threshold.distinct_reps:
        return False
    evidence = {
        "criterion": attempt.criterion,
        "value": attempt.shown_value,
        "existing_code": attempt.existing_code,
        "rep_count": len(reps),
        "window_days": threshold.window_days,
        "employee_ids": reps[:20],
    }
    await session.execute(
        conflict_insert(session, SharedContactValue)
        .values(
            criterion=attempt.criterion,
            value_key=attempt.value_key,
            marked_at=now,
            evidence=evidence,
        )
        .on_conflict_do_nothing(index_elements=["criterion", "value_key"])
    )
    # The value key can be longer than a dedupe key: its digest names it.
    digest = hashlib.sha256(f"{attempt.criterion}:{attempt.value_key}".encode()).hexdigest()
    await raise_alert(
        session,
        Alert,
        AlertDraft(
            kind=KIND,
            dedupe_key=f"{KIND}:{digest[:40]}",
            customer_id=attempt.existing_id,
            branch_id=attempt.existing_branch_id,
            evidence=evidence,
            detected_at=now,
        ),
        source=SERVICE_NAME,
    )
    return True
