"""The customer pool (公海): neglected customers return to their branch; reps claim them.

The rules (neglect, grace, cooling-off, holding cap) are :mod:`.rules.pool`.

A sweep (:func:`sweep_neglected_customers`) is a few set-based statements in one
transaction, whatever the number of customers:

1. ``INSERT … SELECT`` raises ``CUSTOMER_NEGLECTED`` for every owned, active
   customer whose last activity — the later of ``owned_since`` (registration,
   claim, reassignment) and its latest follow-up — lies ``neglect_days`` or more
   before ``as_of``. The dedupe key names the customer and that last activity, so
   an episode of neglect raises one alert however often the sweep runs, and a
   follow-up starts a new episode.
2. ``UPDATE … RETURNING`` moves to the branch pool every customer whose current
   episode's alert is at least ``pool_grace_days`` old: a follow-up since then
   changed the episode, so its alert no longer matches and the customer stays.
3. The pooled set is audited, one entry per branch.

Pooled customers keep their branch and lose owner and team, so no rep holds them
and ``customers`` lists them as nobody's. A rep of the branch sees them through
``ListPool`` (contact fields masked by the ``pool.read`` grant) and
takes one with ``ClaimCustomer``: a conditional ``UPDATE … WHERE owner_id IS
NULL``, so of two racing claims exactly one wins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    case,
    cast,
    extract,
    func,
    literal,
    null,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.alerts import raise_alerts_selected
from salesguard.db import json_object_sql, lock_keys, utcnow
from salesguard.errors import Conflict, FailedPrecondition, InvalidInput, NotFound
from salesguard.grpc_server import ServicerContext as Context
from salesguard.idempotency import IdempotentWrites
from salesguard.jobs import Job, JobSummary
from salesguard.listing import scoped_page_size
from salesguard.policy import Decision, PolicyClient, ScopeColumns, scope_filter
from salesguard.principal import Principal, current_principal
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.customers.v1 import pool_pb2 as pb
from salesguard_api.customers.v1 import pool_pb2_grpc
from salesguard_customers import SERVICE_NAME, audit
from salesguard_customers.models import Alert, Customer, FollowUp, IdempotencyKey
from salesguard_customers.registry import Registry
from salesguard_customers.rules import pool as rules
from salesguard_customers.settings import CustomersSettings

NEGLECTED = rules.NEGLECTED
# The pool belongs to a branch: its grants are branch (or all) scopes.
POOL_SCOPE = ScopeColumns(branch=Customer.branch_id)
# Serialises sweeps of one database (a job and an HR-triggered run at the same time).
_SWEEP_LOCK_KEY = 7_305_201_011


@dataclass(frozen=True)
class SweepCounts:
    alerted: int
    pooled: int


@dataclass(frozen=True)
class PooledCustomer:
    id: str
    previous_owner_id: str | None
    branch_id: str | None


# -- moving customers to the pool -------------------------------------------------------


async def move_to_pool(
    session: AsyncSession, customer_ids: Sequence[str], *, reason: str
) -> list[str]:
    """Return the named customers to their branch's pool, in the caller's transaction.

    Owner and team are cleared, ``pooled_at`` set, the owner remembered as
    ``previous_owner_id`` (cooling-off for claims); customers already in the pool
    (or unknown) are left alone. One audit entry per branch, with ``reason`` and the
    current principal as actor. Returns the IDs moved.
    """
    ids = list(dict.fromkeys(customer_ids))
    if not ids:
        return []
    pooled = await _pool_where(session, [Customer.id.in_(ids)], pooled_at=utcnow())
    await _audit_pooled(session, pooled, reason=reason)
    return [row.id for row in pooled]


async def _pool_where(
    session: AsyncSession, conditions: Sequence[ColumnElement[bool]], *, pooled_at: datetime
) -> list[PooledCustomer]:
    """One UPDATE … RETURNING over the owned customers matching ``conditions``."""
    result = await session.execute(
        update(Customer)
        .where(Customer.owner_id.is_not(None), *conditions)
        # SET reads the old row: previous_owner_id takes the owner being cleared.
        .values(
            previous_owner_id=Customer.owner_id,
            owner_id=None,
            team_id=None,
            pooled_at=pooled_at,
            updated_at=utcnow(),
        )
        .returning(Customer.id, Customer.previous_owner_id, Customer.branch_id)
        .execution_options(synchronize_session=False)
    )
    return [PooledCustomer(*row) for row in result.all()]


async def _audit_pooled(
    session: AsyncSession, pooled: Sequence[PooledCustomer], *, reason: str
) -> None:
    by_branch: dict[str | None, list[PooledCustomer]] = defaultdict(list)
    for row in pooled:
        by_branch[row.branch_id].append(row)
    actor = current_principal().id
    await audit.append(
        session,
        [
            audit.AuditEntry(
                actor_id=actor,
                action="customer.pool",
                customer_ids=sorted(row.id for row in rows),
                fields=["owner_id"],
                before={"owners": {row.id: row.previous_owner_id for row in rows}},
                after={"owner_id": None},
                reason=reason,
                branch_id=branch_id,
            )
            for branch_id, rows in sorted(by_branch.items(), key=lambda item: item[0] or "")
        ],
    )


# -- the sweep ---------------------------------------------------------------------------


def _last_activity() -> ColumnElement[datetime]:
    """:func:`.rules.pool.last_activity` in SQL: the later of owned_since and the customer's
    latest follow-up (correlated)."""
    # Correlated explicitly: nested in the sweep's EXISTS it must still see the outer row.
    latest_follow_up = (
        select(func.max(FollowUp.at))
        .where(FollowUp.customer_id == Customer.id)
        .correlate(Customer)
        .scalar_subquery()
    )
    # case, not greatest(): SQLite has none, and a NULL follow-up compares false.
    return case(
        (latest_follow_up > Customer.owned_since, latest_follow_up), else_=Customer.owned_since
    )


def _epoch_seconds(moment: ColumnElement[datetime]) -> ColumnElement[int]:
    return cast(extract("epoch", moment), BigInteger)


def _episode_key(dialect: str, last_activity: ColumnElement[datetime]) -> ColumnElement[str]:
    """CUSTOMER_NEGLECTED:<customer id>:<last activity, to the microsecond>: one alert per episode.

    Exact, so that any newer follow-up, even within the same second, is a new episode.
    """
    if dialect == "postgresql":
        marker = cast(cast(extract("epoch", last_activity) * 1_000_000, BigInteger), String)
    else:
        marker = cast(last_activity, String)  # SQLite stores the UTC timestamp as text
    return literal(f"{NEGLECTED}:") + Customer.id + literal(":") + marker


def _customer_code(dialect: str) -> ColumnElement[str]:
    """The customer's readable code (C-000123), in SQL."""
    if dialect == "postgresql":
        number = cast(Customer.number, String)
        return literal("C-") + func.lpad(number, func.greatest(6, func.length(number)), "0")
    return func.printf("C-%06d", Customer.number)


