"""SummarizeAlerts (the common AlertsService): per employee and alert kind, what the
standing alerts since a time add up to. The input checks, the one windowed query
and the messages built from its rows; :class:`salesguard.alerts.AlertsServicer`
decides on the caller and serves it.

Standing alerts: DISMISSED ones and ones RESOLVED as CLEARED were judged false and
are left out; CONFIRMED ones stay (they are the strongest evidence there is).
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Result,
    Row,
    Select,
    String,
    any_,
    bindparam,
    case,
    cast,
    extract,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from salesguard.errors import InvalidInput
from salesguard.risk import MAX_LOOKBACK, RiskModel
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard.validation import MAX_BATCH, directory_id, text
from salesguard_api.common.v1 import common_pb2

if TYPE_CHECKING:
    from salesguard.alerts import AlertColumns

# Not yet decided, as commissions reads "open" too (StreamAlertTargets).
UNDECIDED = ("OPEN", "ACKNOWLEDGED")
# How far from now a request's as_of may be (an earlier answer's, for its evidence).
AS_OF_DRIFT = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Evidence groups per employee a request may name (an employee has fewer kinds than that).
MAX_GROUP_KINDS = 50


class EpochSeconds(FunctionElement[float]):
    """Seconds since the Unix epoch of a timestamp, as a double: PostgreSQL's date_part,
    not EXTRACT, whose numeric result costs a numeric conversion per alert (the value is
    the same: both round the exact one to the nearest double)."""

    type = Float()
    inherit_cache = True


@compiles(EpochSeconds)
def _epoch_seconds(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    (moment,) = element.clauses
    return compiler.process(extract("epoch", moment), **kw)


@compiles(EpochSeconds, "postgresql")
def _epoch_seconds_postgresql(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date_part('epoch', {compiler.process(element.clauses, **kw)})"


def plain_rows(result: Result[Any]) -> list[Any]:
    """A result's rows as named tuples: a Row's attributes cost a microsecond each (a key
    lookup per access), a named tuple's next to nothing; read per alert, that adds up."""
    keys = tuple(result.keys())
    shape: Any = _SHAPES.get(keys)
    if shape is None:
        shape = _SHAPES[keys] = namedtuple("PlainRow", keys)
    make = shape._make
    return [make(row) for row in result]


# The named tuple of each set of column names read (a handful: the queries are fixed).
_SHAPES: dict[tuple[str, ...], Any] = {}


def one_of(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], values: Sequence[str], dialect: str
) -> ColumnElement[bool]:
    """``column`` is one of ``values``: on PostgreSQL ``= ANY`` of one array parameter (one
    statement for any number of values, none rendered per value), elsewhere an IN."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    return column.in_(list(values))


@dataclass(frozen=True)
class SummaryTarget:
    """Whom a summary is of (employee IDs or a branch) and since when."""

    employee_ids: list[str]
    branch_id: str
    since: datetime | None
    # The time ages are measured from: the request's (an earlier answer's), else now.
    as_of: datetime
    # Only these (employee, kind) groups (heaviest alerts alone); empty: every group.
    groups: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_request(
        cls, request: common_pb2.SummarizeAlertsRequest, now: datetime
    ) -> SummaryTarget:
        if request.as_columns and request.include_recent:
            raise InvalidInput("as_columns", "as_columns carries no recent alerts")
        if request.heaviest_alerts_only and not (request.include_recent and request.heaviest_only):
            raise InvalidInput(
                "heaviest_alerts_only",
                "heaviest_alerts_only needs include_recent and heaviest_only",
            )
        employee_ids = [
            directory_id("employee_ids", employee_id, required=True)
            for employee_id in request.employee_ids
        ]
        branch_id = directory_id("branch_id", request.branch_id)
        if bool(employee_ids) == bool(branch_id):
            raise InvalidInput("employee_ids", "name either employee_ids or branch_id")
        if len(employee_ids) > MAX_BATCH:
            raise InvalidInput("employee_ids", f"at most {MAX_BATCH} employees at a time")
        as_of = from_timestamp(request.as_of, "as_of") or now
        if abs(as_of - now) > AS_OF_DRIFT:
            minutes = AS_OF_DRIFT.total_seconds() / 60
            raise InvalidInput("as_of", f"as_of must be within {minutes:.0f} minutes of now")
        since = from_timestamp(request.since, "since")
        if since is not None and since < as_of - MAX_LOOKBACK:
            raise InvalidInput("since", f"since must be within the last {MAX_LOOKBACK.days} days")
        employees = list(dict.fromkeys(employee_ids))
        return cls(employees, branch_id, since, as_of, _groups(request, set(employees)))

    @property
    def policy_resource(self) -> dict[str, Any] | None:
        """A branch is a resource: another branch's manager is refused, not shown nothing."""
        return {"branch_id": self.branch_id} if self.branch_id else None


