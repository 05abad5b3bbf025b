"""Diversion risk: a regular customer goes quiet while the owner keeps in touch.

The rule is :mod:`salesguard_orders.rules.diversion`. One SQL statement, composed from
its fragments, finds the customers with a rhythm and their silence: over the orders of
the history window, each customer's usual interval is the median gap between
consecutive order days (window functions: ``lag`` for the gaps, ``row_number``/``count``
to pick the middle one or two), the last order, and the days silent since. One batched
call to customers (``FindSimilarCustomers``) then tells, for every silent customer, who
owns them now and since when, and which records of other owners ``SIMILAR_CUSTOMER`` matches; the
rule (:func:`.rules.diversion.watch_of`) puts the silence on the watch of the owner now,
or on nobody's in the pool. One batched call to attendance (``SummarizeContacts``, as the
service itself) asks how often each owner checked in at or called the customer during
their watch; where they did, DIVERSION_RISK is raised once per customer and last order:
on that owner, or, when a similar record of another owner ordered since the last order
(one query on orders), on that record's owner (:func:`.rules.diversion.orders_moved_to`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, Float, Integer, String, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.alerts import AlertDraft, raise_alert
from salesguard.batching import chunks
from salesguard.db import utcnow
from salesguard.principal import Principal, acting_as, current_principal
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.attendance.v1 import visits_pb2, visits_pb2_grpc
from salesguard_api.customers.v1 import lookups_pb2, lookups_pb2_grpc
from salesguard_api.orders.v1 import payments_pb2 as pb
from salesguard_orders import SERVICE_NAME
from salesguard_orders.models import Alert, format_order_code
from salesguard_orders.peers import BranchZones, as_of_day
from salesguard_orders.rules import diversion as rules
from salesguard_orders.rules.diversion import DiversionThresholds
from salesguard_orders.settings import OrdersSettings
from salesguard_orders.sqlparts import SqlDialect, dialect_of

log = logging.getLogger(__name__)
ACTION = "diversion.detect"
# SummarizeContacts takes at most this many queries per call.
MAX_CONTACT_QUERIES = 5000
# FindSimilarCustomers takes at most this many customers per call.
MAX_SIMILAR_IDS = 1000


@dataclass(frozen=True)
class Candidate:
    customer_id: str
    customer_code: str
    last_order_id: str
    last_order_number: int
    last_order_date: date
    owner_id: str
    branch_id: str | None
    orders: int
    usual_interval_days: float
    days_silent: int
    # The median gap unrounded, as the statement compared it.
    usual_interval: float


@dataclass(frozen=True)
class Watched:
    """A silent customer on its owner's watch, with the similar records of it."""

    candidate: Candidate
    watch: rules.Watch
    similar: tuple[rules.SimilarRecord, ...]


@dataclass(frozen=True)
class DiversionFigures:
    """A detection: customers with a rhythm, those silent too long, alerts raised."""

    checked: int
    candidates: int
    raised: int


# The statement and the count of regulars (asked alone when nobody is silent) share the
# rule's fragments for the history window and what makes a customer a regular.
_IN_HISTORY = rules.IN_HISTORY_SQL
_REGULAR = rules.REGULAR_SQL