async def _raise_neglected(
    session: AsyncSession, settings: CustomersSettings, as_of: datetime
) -> int:
    """One set-based write through the shared alert writer; the number raised."""
    dialect = session.bind.dialect.name
    last_activity = _last_activity()
    days_silent = (
        literal(int(as_of.timestamp()), BigInteger) - _epoch_seconds(last_activity)
    ) // 86_400
    candidates = select(
        Customer.owner_id.label("employee_id"),
        Customer.id.label("customer_id"),
        null().label("order_id"),
        Customer.branch_id.label("branch_id"),
        getattr(func, json_object_sql(dialect))(
            literal("customer_code", String),
            _customer_code(dialect),
            literal("days_silent", String),
            days_silent,
            literal("neglect_days", String),
            literal(settings.neglect_days, Integer),
            literal("pool_grace_days", String),
            literal(settings.pool_grace_days, Integer),
        ).label("evidence"),
        _episode_key(dialect, last_activity).label("dedupe_key"),
    ).where(
        Customer.owner_id.is_not(None),
        Customer.status == "ACTIVE",
        last_activity <= rules.neglect_cutoff(as_of, settings.neglect_days),
    )
    raised = await raise_alerts_selected(
        session, Alert, NEGLECTED, candidates, detected_at=as_of, source=SERVICE_NAME
    )
    return len(raised)


