"""Duplicate criteria too common to block on, e.g. a company switchboard number: their
state, the refusals counted, and a person's decision (the rule: :mod:`.rules.duplicates`).

A criterion value (a phone's or email's blind index, or a name+company identity
key) becomes *shared* in one of two ways, neither of which one team can arrange:

- refusals: registrations carrying it were refused as duplicates for
  ``distinct_reps`` different reps of at least ``distinct_branches`` branches within
  ``window_days`` (policy data, ``thresholds.shared_contact``). The existing
  customer's owner does not count and one rep retrying counts once; a junior, a
  senior and a manager of one branch refused in turn no longer make a value shared
  (issue 11 item 11), it takes a second branch;
- confirmation: ``markCriterionShared`` by someone the policy allows
  (``customers.criteria.share``) who belongs to none of the branches involved, the
  customer's and those of the reps refused on the value: in practice HR or a
  headquarters manager, never the team that benefits.

From then on the duplicate check ignores that value; registrations that would have
matched on it succeed and say so (``warnings``/``shared_criteria``), and the managers
of the customer's branch get one ``SHARED_CONTACT_DETAIL`` alert each time the value
becomes shared, to check it really is. ``unmarkCriterionShared``
(``customers.criteria.unshare``, a tightening the customer's own managers may make)
makes it block again; only refusals after that count towards sharing it anew. Every
confirmation and un-sharing is audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, distinct, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation, vocabulary
from salesguard.alerts import AlertDraft, raise_alert
from salesguard.db import Database, conflict_insert, utcnow
from salesguard.errors import Forbidden, InvalidInput, NotFound
from salesguard.policy import PolicyClient
from salesguard.principal import current_principal
from salesguard.timeutil import to_timestamp
from salesguard_api.customers.v1 import customers_pb2 as pb
from salesguard_customers import SERVICE_NAME, audit
from salesguard_customers.contacts import ContactVault
from salesguard_customers.models import Alert, Customer, DuplicateBlock, SharedContactValue
from salesguard_customers.rules import duplicates as rules
from salesguard_customers.rules.duplicates import SharedThreshold

KIND = rules.SHARED_ALERT
SHARE_ACTION = "customers.criteria.share"
UNSHARE_ACTION = "customers.criteria.unshare"
MAX_REASON = 1000

# The API's criteria, and the names the duplicate check and its alerts use for them.
CRITERIA = validation.enum_names(pb.DuplicateCriterion, "DUPLICATE_CRITERION_")
CRITERION_NAMES = vocabulary.DUPLICATE_CRITERION_NAMES


async def shared_threshold(policy: PolicyClient) -> SharedThreshold:
    """From policy data, so the security team tunes it."""
    return SharedThreshold.from_policy(await policy.threshold("shared_contact"))


async def shared_values(
    session: AsyncSession, criteria: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of the (criterion, value key) pairs are shared now: one query."""
    if not criteria:
        return set()
    rows = await session.execute(
        select(SharedContactValue.criterion, SharedContactValue.value_key).where(
            SharedContactValue.shared.is_(True),
            or_(
                *(
                    and_(
                        SharedContactValue.criterion == criterion,
                        SharedContactValue.value_key == value_key,
                    )
                    for criterion, value_key in criteria
                )
            ),
        )
    )
    return {(criterion, value_key) for criterion, value_key in rows.all()}


