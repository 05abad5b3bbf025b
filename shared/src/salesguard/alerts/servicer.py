"""The common AlertsService over one service's alerts table: list, watch, summarise,
stream targets, decide.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

from salesguard.alertfeed import AlertFeed
from salesguard.alerts.protos import alert_target, alert_to_proto
from salesguard.alerts.storage import AlertColumns, AlertDecisionColumns
from salesguard.alertsummary import (
    UNDECIDED,
    StandingAlerts,
    SummaryTarget,
    attach_recent,
    columns_from_rows,
    heaviest_alerts,
    one_of,
    plain_rows,
    recent_rows,
    summaries_from_rows,
    summaries_from_totals,
)
from salesguard.db import Database, utcnow
from salesguard.errors import Forbidden, InvalidInput, NotFound
from salesguard.grpc_server import ServicerContext
from salesguard.listing import MAX_IDS
from salesguard.pagination import (
    PAGE_AFTER_AT,
    PAGE_AFTER_KEY,
    keyset_query,
    page_after,
)
from salesguard.policy import Decision, PolicyClient, ScopeColumns, scope_filter
from salesguard.principal import current_principal
from salesguard.risk import RiskModel
from salesguard.settings import PageLimits
from salesguard.telemetry import current_trace_id
from salesguard.timeline import cursor_page
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard.validation import (
    MAX_NOTE,
    directory_id,
    enum_names,
    enum_value,
    page_size,
    record_id,
    text,
)
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc

SEVERITY_NAMES = enum_names(common_pb2.Severity, "SEVERITY_")
STATUS_NAMES = enum_names(common_pb2.AlertStatus, "ALERT_STATUS_")
RESOLUTION_NAMES = enum_names(common_pb2.AlertResolution, "ALERT_RESOLUTION_")
# Alert targets per message of StreamAlertTargets (about 170 bytes each).
TARGETS_BATCH = 5000
# Kinds one request may name (there are fewer than that), and the longest kind (its column).
MAX_KINDS = 50
KIND_MAX_LENGTH = 64


def alert_kinds(field: str, kinds: Sequence[str]) -> list[str]:
    """Alert kinds a request names: at most MAX_KINDS, each at most 64 characters."""
    if len(kinds) > MAX_KINDS:
        raise InvalidInput(field, f"name at most {MAX_KINDS} alert kinds")
    return [text(field, kind, max_length=KIND_MAX_LENGTH) for kind in kinds]


# ListAlerts' filter fields that name several values, and the column each is of.
_LISTS = {"kinds": "kind", "severities": "severity", "statuses": "status", "ids": "id"}
# A filter field's value in ListAlerts' kept statements: a parameter of this name + field.
_FILTER_PARAMETER = "alerts_filter_"
_FILTER_BINDS: dict[str, BindParameter[Any]] = {
    name: bindparam(_FILTER_PARAMETER + name, expanding=name in _LISTS)
    for name in (
        *_LISTS,
        "employee_id",
        "customer_id",
        "order_id",
        "branch_id",
        "detected_from",
        "detected_to",
    )
}
# No alert ID is below it (the empty string sorts first in every collation).
_LOWEST_ID = literal_column("''", String)
# The statements ListAlerts keeps (grants x fields given x page shapes), emptied when full.
MAX_LISTINGS = 256

# How long a watched batch's lookup is kept for other watches handed the same IDs.
SHARED_LOOKUP_SECONDS = 2.0


# WatchAlerts metadata: where a resumed watch starts and from when it must be complete
# (Unix times, see WatchAlerts), and the header of a watch that has started (its start).
RESUME_SINCE = "salesguard-resume-since"
RESUME_COMPLETE_FROM = "salesguard-resume-complete-from"
WATCHING = "salesguard-watching"


def _resume_point(context: ServicerContext) -> tuple[float | None, float | None]:
    moments: dict[str, float] = {}
    for key, value in context.invocation_metadata() or ():
        if key in (RESUME_SINCE, RESUME_COMPLETE_FROM):
            try:
                moment = float(value.decode() if isinstance(value, bytes) else value)
            except ValueError:
                moment = math.nan
            if not math.isfinite(moment):
                raise InvalidInput(key, "a Unix time")
            moments[key] = moment
    return moments.get(RESUME_SINCE), moments.get(RESUME_COMPLETE_FROM)


class WatchedRow(NamedTuple):
    """The columns a watch's grants are checked on (its ScopeColumns)."""

    employee_id: str | None
    branch_id: str | None
    kind: str