async def sweep(session: AsyncSession, settings: CustomersSettings, as_of: datetime) -> SweepCounts:
    """Alert the newly neglected and pool those whose alert outlived the grace period."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SWEEP_LOCK_KEY})
    alerted = await _raise_neglected(session, settings, as_of)
    alert_of_episode = (
        select(Alert.id)
        .where(
            Alert.dedupe_key == _episode_key(session.bind.dialect.name, _last_activity()),
            Alert.detected_at <= rules.grace_cutoff(as_of, settings.pool_grace_days),
        )
        .exists()
    )
    pooled = await _pool_where(
        session, [Customer.status == "ACTIVE", alert_of_episode], pooled_at=as_of
    )
    await _audit_pooled(session, pooled, reason="neglected")
    return SweepCounts(alerted=alerted, pooled=len(pooled))


async def sweep_neglected_customers(
    runtime: Runtime[CustomersSettings], as_of: datetime
) -> SweepCounts:
    """The neglect sweep as of ``as_of`` (tests drive time with it); re-runs change nothing."""
    async with runtime.db.transaction() as session:
        return await sweep(session, runtime.settings, as_of)


# -- reading and claiming the pool -----------------------------------------------------


async def holding_cap(policy: PolicyClient, principal: Principal) -> int:
    """The most customers the rep may own (policy data, per role: the largest of theirs)."""
    caps = (await policy.threshold("customer_pool")).get("holding_caps") or {}
    return rules.holding_cap(caps, principal.roles)


class CustomerPool:
    def __init__(self, runtime: Runtime[CustomersSettings], registry: Registry) -> None:
        self.runtime = runtime
        self.registry = registry
        self.db = runtime.db
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey)
        self.policy = runtime.policy
        self.settings = runtime.settings

    async def list_pool(self, request: pb.ListPoolRequest) -> pb.ListPoolResponse:
        principal = current_principal()
        decision, size = await scoped_page_size(
            self.policy, "pool.read", request.page, self.settings.page_limits
        )
        response = pb.ListPoolResponse()
        await self.registry.customer_page(
            principal,
            decision,
            self.registry.page_statements(
                [*_in_pool(), scope_filter(decision, POOL_SCOPE)],
                request.page,
                size,
                Customer.pooled_at,
            ),
            size,
            include_contact=request.include_contact,
            into=response,
        )
        return response

    async def claim(self, request: pb.ClaimCustomerRequest) -> pb.ClaimCustomerResponse:
        principal = current_principal()
        decision = (await self.policy.decide(principal, "pool.claim")).require("pool.claim")
        # The claimer becomes the owner: active in the directory (SPEC §2).
        await self.registry.directory.require_active(principal.id)
        customer_id = validation.record_id("customer_id", request.customer_id, required=True)
        cap = await holding_cap(self.policy, principal)

        async def take(session: AsyncSession) -> pb.ClaimCustomerResponse:
            return await self._take(session, principal, decision, customer_id, cap)

        response = await self.idempotent.run(principal.id, request, pb.ClaimCustomerResponse, take)
        # Presented after the claim, as the new owner sees the customer.
        read = await self.registry.read_decision(principal)
        async with self.db.read() as session:
            row = await session.scalar(select(Customer).where(Customer.id == customer_id))
        if row is not None and row.owner_id == principal.id:
            messages = await self.registry.present_recorded(
                principal, [row], read, request.include_contact
            )
            response.customer.CopyFrom(messages[0])
        return response

    async def _take(
        self,
        session: AsyncSession,
        principal: Principal,
        decision: Decision,
        customer_id: str,
        cap: int,
    ) -> pb.ClaimCustomerResponse:
        # One rep's claims one at a time, so two at once cannot both pass the cap.
        await lock_keys(session, f"claim:{principal.id}")
        await self.registry.fence_owner(session, principal, principal.id, "customer_id")
        row = await session.scalar(
            select(Customer).where(
                Customer.id == customer_id, *_in_pool(), scope_filter(decision, POOL_SCOPE)
            )
        )
        if row is None:
            raise NotFound(f"customer {customer_id} is not in your branch's pool")
        now = utcnow()
        pooled_at = row.pooled_at or now
        waiting = rules.cooling_off(
            principal.id, row.previous_owner_id, pooled_at, now, self.settings.pool_cooling_off_days
        )
        if waiting is not None:
            raise FailedPrecondition(
                f"you held customer {row.code} before it went to the pool on "
                f"{pooled_at.date().isoformat()}; you may claim it again from "
                f"{waiting.ends.date().isoformat()} "
                f"(cooling-off {self.settings.pool_cooling_off_days} days)",
                details={
                    "reason": "COOLING_OFF",
                    "customer_code": row.code,
                    "claimable_from": waiting.ends.isoformat(),
                },
            )
        held = int(
            await session.scalar(
                select(func.count())
                .select_from(Customer)
                .where(Customer.owner_id == principal.id, Customer.status == "ACTIVE")
            )
            or 0
        )
        if rules.over_holding_cap(held, cap):
            raise FailedPrecondition(
                f"you already hold {held} customers; a rep may hold at most {cap}",
                details={"reason": "HOLDING_CAP", "held": str(held), "cap": str(cap)},
            )
        claimed = await session.execute(
            update(Customer)
            .where(Customer.id == customer_id, *_in_pool())
            .values(
                owner_id=principal.id,
                team_id=principal.team_id,
                pooled_at=None,
                owned_since=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            # A racing claim committed first: its UPDATE took the row.
            raise Conflict(f"customer {row.code} was just claimed by someone else")
        await audit.append(
            session,
            [
                audit.AuditEntry(
                    actor_id=principal.id,
                    action="customer.claim",
                    customer_ids=[customer_id],
                    fields=["owner_id"],
                    before={
                        "owner_id": None,
                        "pooled_at": pooled_at.isoformat(),
                        "previous_owner_id": row.previous_owner_id,
                    },
                    after={"owner_id": principal.id},
                    branch_id=row.branch_id,
                )
            ],
        )
        return pb.ClaimCustomerResponse(claimed_at=to_timestamp(now))

    async def run_sweep(self, request: pb.RunPoolSweepRequest) -> pb.RunPoolSweepResponse:
        principal = current_principal()
        (await self.policy.decide(principal, "pool.sweep")).require("pool.sweep")
        now = utcnow()
        as_of = from_timestamp(request.as_of, "as_of") or now
        # The clock drift registration already tolerates; another moment would skip the
        # neglect or grace period the pool promises the owner.
        skew = self.settings.clock_skew_seconds
        if abs((as_of - now).total_seconds()) > skew:
            raise InvalidInput(
                "as_of",
                f"a sweep runs as of now (within {skew} seconds); "
                "another moment would skip the neglect and grace periods",
            )
        counts = await sweep_neglected_customers(self.runtime, as_of)
        return pb.RunPoolSweepResponse(
            as_of=to_timestamp(as_of), alerted=counts.alerted, pooled=counts.pooled
        )


def _in_pool() -> list[ColumnElement[bool]]:
    return [
        Customer.owner_id.is_(None),
        Customer.pooled_at.is_not(None),
        Customer.status == "ACTIVE",
    ]


class CustomerPoolServicer(pool_pb2_grpc.CustomerPoolServiceServicer):
    def __init__(self, pool: CustomerPool) -> None:
        self._pool = pool

    async def ListPool(self, request: pb.ListPoolRequest, context: Context) -> pb.ListPoolResponse:
        return await self._pool.list_pool(request)

    async def ClaimCustomer(
        self, request: pb.ClaimCustomerRequest, context: Context
    ) -> pb.ClaimCustomerResponse:
        return await self._pool.claim(request)

    async def RunPoolSweep(
        self, request: pb.RunPoolSweepRequest, context: Context
    ) -> pb.RunPoolSweepResponse:
        return await self._pool.run_sweep(request)


async def _pool_sweep_job(runtime: Runtime[CustomersSettings], as_of: datetime) -> JobSummary:
    counts = await sweep_neglected_customers(runtime, as_of)
    return {"alerted": counts.alerted, "pooled": counts.pooled}


POOL_SWEEP: Job[CustomersSettings] = Job(
    name="customers.pool-sweep",
    run=_pool_sweep_job,
    interval_seconds=3600,
    description="alert neglected customers, return them to the branch pool after the grace period",
)