async def set_shared(
    session: AsyncSession,
    criterion: str,
    value_key: str,
    *,
    shared: bool,
    now: datetime,
    decided_by: str | None,
    reason: str,
    evidence: dict[str, Any],
) -> bool:
    """Record the value as shared or not; True when this call changed it.

    Conditional statements, so of two racing calls only one changes the value (and
    alerts or audits): the other finds it changed already.
    """
    changed = await session.execute(
        update(SharedContactValue)
        .where(
            SharedContactValue.criterion == criterion,
            SharedContactValue.value_key == value_key,
            SharedContactValue.shared.is_(not shared),
        )
        .values(
            shared=shared, marked_at=now, decided_by=decided_by, reason=reason, evidence=evidence
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount:  # type: ignore[attr-defined]
        return True
    if not shared:
        return False  # never shared: nothing to undo
    inserted = await session.execute(
        conflict_insert(session, SharedContactValue)
        .values(
            criterion=criterion,
            value_key=value_key,
            shared=True,
            marked_at=now,
            decided_by=decided_by,
            reason=reason,
            evidence=evidence,
        )
        .on_conflict_do_nothing(index_elements=["criterion", "value_key"])
    )
    return bool(inserted.rowcount)  # type: ignore[attr-defined]


async def announce_shared(
    session: AsyncSession,
    criterion: str,
    value_key: str,
    *,
    customer_id: str,
    branch_id: str | None,
    evidence: dict[str, Any],
    now: datetime,
) -> None:
    """``SHARED_CONTACT_DETAIL`` for the managers of the customer's branch: one per time
    the value becomes shared."""
    # The value key can be longer than a dedupe key: its digest names it.
    digest = hashlib.sha256(f"{criterion}:{value_key}".encode()).hexdigest()
    await raise_alert(
        session,
        Alert,
        AlertDraft(
            kind=KIND,
            dedupe_key=f"{KIND}:{digest[:40]}:{now.isoformat()}",
            customer_id=customer_id,
            branch_id=branch_id,
            evidence=evidence,
            detected_at=now,
        ),
        source=SERVICE_NAME,
    )


@dataclass(frozen=True)
class BlockedAttempt:
    """A registration refused because ``criterion`` matched the existing customer."""

    criterion: str
    value_key: str
    # How the value reads in the alert: masked for phone and email.
    shown_value: str
    employee_id: str
    # The refused employee's branch: what one team cannot multiply.
    employee_branch_id: str | None
    existing_id: str
    existing_code: str
    existing_owner_id: str | None
    existing_branch_id: str | None


async def record_blocked_attempt(
    session: AsyncSession, attempt: BlockedAttempt, threshold: SharedThreshold, now: datetime
) -> bool:
    """Count the refusal; mark the value shared (and alert) when enough reps of enough
    branches hit it. True then."""
    session.add(
        DuplicateBlock(
            criterion=attempt.criterion,
            value_key=attempt.value_key,
            employee_id=attempt.employee_id,
            branch_id=attempt.employee_branch_id,
            customer_id=attempt.existing_id,
            at=now,
        )
    )
    await session.flush()
    state = await session.get(SharedContactValue, (attempt.criterion, attempt.value_key))
    if state is not None and state.shared:
        return False  # a racing refusal shared it already
    since = rules.refusals_count_since(
        now, threshold, state.marked_at if state is not None else None
    )
    refused = (
        await session.execute(
            select(DuplicateBlock.employee_id, DuplicateBlock.branch_id)
            .where(
                DuplicateBlock.criterion == attempt.criterion,
                DuplicateBlock.value_key == attempt.value_key,
                DuplicateBlock.at > since,
            )
            .distinct()
        )
    ).all()
    verdict = rules.shared_by_refusals(
        (rules.Refusal(employee_id, branch_id) for employee_id, branch_id in refused),
        threshold,
        attempt.existing_owner_id,
    )
    if verdict is None:
        return False
    evidence = verdict.evidence(attempt.criterion, attempt.shown_value, attempt.existing_code)
    shared = await set_shared(
        session,
        attempt.criterion,
        attempt.value_key,
        shared=True,
        now=now,
        decided_by=None,
        reason="",
        evidence=evidence,
    )
    if shared:
        await announce_shared(
            session,
            attempt.criterion,
            attempt.value_key,
            customer_id=attempt.existing_id,
            branch_id=attempt.existing_branch_id,
            evidence=evidence,
            now=now,
        )
    return shared


class SharedCriteria:
    """``markCriterionShared`` / ``unmarkCriterionShared``: a person's decision on a value."""

    def __init__(self, db: Database, policy: PolicyClient, vault: ContactVault) -> None:
        self.db = db
        self.policy = policy
        self.vault = vault

    def _value(self, customer: Customer, criterion: str) -> tuple[str, str]:
        """The customer's value for the criterion: its key and how an alert shows it."""
        masked = self.vault.masked(customer)
        key, shown = {
            "phone": (customer.phone_index, masked.phone),
            "email": (customer.email_index, masked.email),
            "name+company": (customer.identity_key, f"{customer.name} / {customer.company}"),
        }[criterion]
        if not key:
            raise InvalidInput("criterion", f"customer {customer.code} has no {criterion}")
        return key, shown

    async def set(self, request: pb.SetCriterionSharedRequest) -> pb.SetCriterionSharedResponse:
        principal = current_principal()
        action = SHARE_ACTION if request.shared else UNSHARE_ACTION
        async with self.db.read() as session:
            customer = await session.scalar(
                select(Customer).where(Customer.id == request.customer_id)
            )
        affiliation = (
            {
                "owner_id": customer.owner_id,
                "team_id": customer.team_id,
                "branch_id": customer.branch_id,
            }
            if customer is not None
            else {"owner_id": None, "team_id": None, "branch_id": None}
        )
        # Authorised first (issue 11 item 12); a customer outside the caller's scope,
        # like an unknown one, reads as absent.
        decision = await self.policy.decide(principal, action, affiliation)
        if not decision.allow and tuple(decision.reasons) == ("OUT_OF_SCOPE",):
            raise NotFound(f"customer {request.customer_id} not found")
        decision.require(action)
        if customer is None:
            raise NotFound(f"customer {request.customer_id} not found")
        criterion = CRITERION_NAMES[validation.enum_value("criterion", request.criterion, CRITERIA)]
        value_key, shown = self._value(customer, criterion)
        now = utcnow()
        async with self.db.transaction() as session:
            if request.shared:
                await self._refuse_involved(
                    session, principal.branch_id, customer, criterion, value_key
                )
            reason = validation.text("reason", request.reason, required=True, max_length=MAX_REASON)
            evidence = {
                "criterion": criterion,
                "value": shown,
                "existing_code": customer.code,
                "confirmed_by" if request.shared else "unshared_by": principal.id,
                "reason": reason,
                "why": f"confirmed by {principal.id}: {reason}",
                "why_zh": f"由 {principal.id} 确认：{reason}",
            }
            changed = await set_shared(
                session,
                criterion,
                value_key,
                shared=request.shared,
                now=now,
                decided_by=principal.id,
                reason=reason,
                evidence=evidence,
            )
            if changed:
                await audit.record(
                    session,
                    audit.AuditEntry(
                        actor_id=principal.id,
                        action="customer.criterion.share"
                        if request.shared
                        else "customer.criterion.unshare",
                        customer_ids=[customer.id],
                        fields=[criterion],
                        after={"criterion": criterion, "shared": request.shared},
                        reason=reason,
                        branch_id=customer.branch_id,
                    ),
                )
            if changed and request.shared:
                await announce_shared(
                    session,
                    criterion,
                    value_key,
                    customer_id=customer.id,
                    branch_id=customer.branch_id,
                    evidence=evidence,
                    now=now,
                )
            state = await session.get(SharedContactValue, (criterion, value_key))
        return pb.SetCriterionSharedResponse(
            customer_id=customer.id,
            criterion=request.criterion,
            shared=request.shared,
            changed=changed,
            changed_at=to_timestamp(state.marked_at if state is not None else None),
        )

    @staticmethod
    async def _refuse_involved(
        session: AsyncSession,
        branch_id: str | None,
        customer: Customer,
        criterion: str,
        value_key: str,
    ) -> None:
        """Nobody confirms a value shared for a branch it concerns: the customer's, or that
        of any rep refused on it (they would unlock it for their own team)."""
        if branch_id is None:
            return
        refused_in = set(
            await session.scalars(
                select(distinct(DuplicateBlock.branch_id)).where(
                    DuplicateBlock.criterion == criterion, DuplicateBlock.value_key == value_key
                )
            )
        )
        if rules.involved_branch(branch_id, customer.branch_id, refused_in):
            raise Forbidden(
                f"branch {branch_id} is involved with this {criterion}: someone outside it "
                "(HR or headquarters) confirms it is shared",
                details={"reason": "INVOLVED_BRANCH"},
            )