def _groups(
    request: common_pb2.SummarizeAlertsRequest, employees: set[str]
) -> tuple[tuple[str, str], ...]:
    """The request's evidence groups: only with heaviest_alerts_only, of employees it names."""
    groups = request.evidence_groups
    if groups and not request.heaviest_alerts_only:
        raise InvalidInput("evidence_groups", "evidence_groups needs heaviest_alerts_only")
    if len(groups) > MAX_BATCH * MAX_GROUP_KINDS:
        raise InvalidInput("evidence_groups", "too many evidence groups")
    chosen: dict[tuple[str, str], None] = {}
    # A few kinds recur in hundreds of groups: each is checked once.
    kinds: dict[str, str] = {}
    for group in groups:
        employee, kind = group.employee_id, group.kind
        if employee not in employees:
            raise InvalidInput("evidence_groups", "a group's employee must be in employee_ids")
        checked = kinds.get(kind)
        if checked is None:
            checked = kinds[kind] = text("evidence_groups", kind, max_length=64)
        chosen[employee, checked] = None
    return tuple(chosen)


@dataclass(frozen=True)
class StandingAlerts:
    """The standing alerts a summary reads: those of ``model``'s table in ``scope`` and of
    the target, weighed by the risk model as of the target's ``as_of``; and the queries
    over them."""

    model: type[AlertColumns]
    scope: ColumnElement[bool]
    target: SummaryTarget
    risk: RiskModel
    # The database's dialect: on PostgreSQL a list of employees is one array parameter.
    dialect: str = ""

    def _conditions_and_decay(self) -> tuple[list[ColumnElement[bool]], ColumnElement[float]]:
        """The conditions of the standing alerts summarised, and each one's decay."""
        model, target, risk = self.model, self.target, self.risk
        as_of = target.as_of
        since = target.since or as_of - timedelta(seconds=risk.lookback_seconds)
        conditions = [
            self.scope,
            (
                one_of(model.employee_id, target.employee_ids, self.dialect)
                if target.employee_ids
                else model.branch_id == target.branch_id
            ),
            model.employee_id.is_not(None),
            model.detected_at >= since,
            model.status != "DISMISSED",
            func.coalesce(model.resolution, "") != "CLEARED",
        ]
        # 0.5^(age / half-life) = exp(-ln 2 × age / half-life), age in seconds.
        decay = func.exp(
            (
                EpochSeconds(model.detected_at)
                - bindparam("as_of_epoch", as_of.timestamp(), type_=Float)
            )
            * bindparam("decay_rate", math.log(2) / risk.half_life_seconds, type_=Float)
        )
        return conditions, decay

    def _groups(self) -> Select[Any]:
        """One row per (employee, kind) group: its totals, without alerts. A plain GROUP BY
        (hash-aggregated): a branch's summary needs no per-alert window nor its sort."""
        model = self.model
        conditions, decay = self._conditions_and_decay()
        return (
            select(
                model.employee_id,
                model.kind,
                func.count().label("group_count"),
                func.count().filter(model.status.in_(UNDECIDED)).label("group_undecided"),
                func.sum(decay).label("group_decayed"),
                func.max(model.detected_at).label("last_detected_at"),
            )
            .where(*conditions)
            .group_by(model.employee_id, model.kind)
        )

    def totals_query(self) -> Select[Any]:
        """The groups (:meth:`_groups`), ordered by employee and kind."""
        return self._groups().order_by(self.model.employee_id, self.model.kind)

    def columns_query(self, dialect: str) -> Select[Any]:
        """The groups for :func:`columns_from_rows`: on PostgreSQL one row of arrays (a column
        each, in the same order), the newest alert's time in microseconds since the epoch;
        elsewhere a row per group."""
        groups = self._groups()
        if dialect != "postgresql":
            return groups
        grouped = groups.subquery()
        micros = cast(extract("epoch", grouped.c.last_detected_at) * 1_000_000, BigInteger)
        return select(
            func.array_agg(grouped.c.employee_id),
            func.array_agg(grouped.c.kind),
            func.array_agg(grouped.c.group_count),
            func.array_agg(grouped.c.group_undecided),
            func.array_agg(micros),
            func.array_agg(grouped.c.group_decayed),
        )

    def heaviest_query(self) -> Select[Any]:
        """Each employee's ``risk.evidence_items`` standing alerts that weigh most (weight ×
        decay over all kinds; ties: newer, then lower ID, as a profile orders its evidence),
        with their decay, ordered by employee, kind and newest first: rows of the alerts'
        columns (no ORM objects) and ``decay``. Of the target's groups alone, if it names
        any, once :meth:`of_groups` has kept theirs."""
        model, risk = self.model, self.risk
        conditions, decay = self._conditions_and_decay()
        weights = {
            kind: bindparam(None, weight, type_=Float) for kind, weight in risk.weights.items()
        }
        default = bindparam("default_weight", risk.default_weight, type_=Float)
        weight = case(weights, value=model.kind, else_=default) if weights else default
        ranked = (
            select(
                model,
                decay.label("decay"),
                func.row_number()
                .over(
                    partition_by=model.employee_id,
                    # Alert IDs are 32 hex digits: they sort alike in every collation and Python.
                    order_by=((weight * decay).desc(), model.detected_at.desc(), model.id),
                )
                .label("heaviness"),
            )
            .where(*conditions)
            .subquery()
        )
        columns = [column for column in ranked.c if column.key not in {"decay", "heaviness"}]
        return (
            select(*columns, ranked.c.decay)
            .where(ranked.c.heaviness <= risk.evidence_items)
            .order_by(
                ranked.c.employee_id, ranked.c.kind, ranked.c.detected_at.desc(), ranked.c.id.desc()
            )
        )

    def of_groups(self, rows: Sequence[Any]) -> Sequence[Any]:
        """Of :meth:`heaviest_query`'s rows (at most ``evidence_items`` an employee), those of
        the target's groups when it names any: an employee's evidence is among their heaviest
        alerts in each source, and in those groups. Kept here, not in SQL: a parameter per
        group would cost more to send than the few rows it leaves out."""
        groups = set(self.target.groups)
        if not groups:
            return rows
        return [row for row in rows if (row.employee_id, row.kind) in groups]

    def summary_query(self, per_kind: int) -> Select[Any]:
        """One row per (employee, kind) group and each of its ``per_kind`` newest alerts (at
        least one row per group): the alert, its rank by recency, and the group's totals."""
        model = self.model
        conditions, decay = self._conditions_and_decay()
        group = (model.employee_id, model.kind)
        ranked = (
            select(
                model,
                func.row_number()
                .over(partition_by=group, order_by=(model.detected_at.desc(), model.id.desc()))
                .label("recency"),
                func.count().over(partition_by=group).label("group_count"),
                func.sum(case((model.status.in_(UNDECIDED), 1), else_=0))
                .over(partition_by=group)
                .label("group_undecided"),
                func.sum(decay).over(partition_by=group).label("group_decayed"),
                decay.label("decay"),
            )
            .where(*conditions)
            .subquery()
        )
        return (
            select(
                aliased(model, ranked),
                ranked.c.recency,
                ranked.c.group_count,
                ranked.c.group_undecided,
                ranked.c.group_decayed,
                ranked.c.decay,
            )
            .where(ranked.c.recency <= max(1, per_kind))
            .order_by(ranked.c.employee_id, ranked.c.kind, ranked.c.recency)
        )