def _statement(d: SqlDialect) -> str:
    gap = d.days_between("order_date", "previous_date")
    silent = d.days_between(":as_of", "l.order_date")
    return f"""
        WITH history AS (
            SELECT id, number, customer_id, customer_code, order_date, branch_id,
                   coalesce(owner_id, submitted_by) AS owner_id
            FROM orders
            WHERE {_IN_HISTORY}
        ),
        regulars AS (
            SELECT customer_id, count(*) AS orders
            FROM history
            GROUP BY customer_id
            {_REGULAR}
        ),
        order_days AS (
            SELECT DISTINCT h.customer_id, h.order_date
            FROM history h JOIN regulars r ON r.customer_id = h.customer_id
        ),
        gaps AS (
            SELECT customer_id, {gap} AS gap
            FROM (
                SELECT customer_id, order_date,
                       lag(order_date) OVER (PARTITION BY customer_id ORDER BY order_date)
                           AS previous_date
                FROM order_days
            ) consecutive
            WHERE previous_date IS NOT NULL
        ),
        ranked AS (
            SELECT customer_id, gap,
                   row_number() OVER (PARTITION BY customer_id ORDER BY gap) AS position,
                   count(*) OVER (PARTITION BY customer_id) AS gaps
            FROM gaps
        ),
        medians AS (
            SELECT customer_id, avg(gap) AS usual_interval
            FROM ranked
            WHERE {rules.MEDIAN_GAPS_SQL}
            GROUP BY customer_id
        ),
        last_orders AS (
            SELECT * FROM (
                SELECT h.*,
                       row_number() OVER (
                           PARTITION BY h.customer_id ORDER BY h.order_date DESC, h.number DESC
                       ) AS recency
                FROM history h JOIN regulars r ON r.customer_id = h.customer_id
            ) newest
            WHERE recency = 1
        )
        SELECT l.customer_id, l.customer_code, l.id AS last_order_id, l.number,
               l.order_date, l.owner_id, l.branch_id, r.orders,
               m.usual_interval, {silent} AS days_silent,
               (SELECT count(*) FROM regulars) AS checked
        FROM last_orders l
        JOIN regulars r ON r.customer_id = l.customer_id
        JOIN medians m ON m.customer_id = l.customer_id
        WHERE {rules.silent_sql(silent, "m.usual_interval")}
        ORDER BY l.customer_id
    """  # noqa: S608 (constant fragments, no input)