@dataclass(kw_only=True, eq=False)
class AlertsServicer(common_pb2_grpc.AlertsServiceServicer):
    """The common AlertsService over one service's alerts table."""

    source: str
    db: Database
    policy: PolicyClient
    pages: PageLimits
    model: type[AlertColumns]
    decisions: type[AlertDecisionColumns]
    feed: AlertFeed

    def __post_init__(self) -> None:
        model = self.model
        # An alert is about its employee; grants may limit both whom and which kinds.
        self._scope = ScopeColumns(
            owner=model.employee_id,
            branch=model.branch_id,
            subject=model.employee_id,
            kind=model.kind,
        )
        # ListAlerts' statements by grants, filter fields given and page shape (_listing).
        self._listings: dict[tuple[Any, ...], tuple[Select[Any], Select[Any]]] = {}
        # What a listed alert is read as: every column of the table, by attribute name.
        self._columns = tuple(
            getattr(model, prop.key) for prop in cast(Mapper[Any], sa_inspect(model)).column_attrs
        )
        # Watches with the same filter that are handed the same new IDs (every HR console
        # and manager, when an alert is raised) share one query instead of one each.
        self._watched: dict[
            tuple[Any, ...], asyncio.Future[list[tuple[WatchedRow, common_pb2.Alert]]]
        ] = {}

    async def _to_protos(
        self, session: AsyncSession, rows: Sequence[AlertColumns | Any]
    ) -> list[common_pb2.Alert]:
        """The alerts (ORM objects or :func:`plain_rows` of their columns) with their
        histories, read in one query for all of them."""
        decisions = self.decisions
        histories: dict[str, list[AlertDecisionColumns]] = {row.id: [] for row in rows}
        # A decision sets its alert's updated_at (UpdateAlert, in the same transaction; the
        # decisions are append-only): an alert without one has no history to read.
        decided = [row.id for row in rows if row.updated_at is not None]
        if decided:
            dialect = self.db.engine.dialect.name
            query = (
                select(decisions)
                .where(one_of(decisions.alert_id, decided, dialect))
                .order_by(decisions.seq)
            )
            for decision in (await session.scalars(query)).all():
                histories[decision.alert_id].append(decision)
        return [alert_to_proto(row, source=self.source, history=histories[row.id]) for row in rows]

    async def ListAlerts(
        self, request: common_pb2.ListAlertsRequest, context: ServicerContext
    ) -> common_pb2.ListAlertsResponse:
        decision = (await self.policy.decide(current_principal(), "alerts.read")).require(
            "alerts.read"
        )
        size = decision.page_size(page_size("page.page_size", request.page.page_size, self.pages))
        values = self._filter_values(request.filter)
        page_request = request.page
        after = page_after(page_request)
        query, count = self._listing(decision, values, page_request, size, after is not None)
        parameters = {_FILTER_PARAMETER + name: value for name, value in values.items()}
        page_parameters = dict(parameters)
        if after is not None:
            page_parameters[PAGE_AFTER_AT], page_parameters[PAGE_AFTER_KEY] = after
        # Plain SELECTs, each on its own (no BEGIN and ROLLBACK round trips; under READ
        # COMMITTED a transaction's statements share no snapshot either), the alerts as
        # named tuples of their columns rather than ORM instances (issue 16: a timeline page
        # asks every alert source for a page of alerts, and these cost more than the SQL).
        async with self.db.statements() as connection:
            session = AsyncSession(bind=connection)
            try:
                rows = plain_rows(await session.execute(query, page_parameters))
                total = (
                    int(await session.scalar(count, parameters) or 0)
                    if page_request.include_total_count
                    else None
                )
                page = cursor_page(
                    rows,
                    size,
                    lambda row: (row.detected_at, row.id),
                    backward=request.page.backward,
                )
                alerts = await self._to_protos(session, page.rows)
            finally:
                await session.close()
        return common_pb2.ListAlertsResponse(
            alerts=alerts, cursors=page.cursors, page_info=page.page_info(total)
        )

    async def WatchAlerts(
        self, request: common_pb2.WatchAlertsRequest, context: ServicerContext
    ) -> AsyncIterator[common_pb2.WatchAlertsResponse]:
        """Alerts as they are committed, exactly those ListAlerts would show the caller:
        one decision for the whole watch; per batch of new IDs one query shared by every
        watch with the same filter, each watch keeping the rows its decision covers.

        A watch resumed after a transient failure names, in its metadata, the moment to
        resume from (RESUME_SINCE) and, when the broken watch had started, from when the
        resume must miss nothing (RESUME_COMPLETE_FROM; see :mod:`salesguard.feeds`): it
        first gets the alerts committed since then, decided afresh like any. The feed
        listens before the decision is asked, so a watch refused for a transient reason
        resumes from its first try."""
        since, complete_from = _resume_point(context)
        await self.feed.listen()
        decision = (await self.policy.decide(current_principal(), "alerts.read")).require(
            "alerts.read"
        )
        conditions = self._filter_conditions(request.filter)
        audience = request.filter.SerializeToString(deterministic=True)
        async with self.feed.watch(since=since, complete_from=complete_from) as watcher:
            # The response has begun: a watch ended later (UNAVAILABLE when the feed was
            # interrupted) reaches the watcher, and is never retried by the channel's retry
            # policy (which retries calls not yet answered) into a silent gap. WATCHING
            # tells the caller the watch has started, and when by this process's clock (the
            # moment its resume must be complete from); an error's headers carry nothing.
            await context.send_initial_metadata(((WATCHING, repr(watcher.started)),))
            while True:
                ids = await watcher.next_batch()
                watched = await self._shared_lookup((audience, tuple(ids)), conditions, ids)
                # The grants as ListAlerts applies them in SQL (scope_filter over the same
                # columns): the scope, the kinds, and whom the rows may be about.
                alerts = [
                    alert
                    for row, alert in watched
                    if decision.covering_grant(
                        row.employee_id, None, row.branch_id, subject=row.employee_id, kind=row.kind
                    )
                    is not None
                ]
                if alerts:
                    yield common_pb2.WatchAlertsResponse(alerts=alerts)

    def _shared_lookup(
        self, key: tuple[Any, ...], conditions: list[Any], ids: list[str]
    ) -> asyncio.Future[list[tuple[WatchedRow, common_pb2.Alert]]]:
        """The alerts among ``ids`` that match a filter, looked up once for every watch
        with this key (asked within SHARED_LOOKUP_SECONDS); shielded, so one watch leaving
        cancels nobody else's answer."""
        shared = self._watched.get(key)
        if shared is None:
            shared = asyncio.ensure_future(self._lookup(conditions, ids))
            self._watched[key] = shared
            asyncio.get_running_loop().call_later(
                SHARED_LOOKUP_SECONDS, self._watched.pop, key, None
            )
        return asyncio.shield(shared)

    async def _lookup(
        self, conditions: list[Any], ids: list[str]
    ) -> list[tuple[WatchedRow, common_pb2.Alert]]:
        model = self.model
        query = (
            select(model)
            .where(model.id.in_(ids), *conditions)
            .order_by(model.detected_at, model.id)
        )
        async with self.db.read() as session:
            rows = (await session.scalars(query)).all()
        # Just raised: no decision has been taken on them yet, so no history to read.
        return [
            (
                WatchedRow(row.employee_id, row.branch_id, row.kind),
                alert_to_proto(row, source=self.source),
            )
            for row in rows
        ]

    def _listing(
        self,
        decision: Decision,
        values: dict[str, Any],
        page: common_pb2.PageRequest,
        size: int,
        resumed: bool,
    ) -> tuple[Select[Any], Select[Any]]:
        """ListAlerts' page and count statements for the caller's grants, the filter's
        fields given (their values: parameters, :meth:`_filter_values`), the page's shape
        (``resumed``: from a token, its values the parameters PAGE_AFTER_AT/KEY): built once
        for each (building and keying them cost more than running them: a timeline page
        asks every alert source for one)."""
        backward = page.backward
        key = (
            decision.grants,
            tuple(values),
            size,
            backward,
            resumed,
            backward and page.include_token_item,
        )
        statements = self._listings.get(key)
        if statements is None:
            model = self.model
            scope = scope_filter(decision, self._scope)
            filters = {name: _FILTER_BINDS[name] for name in values}
            conditions = [scope, *self._conditions(filters)]
            postgres = self.db.engine.dialect.name == "postgresql"
            listed = (
                [scope, *self._conditions(filters, time_as_rows=True)] if postgres else conditions
            )
            query = self._page_query(select(*self._columns).where(*listed), page, size, resumed)
            count = select(func.count()).select_from(model).where(*conditions)
            if len(self._listings) >= MAX_LISTINGS:
                self._listings.clear()
            statements = self._listings[key] = (query, count)
        return statements

    def _page_query(
        self, query: Select[Any], page: common_pb2.PageRequest, size: int, resumed: bool
    ) -> Select[Any]:
        """:func:`salesguard.pagination.keyset_query`'s page (``named_cursor``), the same
        rows in the same order, written so that PostgreSQL reads it in index order under a
        generic plan too (asyncpg prepares it; after five runs PostgreSQL may keep a plan
        made without the values): the position after the token a row-value comparison
        ``(detected_at, id) < (:at, :id)``, which the (detected_at, id) index takes whole
        and the (employee, detected_at) and (branch, detected_at) indexes as a bound on
        detected_at, where keyset_query's ``at < :at OR (at = :at AND id < :id)`` bounds
        no index; and the LIMIT written into the statement (each page size is a statement
        of its own, :meth:`_listing`). A generic plan of a page after a cursor otherwise
        read every row of a branch's or employee's list on the far side of the cursor too
        (and sorted them), or the alerts table from its newest row to the cursor (an HR
        list). Whether an employee's quarter is read in index order: see :meth:`_conditions`.
        Both columns are NOT NULL: the comparison keeps the rows the OR keeps. Other
        databases (SQLite) get keyset_query's statement as it is."""
        model = self.model
        at, key = model.detected_at, model.id
        if self.db.engine.dialect.name != "postgresql":
            return keyset_query(
                query, page, size, at, key, backward_supported=True, named_cursor=True
            )
        # Which way the rows are read: newest first, or oldest first for a backward page.
        descending = not page.backward
        if resumed:
            position = tuple_(at, key)
            after = tuple_(
                bindparam(PAGE_AFTER_AT, type_=at.type), bindparam(PAGE_AFTER_KEY, type_=key.type)
            )
            if page.backward and page.include_token_item:
                query = query.where(position >= after)
            else:
                query = query.where(position < after if descending else position > after)
        order = (at.desc(), key.desc()) if descending else (at.asc(), key.asc())
        return query.order_by(*order).limit(literal_column(str(int(size) + 1), Integer))

    def _filter_values(self, alert_filter: common_pb2.AlertFilter) -> dict[str, Any]:
        """The filter's fields that are given, checked (in this order, as
        :meth:`_filter_conditions` checks them), by name."""
        values: dict[str, Any] = {}
        if alert_filter.kinds:
            values["kinds"] = alert_kinds("filter.kinds", alert_filter.kinds)
        for name, field, given, allowed in (
            ("severities", "filter.severities", alert_filter.severities, SEVERITY_NAMES),
            ("statuses", "filter.statuses", alert_filter.statuses, STATUS_NAMES),
        ):
            wanted = [enum_value(field, value, allowed) for value in given]
            if wanted:
                values[name] = wanted
        if alert_filter.ids:
            if len(alert_filter.ids) > MAX_IDS:
                raise InvalidInput("filter.ids", f"at most {MAX_IDS} IDs")
            values["ids"] = [record_id("filter.ids", value) for value in alert_filter.ids]
        equal = {
            "employee_id": directory_id("filter.employee_id", alert_filter.employee_id),
            "customer_id": record_id("filter.customer_id", alert_filter.customer_id),
            "order_id": record_id("filter.order_id", alert_filter.order_id),
            "branch_id": directory_id("filter.branch_id", alert_filter.branch_id),
        }
        values.update((name, value) for name, value in equal.items() if value)
        begins = from_timestamp(alert_filter.detected_from, "detected_from")
        ends = from_timestamp(alert_filter.detected_to, "detected_to")
        if begins:
            values["detected_from"] = begins
        if ends:
            values["detected_to"] = ends
        return values

    def _conditions(
        self, values: Mapping[str, Any], *, time_as_rows: bool = False
    ) -> list[ColumnElement[bool]]:
        """The conditions of the filter's fields given (:meth:`_filter_values`), each on its
        value (or the bound parameter standing for it).

        ``time_as_rows`` (a page's statement on PostgreSQL): the time range as row-value
        comparisons, ``(detected_at, id) >= (:from, '')`` and ``(detected_at, id) < (:to,
        '')`` (no ID is below ''): the same rows, and the same bounds on the indexes'
        detected_at, but PostgreSQL does not take the two for one range of unknown bounds,
        which a generic plan estimates at 0.5% of the rows: an employee's quarter then
        looked like a handful of rows, cheaper to sort than to read in index order, and a
        page after a cursor read and sorted every row of the employee's window before it."""
        model = self.model
        at = model.detected_at
        position = tuple_(at, model.id)
        conditions: list[ColumnElement[bool]] = []
        for name, value in values.items():
            if name == "detected_from":
                conditions.append(
                    position >= tuple_(value, _LOWEST_ID) if time_as_rows else at >= value
                )
            elif name == "detected_to":
                conditions.append(
                    position < tuple_(value, _LOWEST_ID) if time_as_rows else at < value
                )
            elif name in _LISTS:
                conditions.append(getattr(model, _LISTS[name]).in_(value))
            else:
                conditions.append(getattr(model, name) == value)
        return conditions

    def _filter_conditions(self, alert_filter: common_pb2.AlertFilter) -> list[Any]:
        return self._conditions(self._filter_values(alert_filter))

    async def StreamAlertTargets(
        self, request: common_pb2.StreamAlertTargetsRequest, context: ServicerContext
    ) -> AsyncIterator[common_pb2.StreamAlertTargetsResponse]:
        """What alerts of some kinds concern, for services holding work back on them (SYSTEM),
        in batches of TARGETS_BATCH ordered by alert ID."""
        (await self.policy.decide(current_principal(), "alerts.targets")).require("alerts.targets")
        kinds = alert_kinds("kinds", request.kinds)
        if not kinds:
            raise InvalidInput("kinds", f"name 1 to {MAX_KINDS} alert kinds")
        statuses = [enum_value("statuses", s, STATUS_NAMES) for s in request.statuses] or list(
            UNDECIDED
        )
        resolutions = [enum_value("resolutions", r, RESOLUTION_NAMES) for r in request.resolutions]
        model = self.model
        conditions: list[ColumnElement[bool]] = [
            model.kind.in_(kinds),
            model.status.in_(statuses),
        ]
        if resolutions:
            conditions.append(or_(model.status != "RESOLVED", model.resolution.in_(resolutions)))
        query = (
            select(
                model.id,
                model.kind,
                model.status,
                model.resolution,
                model.employee_id,
                model.customer_id,
                model.order_id,
            )
            .where(*conditions)
            .order_by(model.id)
            .execution_options(yield_per=TARGETS_BATCH)
        )
        async with self.db.read() as session:
            result = await session.stream(query)
            async for rows in result.partitions(TARGETS_BATCH):
                yield common_pb2.StreamAlertTargetsResponse(
                    targets=[alert_target(row) for row in rows]
                )

    async def SummarizeAlerts(
        self, request: common_pb2.SummarizeAlertsRequest, context: ServicerContext
    ) -> common_pb2.SummarizeAlertsResponse:
        """Per employee and kind, the standing alerts since a time (risk.read scope):
        counts, their weight after the risk model's decay, the most recent ones."""
        target = SummaryTarget.from_request(request, utcnow())
        decision = (
            await self.policy.decide(current_principal(), "risk.read", target.policy_resource)
        ).require("risk.read")
        for employee_id in target.employee_ids:
            # A score of 0 for one's own case would say "nothing against you": refuse instead.
            decision.about(employee_id)
        risk = RiskModel.from_thresholds(await self.policy.thresholds())
        scope = scope_filter(decision, self._scope)
        dialect = self.db.engine.dialect.name
        standing = StandingAlerts(self.model, scope, target, risk, dialect)
        answer = common_pb2.SummarizeAlertsResponse(
            risk_model=risk.to_proto(), as_of=to_timestamp(target.as_of)
        )
        if request.as_columns:
            async with self.db.read() as session:
                rows = (await session.execute(standing.columns_query(dialect))).all()
            answer.columns.CopyFrom(columns_from_rows(rows, dialect))
        elif request.heaviest_alerts_only:
            async with self.db.read() as session:
                result = await session.execute(standing.heaviest_query())
                rows = standing.of_groups(plain_rows(result))
                alerts = await self._to_protos(session, rows)
            answer.heaviest.extend(heaviest_alerts(rows, alerts))
        elif request.include_recent and request.heaviest_only:
            totals = standing.totals_query()
            heaviest = standing.heaviest_query()
            async with self.db.read() as session:
                summaries = summaries_from_totals((await session.execute(totals)).all())
                rows = plain_rows(await session.execute(heaviest))
                alerts = await self._to_protos(session, rows)
            attach_recent(summaries, rows, alerts)
            answer.summaries.extend(summaries)
        elif request.include_recent:
            per_kind = risk.evidence_items
            query = standing.summary_query(per_kind)
            async with self.db.read() as session:
                rows = (await session.execute(query)).all()
                recent = await self._to_protos(session, recent_rows(rows, per_kind))
            answer.summaries.extend(summaries_from_rows(rows, recent, per_kind))
        else:
            query = standing.totals_query()
            async with self.db.read() as session:
                answer.summaries.extend(summaries_from_totals((await session.execute(query)).all()))
        return answer

    async def UpdateAlert(
        self, request: common_pb2.UpdateAlertRequest, context: ServicerContext
    ) -> common_pb2.UpdateAlertResponse:
        principal = current_principal()
        async with self.db.transaction() as session:
            row = await session.get(self.model, request.id, with_for_update=True)
            if row is None:
                raise NotFound(f"alert {request.id} not found")
            decision = await self.policy.decide(
                principal,
                "alerts.update",
                # status: the one it has now; who may revise a decided alert is policy data.
                {"branch_id": row.branch_id, "employee_id": row.employee_id, "status": row.status},
            )
            refusals = {
                "SELF_DECISION": "nobody decides an alert about themselves",
                "ALERT_ALREADY_DECIDED": f"the alert is {row.status} already; revising a "
                "decision is not among your grants (policy data names who may)",
            }
            for reason, message in refusals.items():
                if reason in decision.reasons:
                    # The caller sees the alert (it is in their scope): say why, not "absent".
                    raise Forbidden(message, details={"reason": reason})
            covered = decision.covering_grant(
                row.employee_id, None, row.branch_id, subject=row.employee_id, kind=row.kind
            )
            if not decision.allow or covered is None:
                # Out of scope (or a case the grants leave to superiors) reads as absent,
                # never as "exists but forbidden".
                raise NotFound(f"alert {request.id} not found")
            # Judged once the caller may decide it (issue 11 item 12: authorise first).
            status = enum_value("status", request.status, STATUS_NAMES)
            if status == "OPEN":
                raise InvalidInput("status", "an alert cannot be reopened")
            resolution: str | None = None
            if status == "RESOLVED":
                resolution = enum_value("resolution", request.resolution, RESOLUTION_NAMES)
            elif request.resolution:
                raise InvalidInput("resolution", "a resolution is given only with RESOLVED")
            note = text("note", request.note, max_length=MAX_NOTE)
            decided_at = utcnow()
            row.status = status
            row.resolution = resolution
            row.note = note or row.note
            row.updated_at = decided_at
            row.updated_by = principal.id
            await session.execute(
                insert(self.decisions).values(
                    alert_id=row.id,
                    status=status,
                    resolution=resolution,
                    note=note or None,
                    actor_id=principal.id,
                    at=decided_at,
                    trace_id=current_trace_id() or "",
                )
            )
            (alert,) = await self._to_protos(session, [row])
        return common_pb2.UpdateAlertResponse(alert=alert)