def _kind_summary(
    row: Row[Any], employee_id: str, kind: str, last_detected_at: datetime
) -> common_pb2.AlertKindSummary:
    """One employee's summary of one kind from a row's group figures."""
    return common_pb2.AlertKindSummary(
        employee_id=employee_id,
        kind=kind,
        count=row.group_count,
        open_count=row.group_undecided,
        last_detected_at=to_timestamp(last_detected_at),
        decayed_count=float(row.group_decayed),
    )


def columns_from_rows(rows: Sequence[Row[Any]], dialect: str) -> common_pb2.AlertKindColumns:
    """The columns of :meth:`StandingAlerts.columns_query`'s rows (of ``dialect``)."""
    if dialect == "postgresql":
        ((employee_ids, kinds, counts, undecided, micros, decayed),) = rows
        return common_pb2.AlertKindColumns(
            employee_ids=employee_ids or (),
            kinds=kinds or (),
            counts=counts or (),
            open_counts=undecided or (),
            last_detected_micros=micros or (),
            decayed_counts=decayed or (),
        )
    return common_pb2.AlertKindColumns(
        employee_ids=[row.employee_id for row in rows],
        kinds=[row.kind for row in rows],
        counts=[row.group_count for row in rows],
        open_counts=[row.group_undecided for row in rows],
        last_detected_micros=[(row.last_detected_at - EPOCH) // MICROSECOND for row in rows],
        decayed_counts=[float(row.group_decayed) for row in rows],
    )


def summaries_from_totals(rows: Iterable[Row[Any]]) -> list[common_pb2.AlertKindSummary]:
    """The summaries of :meth:`StandingAlerts.totals_query`'s rows (no recent alerts)."""
    return [_kind_summary(row, row.employee_id, row.kind, row.last_detected_at) for row in rows]


def attach_recent(
    summaries: list[common_pb2.AlertKindSummary],
    rows: Sequence[Row[Any]],
    alerts: Sequence[common_pb2.Alert],
) -> None:
    """Put :meth:`StandingAlerts.heaviest_query`'s alerts (``alerts``: their protos, in
    order) under their summaries; one committed between the two reads has none and is
    left out."""
    by_group = {(summary.employee_id, summary.kind): summary for summary in summaries}
    for row, alert in zip(rows, alerts, strict=True):
        summary = by_group.get((alert.employee_id, alert.kind))
        if summary is not None:
            summary.recent.append(common_pb2.RecentAlert(alert=alert, decay=float(row.decay)))


def heaviest_alerts(
    rows: Sequence[Row[Any]], alerts: Sequence[common_pb2.Alert]
) -> list[common_pb2.RecentAlert]:
    """:meth:`StandingAlerts.heaviest_query`'s alerts (``alerts``: their protos, in order)
    with their decay, without summaries."""
    return [
        common_pb2.RecentAlert(alert=alert, decay=float(row.decay))
        for row, alert in zip(rows, alerts, strict=True)
    ]


def recent_rows(rows: Iterable[Row[Any]], per_kind: int) -> list[Any]:
    """The alerts of the rows that are returned in full."""
    return [row[0] for row in rows if row.recency <= per_kind]


def summaries_from_rows(
    rows: Sequence[Row[Any]], recent: Sequence[common_pb2.Alert], per_kind: int
) -> list[common_pb2.AlertKindSummary]:
    """The summaries of :meth:`StandingAlerts.summary_query`'s rows; ``recent`` are the
    protos of :func:`recent_rows`, in the same order."""
    remaining = iter(recent)
    summaries: list[common_pb2.AlertKindSummary] = []
    for row in rows:
        alert = row[0]
        if row.recency == 1:
            summaries.append(_kind_summary(row, alert.employee_id, alert.kind, alert.detected_at))
        if row.recency <= per_kind:
            summaries[-1].recent.append(
                common_pb2.RecentAlert(alert=next(remaining), decay=float(row.decay))
            )
    return summaries