class Diversion:
    def __init__(self, runtime: Runtime[OrdersSettings], zones: BranchZones) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.policy = runtime.policy
        self._visits = visits_pb2_grpc.VisitsServiceStub(runtime.channels.channel("attendance"))
        self._customers = lookups_pb2_grpc.CustomerLookupServiceStub(
            runtime.channels.channel("customers")
        )
        self._system = Principal.system(SERVICE_NAME)
        self.zones = zones
        self._query = text(_statement(dialect_of(self.db.engine.dialect.name))).bindparams(
            bindparam("as_of", type_=Date()),
            bindparam("history_start", type_=Date()),
            bindparam("min_orders", type_=Integer()),
            bindparam("silence_factor", type_=Float()),
        )

    async def thresholds(self) -> DiversionThresholds:
        return rules.thresholds_from(await self.policy.threshold("diversion_risk"))

    async def detect(
        self, request: pb.DetectDiversionRiskRequest
    ) -> pb.DetectDiversionRiskResponse:
        principal = current_principal()
        (await self.policy.decide(principal, ACTION)).require(ACTION)
        as_of = await as_of_day(self.zones, principal, request.as_of)
        found = await self.detect_as_of(as_of)
        return pb.DetectDiversionRiskResponse(
            customers_checked=found.checked, alerts_raised=found.raised
        )

    async def detect_as_of(self, as_of: date) -> DiversionFigures:
        """Raise DIVERSION_RISK as of ``as_of`` (the caller has been authorised)."""
        thresholds = await self.thresholds()
        checked, candidates = await self.candidates(as_of, thresholds)
        watched = await self.watched(candidates, as_of, thresholds)
        contacts = await self.contacts(watched)
        in_touch = [
            (entry, summary)
            for entry, summary in zip(watched, contacts, strict=True)
            if rules.still_in_touch(summary.check_ins, summary.calls)
        ]
        last_orders = await self.last_orders(
            [record.customer_id for entry, _ in in_touch for record in entry.similar],
            as_of,
            thresholds,
        )
        raised = 0
        now = utcnow()
        async with self.db.transaction() as session:
            for entry, summary in in_touch:
                moved = rules.orders_moved_to(
                    entry.similar, entry.candidate.last_order_date, last_orders
                )
                raised += await raise_alert(
                    session,
                    Alert,
                    self._draft(entry, summary, moved, last_orders, as_of, thresholds, now),
                    source=SERVICE_NAME,
                )
        log.info(
            "diversion risk detected",
            extra={
                "checked": checked,
                "candidates": len(candidates),
                "watched": len(watched),
                "raised": raised,
            },
        )
        return DiversionFigures(checked=checked, candidates=len(candidates), raised=raised)

    async def watched(
        self, candidates: list[Candidate], as_of: date, thresholds: DiversionThresholds
    ) -> list[Watched]:
        """The candidates silent on their owner's watch (:func:`.rules.diversion.watch_of`),
        in one call to customers per 1000 (``FindSimilarCustomers``, as the service)."""
        found: dict[str, lookups_pb2.CustomerWithSimilar] = {}
        ids = sorted({candidate.customer_id for candidate in candidates})
        for chunk in chunks(ids, MAX_SIMILAR_IDS):
            request = lookups_pb2.FindSimilarCustomersRequest(customer_ids=chunk)
            with acting_as(self._system):
                response = await self._customers.FindSimilarCustomers(request)
            found.update({entry.customer_id: entry for entry in response.customers})
        watched = []
        for candidate in candidates:
            entry = found.get(candidate.customer_id)
            owned_since = (
                None if entry is None else from_timestamp(entry.owned_since, "owned_since")
            )
            if entry is None or owned_since is None:
                continue
            watch = rules.watch_of(
                candidate.owner_id, candidate.last_order_date, entry.owner_id, owned_since
            )
            if watch is None or not rules.is_silent(
                rules.days_on_watch(as_of, watch), candidate.usual_interval, thresholds
            ):
                continue
            similar = tuple(
                rules.SimilarRecord(other.customer_id, other.code, other.owner_id, other.distance_m)
                for other in entry.similar
            )
            watched.append(Watched(candidate, watch, similar))
        return watched

    async def last_orders(
        self, customer_ids: list[str], as_of: date, thresholds: DiversionThresholds
    ) -> dict[str, date]:
        """The latest order of the history of each of these customers (similar records)."""
        if not customer_ids:
            return {}
        query = text(
            f"""
            SELECT customer_id, max(order_date) AS last_order_date FROM orders
            WHERE {_IN_HISTORY} AND customer_id IN :ids
            GROUP BY customer_id
            """  # noqa: S608 (constant fragments, no input)
        ).bindparams(
            bindparam("as_of", type_=Date()),
            bindparam("history_start", type_=Date()),
            bindparam("ids", type_=String(), expanding=True),
        )
        params = {
            "as_of": as_of,
            "history_start": rules.history_start(as_of, thresholds),
            "ids": sorted(set(customer_ids)),
        }
        async with self.db.read() as session:
            rows = (await session.execute(query, params)).all()
        return {row.customer_id: _as_date(row.last_order_date) for row in rows}

    async def candidates(
        self, as_of: date, thresholds: DiversionThresholds
    ) -> tuple[int, list[Candidate]]:
        """How many customers have a rhythm, and those silent for too long."""
        params: dict[str, Any] = {
            "as_of": as_of,
            "history_start": rules.history_start(as_of, thresholds),
            "min_orders": thresholds.min_orders,
            "silence_factor": thresholds.silence_factor,
        }
        async with self.db.read() as session:
            rows = (await session.execute(self._query, params)).all()
            checked = 0
            if not rows:
                # The count rides on the candidates; without any, ask for it alone.
                checked = await self._count_regulars(session, params)
        candidates = []
        for row in rows:
            checked = int(row.checked)
            candidates.append(
                Candidate(
                    customer_id=row.customer_id,
                    customer_code=row.customer_code,
                    last_order_id=row.last_order_id,
                    last_order_number=int(row.number),
                    last_order_date=_as_date(row.order_date),
                    owner_id=row.owner_id,
                    branch_id=row.branch_id,
                    orders=int(row.orders),
                    usual_interval_days=round(float(row.usual_interval), 1),
                    days_silent=int(row.days_silent),
                    usual_interval=float(row.usual_interval),
                )
            )
        return checked, candidates

    async def _count_regulars(self, session: AsyncSession, params: dict[str, Any]) -> int:
        query = text(
            f"""
            SELECT count(*) FROM (
                SELECT customer_id FROM orders
                WHERE {_IN_HISTORY}
                GROUP BY customer_id
                {_REGULAR}
            ) regulars
            """  # noqa: S608 (constant fragments, no input)
        ).bindparams(
            bindparam("as_of", type_=Date()),
            bindparam("history_start", type_=Date()),
            bindparam("min_orders", type_=Integer()),
        )
        values = {key: params[key] for key in ("as_of", "history_start", "min_orders")}
        return int(await session.scalar(query, values) or 0)

    async def contacts(self, watched: list[Watched]) -> list[visits_pb2.ContactSummary]:
        """Visits and calls of each silent customer's owner during their watch.

        One call for all candidates (attendance takes up to 5000 per call; more are
        sent in as few calls as that allows).
        """
        summaries: list[visits_pb2.ContactSummary] = []
        for chunk in chunks(watched, MAX_CONTACT_QUERIES):
            request = visits_pb2.SummarizeContactsRequest(
                queries=[
                    visits_pb2.ContactQuery(
                        customer_id=entry.candidate.customer_id,
                        employee_id=entry.watch.owner_id,
                        since=to_timestamp(entry.watch.contacts_since),
                    )
                    for entry in chunk
                ]
            )
            with acting_as(self._system):
                response = await self._visits.SummarizeContacts(request)
            summaries.extend(response.summaries)
        return summaries

    def _draft(
        self,
        entry: Watched,
        summary: visits_pb2.ContactSummary,
        moved: rules.SimilarRecord | None,
        last_orders: dict[str, date],
        as_of: date,
        thresholds: DiversionThresholds,
        now: datetime,
    ) -> AlertDraft:
        """On the owner whose watch the silence is; when the shop's orders went to a similar
        record, on that record's owner, naming that record and no order (commissions then hold the
        commission of that record's orders, not the quiet record's)."""
        candidate, watch = entry.candidate, entry.watch
        evidence: dict[str, Any] = {
            "customer_code": candidate.customer_code,
            "owner_id": watch.owner_id,
            "last_order_owner_id": candidate.owner_id,
            "usual_interval_days": candidate.usual_interval_days,
            "days_silent": candidate.days_silent,
            "days_silent_on_owners_watch": rules.days_on_watch(as_of, watch),
            "silence_factor": thresholds.silence_factor,
            "orders_in_history": candidate.orders,
            "history_days": thresholds.history_days,
            "last_order_date": candidate.last_order_date.isoformat(),
            "last_order_code": format_order_code(candidate.last_order_number),
            "contacts_since": watch.contacts_since.isoformat(),
            "visits_since_last_order": summary.check_ins,
            "calls_since_last_order": summary.calls,
            "last_contact_at": summary.last_contact_at.ToDatetime(tzinfo=UTC).isoformat(),
            "as_of": as_of.isoformat(),
        }
        if moved is None:
            return AlertDraft(
                kind=rules.DIVERSION_RISK,
                dedupe_key=rules.dedupe_key(candidate.customer_id, candidate.last_order_id),
                employee_id=watch.owner_id,
                customer_id=candidate.customer_id,
                order_id=candidate.last_order_id,
                branch_id=candidate.branch_id,
                detected_at=now,
                evidence=evidence,
            )
        evidence |= {
            "quiet_customer_id": candidate.customer_id,
            "orders_moved_to_customer_id": moved.customer_id,
            "orders_moved_to_code": moved.code,
            "orders_moved_to_owner_id": moved.owner_id,
            "orders_moved_to_last_order_date": last_orders[moved.customer_id].isoformat(),
            "similar_distance_m": round(moved.distance_m),
        }
        return AlertDraft(
            kind=rules.DIVERSION_RISK,
            dedupe_key=rules.dedupe_key(candidate.customer_id, candidate.last_order_id),
            employee_id=moved.owner_id,
            customer_id=moved.customer_id,
            branch_id=candidate.branch_id,
            detected_at=now,
            evidence=evidence,
        )


def _as_date(value: Any) -> date:
    """A Date column read through text(): a date on PostgreSQL, 'YYYY-MM-DD' on SQLite."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
