"""The alert model every service shares: kinds, storage, raising, serving, rendering.

Each service keeps its alerts in its own database (a table built from
:class:`AlertColumns`) and serves them through the common ``AlertsService``
contract, so the gateway federates them without knowing any service's tables.
Raising is idempotent on a dedupe key: a detector re-run raises nothing twice.
Every decision on an alert is appended to its history (a table built from
:class:`AlertDecisionColumns`) in the transaction that changes its status, and
new alerts reach watchers through :mod:`salesguard.alertfeed`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict
from opentelemetry import metrics
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    Row,
    Select,
    String,
    Text,
    TextClause,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.sql.selectable import TextualSelect
from sqlalchemy.types import TypeEngine

from salesguard.alertfeed import AlertFeed
from salesguard.alertsummary import (
    UNDECIDED,
    SummaryTarget,
    recent_rows,
    summaries_from_rows,
    summary_query,
)
from salesguard.common.v1 import common_pb2, common_pb2_grpc
from salesguard.db import Database, UtcDateTime, conflict_insert, new_id, new_id_sql, utcnow
from salesguard.errors import Forbidden, InvalidInput, NotFound
from salesguard.grpc_server import ServicerContext
from salesguard.migrations import create_append_only, drop_append_only
from salesguard.pagination import (
    count_if_asked,
    keyset_page,
    keyset_query,
)
from salesguard.policy import PolicyClient, ScopeColumns, scope_filter
from salesguard.principal import current_principal
from salesguard.risk import RiskModel
from salesguard.settings import PageLimits
from salesguard.telemetry import current_trace_id
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard.validation import MAX_NOTE, enum_names, enum_value, page_size, text

log = logging.getLogger(__name__)
_raised = metrics.get_meter(__name__).create_counter(
    "salesguard.alerts.raised", description="Alerts raised by kind"
)

SEVERITY_NAMES = enum_names(common_pb2.Severity, "SEVERITY_")
STATUS_NAMES = enum_names(common_pb2.AlertStatus, "ALERT_STATUS_")
RESOLUTION_NAMES = enum_names(common_pb2.AlertResolution, "ALERT_RESOLUTION_")
# Alert targets per message of StreamAlertTargets (about 170 bytes each).
TARGETS_BATCH = 5000
# Kinds one request may name (there are fewer than that), and the longest ID a filter takes.
MAX_KINDS = 50
ID_MAX_LENGTH = 64


def alert_kinds(field: str, kinds: Sequence[str]) -> list[str]:
    """Alert kinds a request names: at most MAX_KINDS, each at most 64 characters."""
    if len(kinds) > MAX_KINDS:
        raise InvalidInput(field, f"name at most {MAX_KINDS} alert kinds")
    return [text(field, kind, max_length=ID_MAX_LENGTH) for kind in kinds]


@dataclass(frozen=True)
class AlertKind:
    """One kind of alert: the rule that raises it and how it reads in each language."""

    kind: str
    rule: str
    severity: str
    title: Mapping[str, str]
    message: Mapping[str, str]


def _kind(
    kind: str, rule: str, severity: str, en: tuple[str, str], zh: tuple[str, str]
) -> AlertKind:
    return AlertKind(kind, rule, severity, {"en": en[0], "zh": zh[0]}, {"en": en[1], "zh": zh[1]})


# Messages may name evidence keys in braces; missing keys render as "?".
CATALOG: dict[str, AlertKind] = {
    kind.kind: kind
    for kind in (
        _kind(
            "LATE_REGISTRATION",
            "C2",
            "MEDIUM",
            (
                "Late customer registration",
                "Customer {customer_code} was registered {hours_late} h after first contact (limit {limit_hours} h).",
            ),
            (
                "客户登记超时",
                "客户 {customer_code} 在首次接触 {hours_late} 小时后才登记（上限 {limit_hours} 小时）。",
            ),
        ),
        _kind(
            "DUPLICATE_CUSTOMER_CLAIM",
            "C3",
            "HIGH",
            (
                "Duplicate customer claimed",
                "An attempt to register customer {existing_code} again (matched on {matched_on}); a manager should decide.",
            ),
            (
                "重复客户认领",
                "有人试图重复登记客户 {existing_code}（匹配项：{matched_on}），需由经理裁定。",
            ),
        ),
        _kind(
            "BULK_CONTACT_ACCESS",
            "C8",
            "HIGH",
            (
                "Bulk access to contact data",
                "Contact fields of {customer_count} customers were read within {window_minutes} minutes (threshold {threshold}).",
            ),
            (
                "批量查看联系方式",
                "{window_minutes} 分钟内查看了 {customer_count} 位客户的联系方式（阈值 {threshold}）。",
            ),
        ),
        _kind(
            "EXPORT_WITHOUT_APPROVAL",
            "C9",
            "HIGH",
            (
                "Export attempted without approval",
                "An export of {customer_count} customers was attempted while its request was {request_status}.",
            ),
            (
                "未经审批的导出尝试",
                "导出请求状态为 {request_status} 时试图导出 {customer_count} 位客户。",
            ),
        ),
        _kind(
            "CUSTOMER_NEGLECTED",
            "C11",
            "LOW",
            (
                "Customer neglected",
                "Customer {customer_code} has had no follow-up for {days_silent} days; without one it returns to the branch pool in {pool_grace_days} days.",
            ),
            (
                "客户无人跟进",
                "客户 {customer_code} 已 {days_silent} 天无跟进记录；若仍无跟进，将在 {pool_grace_days} 天后退回分公司公海。",
            ),
        ),
        _kind(
            "SHARED_CONTACT_DETAIL",
            "C12",
            "MEDIUM",
            (
                "Shared contact detail no longer blocks registrations",
                "The {criterion} {value} of customer {existing_code} is now treated as shared (e.g. a switchboard) and no longer blocks registrations: {why}. Check that it really is shared.",
            ),
            (
                "共享联系信息不再拦截登记",
                "客户 {existing_code} 的 {criterion}（{value}）现视为共享信息（如总机号码），不再拦截登记：{why_zh}。请核实其确为共享。",
            ),
        ),
        _kind(
            "LOCATION_MISMATCH",
            "A3",
            "MEDIUM",
            (
                "Check-in away from the customer",
                "Checked in {distance_m} m from the linked customer's location (geofence {radius_m} m).",
            ),
            ("签到地点与客户不符", "签到位置距所关联客户 {distance_m} 米（范围 {radius_m} 米）。"),
        ),
        _kind(
            "UNLINKED_CUSTOMER_SITE",
            "A3",
            "HIGH",
            (
                "Visit to a customer not linked",
                "Checked in {distance_m} m from a registered customer without linking the visit to it.",
            ),
            ("未关联客户的拜访", "在已登记客户 {distance_m} 米内签到，却未关联该客户。"),
        ),
        _kind(
            "IMPOSSIBLE_TRAVEL",
            "A3",
            "HIGH",
            (
                "Impossible travel between check-ins",
                "Moved {distance_km} km in {minutes} minutes ({speed_kmh} km/h) since the previous check-in.",
            ),
            (
                "签到间移动速度异常",
                "距上次签到 {minutes} 分钟内移动 {distance_km} 公里（{speed_kmh} 公里/小时）。",
            ),
        ),
        _kind(
            "MOCK_LOCATION",
            "A3",
            "HIGH",
            ("Simulated location", "The device reported a mock location at check-in."),
            ("模拟定位", "签到时设备报告使用了模拟定位。"),
        ),
        _kind(
            "PHOTO_REUSED",
            "A3",
            "HIGH",
            (
                "Photo reused",
                "A check-in photo matches one of an earlier check-in ({earlier_check_in_id}).",
            ),
            ("照片重复使用", "签到照片与之前的签到（{earlier_check_in_id}）照片相同。"),
        ),
        _kind(
            "NEW_DEVICE",
            "A3",
            "LOW",
            (
                "Check-in from a new device",
                "Checked in from a device never used before ({device_id}).",
            ),
            ("新设备签到", "使用从未用过的设备签到（{device_id}）。"),
        ),
        _kind(
            "PHOTO_MISSING_STREAK",
            "A5",
            "MEDIUM",
            (
                "Field visits without photos",
                "Field check-ins on {days} consecutive working days without any photo ({first_day} to {last_day}).",
            ),
            (
                "连续外勤无照片",
                "连续 {days} 个工作日外勤签到均无照片（{first_day} 至 {last_day}）。",
            ),
        ),
        _kind(
            "UNREGISTERED_SITE_REPEATED",
            "A5",
            "HIGH",
            (
                "Repeated visits to an unregistered place",
                "{visits} check-ins within {window_days} days at one place where no customer is registered.",
            ),
            ("多次拜访未登记地点", "{window_days} 天内在同一未登记客户的地点签到 {visits} 次。"),
        ),
        _kind(
            "ABNORMAL_CALL_PATTERN",
            "A6",
            "MEDIUM",
            ("Abnormal call pattern", "{summary}"),
            ("通话模式异常", "{summary_zh}"),
        ),
        _kind(
            "ATTRIBUTION_MISMATCH",
            "O3",
            "MEDIUM",
            (
                "Order submitted for another rep's customer",
                "Order {order_code} for customer {customer_code} was submitted by {submitted_by}, not by the customer's owner {owner_id}.",
            ),
            (
                "订单归属不符",
                "客户 {customer_code} 的订单 {order_code} 由 {submitted_by} 提交，而非客户负责人 {owner_id}。",
            ),
        ),
        _kind(
            "UNREGISTERED_CUSTOMER",
            "O3",
            "HIGH",
            (
                "Order predates the customer's registration",
                "Order {order_code} is dated {order_date}, but customer {customer_code} was registered only on {registered_on}.",
            ),
            (
                "订单早于客户登记",
                "订单 {order_code} 的日期为 {order_date}，而客户 {customer_code} 直到 {registered_on} 才登记。",
            ),
        ),
        _kind(
            "FAKE_DEAL_SUSPECTED",
            "O5",
            "HIGH",
            (
                "Suspected fake deal",
                "Order {order_code} ({total} {currency}) was due on {expected_payment_date}: no payment and no shipment {days_past_due} days later.",
            ),
            (
                "疑似虚假订单",
                "订单 {order_code}（{total} {currency}）应于 {expected_payment_date} 付款，逾期 {days_past_due} 天仍无付款、无发货。",
            ),
        ),
        _kind(
            "PAYER_MISMATCH",
            "O5",
            "MEDIUM",
            (
                "Payer differs from the customer",
                "Payment {bank_reference} ({amount} {currency}) for order {order_code} came from {payer_name}, not from the customer.",
            ),
            (
                "付款人与客户不符",
                "订单 {order_code} 的付款 {bank_reference}（{amount} {currency}）由 {payer_name} 支付，而非客户本人。",
            ),
        ),
        _kind(
            "DIVERSION_RISK",
            "O6",
            "HIGH",
            (
                "Regular customer gone quiet",
                "No order for {days_silent} days (usual interval {usual_interval_days} days) since {last_order_date}, while the owner visited {visits_since_last_order} times and called {calls_since_last_order} times.",
            ),
            (
                "老客户突然停止下单",
                "自 {last_order_date} 起已 {days_silent} 天无订单（通常间隔 {usual_interval_days} 天），负责人期间拜访 {visits_since_last_order} 次、通话 {calls_since_last_order} 次。",
            ),
        ),
    )
}


def register_kinds(*kinds: AlertKind) -> None:
    """Services add their own kinds at import time; a kind is defined once."""
    for kind in kinds:
        if kind.kind in CATALOG and CATALOG[kind.kind] != kind:
            raise ValueError(f"alert kind {kind.kind} is defined twice")
        CATALOG[kind.kind] = kind


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def pick_language(accept_language: str | None) -> str:
    """'zh' for any Chinese preference ahead of English, else 'en'."""
    if not accept_language:
        return "en"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en") or tag == "*":
            return "en"
    return "en"


def render(kind: str, evidence: Mapping[str, Any], language: str) -> tuple[str, str]:
    """Title and message of an alert in ``language`` ('en' or 'zh')."""
    entry = CATALOG.get(kind)
    if entry is None:
        return kind, ""
    values = _Defaulting(evidence)
    return (
        entry.title.get(language, entry.title["en"]),
        entry.message.get(language, entry.message["en"]).format_map(values),
    )


class AlertColumns:
    """Columns of a service's ``alerts`` table; mix into the service's declarative base."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(8))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="OPEN")
    resolution: Mapped[str | None] = mapped_column(String(16))
    employee_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    order_id: Mapped[str | None] = mapped_column(String(32))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime())
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Same key, same alert: re-running a detector raises nothing twice.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_by: Mapped[str | None] = mapped_column(String(64))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (
            Index("ix_alerts_detected", "detected_at", "id"),
            Index("ix_alerts_branch_detected", "branch_id", "detected_at"),
            Index("ix_alerts_employee_detected", "employee_id", "detected_at"),
            Index("ix_alerts_customer", "customer_id"),
        )


class AlertDecisionColumns:
    """The append-only history of decisions on a service's alerts (UpdateAlert): mix into the
    service's declarative base next to its alerts; the migration refuses UPDATE and DELETE."""

    __tablename__ = "alert_decisions"

    # Insertion order: the order the decisions were taken in, also within one clock tick.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    alert_id: Mapped[str] = mapped_column(String(32), ForeignKey("alerts.id"))
    status: Mapped[str] = mapped_column(String(16))
    resolution: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    trace_id: Mapped[str] = mapped_column(String(32), default="")

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (Index("ix_alert_decisions_alert_seq", "alert_id", "seq"),)


def create_alert_decisions() -> None:
    """In a migration: the alert_decisions table of :class:`AlertDecisionColumns`, append-only.

    Every alert source's revision calls this (customers, attendance, orders; commissions'
    0001 did too, and its 0005 dropped the table), so the tables stay the same; a later
    change to the table is a new revision, never an edit here.
    """
    op.create_table(
        "alert_decisions",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_decisions_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_alert_decisions")),
    )
    with op.batch_alter_table("alert_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_alert_decisions_alert_seq", ["alert_id", "seq"], unique=False)
    create_append_only("alert_decisions")


def drop_alert_decisions() -> None:
    drop_append_only("alert_decisions")
    with op.batch_alter_table("alert_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_decisions_alert_seq")
    op.drop_table("alert_decisions")


@dataclass
class AlertDraft:
    kind: str
    dedupe_key: str
    employee_id: str | None = None
    customer_id: str | None = None
    order_id: str | None = None
    branch_id: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    detected_at: datetime = field(default_factory=utcnow)


AlertListener = Callable[[str, Any], None]
_listeners: list[AlertListener] = []


def on_alert_raised(listener: AlertListener) -> None:
    """Called with (source service, alert row) after a raise is flushed."""
    _listeners.append(listener)


# What a set-based raise's SELECT yields per alert, by these names: the detector's part
# of the row. The writer adds the rest (WRITER_COLUMNS) from the catalogue.
SELECTED_COLUMNS = ("employee_id", "customer_id", "order_id", "branch_id", "evidence", "dedupe_key")
WRITER_COLUMNS = ("id", "kind", "rule", "severity", "status", "detected_at")
_SELECTED_TYPES: dict[str, TypeEngine[Any]] = {
    "employee_id": String(),
    "customer_id": String(),
    "order_id": String(),
    "branch_id": String(),
    "evidence": JSON(),
    "dedupe_key": String(),
}

AlertSelect = str | TextClause | Select[Any]


async def raise_alert(
    session: AsyncSession, model: type[AlertColumns], draft: AlertDraft, *, source: str
) -> bool:
    """Insert the alert unless one with its dedupe key exists; True when it is new."""
    row = select(
        *(
            literal(getattr(draft, name), _SELECTED_TYPES[name]).label(name)
            for name in SELECTED_COLUMNS
        )
    )
    raised = await _write(session, model, draft.kind, row, draft.detected_at, source)
    return bool(raised)


async def raise_alerts_selected(
    session: AsyncSession,
    model: type[AlertColumns],
    kind: str,
    selected: AlertSelect,
    params: Mapping[str, Any] | None = None,
    *,
    detected_at: datetime,
    source: str,
) -> list[dict[str, Any]]:
    """Raise one alert of ``kind`` per row ``selected`` yields, in one statement.

    ``selected`` is a SELECT (SQL text, a :func:`sqlalchemy.text` clause with typed
    parameters, or a Core ``select``) whose columns are named as SELECTED_COLUMNS
    (``NULL AS order_id`` where an alert concerns no order; ``evidence`` a JSON object,
    see :func:`salesguard.db.json_object_sql`); ``params`` are its parameters' values.
    The writer adds a fresh ID, the kind's rule and severity from the catalogue, status
    OPEN and ``detected_at``; rows whose dedupe key exists already are skipped
    (``ON CONFLICT (dedupe_key) DO NOTHING``). Returns the alerts written, as announced.
    """
    bound = dict(params or {})
    if isinstance(selected, Select):
        rows: Select[Any] | TextualSelect = selected.params(bound) if bound else selected
    else:
        clause = sa.text(selected) if isinstance(selected, str) else selected
        rows = clause.bindparams(**bound).columns(
            *(sa.column(name, _SELECTED_TYPES[name]) for name in SELECTED_COLUMNS)
        )
    return await _write(session, model, kind, rows, detected_at, source)


async def _write(
    session: AsyncSession,
    model: type[AlertColumns],
    kind: str,
    rows: Select[Any] | TextualSelect,
    detected_at: datetime,
    source: str,
) -> list[dict[str, Any]]:
    """The one writer of alerts: ``INSERT … SELECT … ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING``, the row completed from the catalogue, then announced."""
    entry = CATALOG[kind]
    selected = rows.subquery("selected")
    complete = select(
        literal_column(new_id_sql(session.bind.dialect.name), String()),
        literal(kind, String()),
        literal(entry.rule, String()),
        literal(entry.severity, String()),
        literal("OPEN", String()),
        literal(detected_at, UtcDateTime()),
        *(selected.c[name] for name in SELECTED_COLUMNS),
        # SQLite: without a WHERE, the upsert's ON would read as a join's ON.
    ).where(true())
    columns = (*WRITER_COLUMNS, *SELECTED_COLUMNS)
    table = model.__table__  # type: ignore[attr-defined]
    statement = (
        conflict_insert(session, model)
        .from_select(columns, complete)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(*(table.c[name] for name in columns))
    )
    raised = [dict(row._mapping) for row in (await session.execute(statement)).all()]
    announce_raised(source, raised)
    return raised


def announce_raised(source: str, alerts: Sequence[Mapping[str, Any]]) -> None:
    """Count and hand on alerts just written (by the writer; set-based writes that bypass it
    call this themselves)."""
    for values in alerts:
        _raised.add(1, {"kind": values["kind"], "source": source})
        log.info("alert raised", extra={"kind": values["kind"], "dedupe_key": values["dedupe_key"]})
        for listener in _listeners:
            listener(source, values)


async def raise_alert_now(
    db: Database, model: type[AlertColumns], draft: AlertDraft, *, source: str
) -> bool:
    """Raise an alert in a transaction of its own: for requests that are refused and roll back."""
    async with db.transaction() as session:
        return await raise_alert(session, model, draft, source=source)


def _status_and_resolution(
    status: str, resolution: str | None
) -> tuple[common_pb2.AlertStatus.ValueType, common_pb2.AlertResolution.ValueType]:
    """A stored status and resolution as their proto enum values."""
    return (
        common_pb2.AlertStatus.Value(f"ALERT_STATUS_{status}"),
        common_pb2.AlertResolution.Value(f"ALERT_RESOLUTION_{resolution}")
        if resolution
        else common_pb2.ALERT_RESOLUTION_UNSPECIFIED,
    )


def decision_to_proto(row: AlertDecisionColumns) -> common_pb2.AlertDecision:
    status, resolution = _status_and_resolution(row.status, row.resolution)
    return common_pb2.AlertDecision(
        status=status,
        resolution=resolution,
        note=row.note or "",
        actor_id=row.actor_id,
        at=to_timestamp(row.at),
        trace_id=row.trace_id,
    )


def alert_to_proto(
    row: AlertColumns,
    *,
    source: str,
    history: Sequence[AlertDecisionColumns] = (),
) -> common_pb2.Alert:
    evidence = struct_pb2.Struct()
    evidence.update(row.evidence or {})
    status, resolution = _status_and_resolution(row.status, row.resolution)
    return common_pb2.Alert(
        id=row.id,
        kind=row.kind,
        rule=row.rule,
        severity=common_pb2.Severity.Value(f"SEVERITY_{row.severity}"),
        status=status,
        resolution=resolution,
        employee_id=row.employee_id or "",
        customer_id=row.customer_id or "",
        order_id=row.order_id or "",
        branch_id=row.branch_id or "",
        detected_at=to_timestamp(row.detected_at),
        evidence=evidence,
        source=source,
        note=row.note or "",
        updated_at=to_timestamp(row.updated_at),
        updated_by=row.updated_by or "",
        history=[decision_to_proto(decision) for decision in history],
    )


def evidence_dict(alert: common_pb2.Alert) -> dict[str, Any]:
    return MessageToDict(alert.evidence)


def alert_target(row: Row[Any]) -> common_pb2.AlertTarget:
    """What one alert concerns, from a row of (id, kind, status, resolution, employee_id,
    customer_id, order_id)."""
    status, resolution = _status_and_resolution(row.status, row.resolution)
    return common_pb2.AlertTarget(
        alert_id=row.id,
        kind=row.kind,
        status=status,
        resolution=resolution,
        employee_id=row.employee_id or "",
        customer_id=row.customer_id or "",
        order_id=row.order_id or "",
    )


# How long a watched batch's lookup is kept for other watches handed the same IDs.
SHARED_LOOKUP_SECONDS = 2.0


class AlertsServicer(common_pb2_grpc.AlertsServiceServicer):
    """The common AlertsService over one service's alerts table."""

    def __init__(
        self,
        *,
        source: str,
        db: Database,
        policy: PolicyClient,
        pages: PageLimits,
        model: type[AlertColumns],
        decisions: type[AlertDecisionColumns],
        feed: AlertFeed,
    ) -> None:
        self._source = source
        self._db = db
        self._policy = policy
        self._pages = pages
        self._model = model
        self._decisions = decisions
        self._feed = feed
        # An alert is about its employee; grants may limit both whom and which kinds.
        self._scope = ScopeColumns(
            owner=model.employee_id,
            branch=model.branch_id,
            subject=model.employee_id,
            kind=model.kind,
        )
        # Watches with the same scope and filter that are handed the same new IDs (every
        # HR console, when an alert is raised) share one query instead of one each.
        self._watched: dict[tuple[Any, ...], asyncio.Future[list[common_pb2.Alert]]] = {}

    async def _to_protos(
        self, session: AsyncSession, rows: Sequence[AlertColumns]
    ) -> list[common_pb2.Alert]:
        """The alerts with their histories, read in one query for all of them."""
        decisions = self._decisions
        histories: dict[str, list[AlertDecisionColumns]] = {row.id: [] for row in rows}
        if histories:
            query = (
                select(decisions)
                .where(decisions.alert_id.in_(list(histories)))
                .order_by(decisions.seq)
            )
            for decision in (await session.scalars(query)).all():
                histories[decision.alert_id].append(decision)
        return [alert_to_proto(row, source=self._source, history=histories[row.id]) for row in rows]

    async def ListAlerts(
        self, request: common_pb2.ListAlertsRequest, context: ServicerContext
    ) -> common_pb2.ListAlertsResponse:
        decision = (await self._policy.decide(current_principal(), "alerts.read")).require(
            "alerts.read"
        )
        size = decision.page_size(page_size("page.page_size", request.page.page_size, self._pages))
        model = self._model
        conditions = [scope_filter(decision, self._scope), *self._filter_conditions(request.filter)]
        query = keyset_query(
            select(model).where(*conditions), request.page, size, model.detected_at, model.id
        )
        count = select(func.count()).select_from(model).where(*conditions)
        async with self._db.read() as session:
            rows = list((await session.scalars(query)).all())
            total = await count_if_asked(request.page, session, count)
            page = keyset_page(rows, size, lambda row: (row.detected_at, row.id))
            alerts = await self._to_protos(session, page.rows)
        return common_pb2.ListAlertsResponse(
            alerts=alerts, cursors=page.cursors, page_info=page.page_info(total)
        )

    async def WatchAlerts(
        self, request: common_pb2.WatchAlertsRequest, context: ServicerContext
    ) -> AsyncIterator[common_pb2.WatchAlertsResponse]:
        """Alerts as they are committed, exactly those ListAlerts would show the caller:
        one decision for the whole watch, one query per batch of new IDs."""
        decision = (await self._policy.decide(current_principal(), "alerts.read")).require(
            "alerts.read"
        )
        conditions = [scope_filter(decision, self._scope), *self._filter_conditions(request.filter)]
        audience = (decision.grants, request.filter.SerializeToString(deterministic=True))
        async with self._feed.watch() as watcher:
            while True:
                ids = await watcher.next_batch()
                alerts = await self._shared_lookup((audience, tuple(ids)), conditions, ids)
                if alerts:
                    yield common_pb2.WatchAlertsResponse(alerts=alerts)

    def _shared_lookup(
        self, key: tuple[Any, ...], conditions: list[Any], ids: list[str]
    ) -> asyncio.Future[list[common_pb2.Alert]]:
        """The watched alerts among ``ids``, looked up once for every watch with this key
        (asked within SHARED_LOOKUP_SECONDS); shielded, so one watch leaving cancels
        nobody else's answer."""
        shared = self._watched.get(key)
        if shared is None:
            shared = asyncio.ensure_future(self._lookup(conditions, ids))
            self._watched[key] = shared
            asyncio.get_running_loop().call_later(
                SHARED_LOOKUP_SECONDS, self._watched.pop, key, None
            )
        return asyncio.shield(shared)

    async def _lookup(self, conditions: list[Any], ids: list[str]) -> list[common_pb2.Alert]:
        model = self._model
        query = (
            select(model)
            .where(model.id.in_(ids), *conditions)
            .order_by(model.detected_at, model.id)
        )
        async with self._db.read() as session:
            rows = (await session.scalars(query)).all()
        # Just raised: no decision has been taken on them yet, so no history to read.
        return [alert_to_proto(row, source=self._source) for row in rows]

    def _filter_conditions(self, alert_filter: common_pb2.AlertFilter) -> list[Any]:
        model = self._model
        conditions: list[Any] = []
        if alert_filter.kinds:
            conditions.append(model.kind.in_(alert_kinds("filter.kinds", alert_filter.kinds)))
        if alert_filter.severities:
            conditions.append(
                model.severity.in_(
                    [
                        enum_value("filter.severities", v, SEVERITY_NAMES)
                        for v in alert_filter.severities
                    ]
                )
            )
        if alert_filter.statuses:
            conditions.append(
                model.status.in_(
                    [enum_value("filter.statuses", v, STATUS_NAMES) for v in alert_filter.statuses]
                )
            )
        for name, column, value in (
            ("filter.employee_id", model.employee_id, alert_filter.employee_id),
            ("filter.customer_id", model.customer_id, alert_filter.customer_id),
            ("filter.order_id", model.order_id, alert_filter.order_id),
        ):
            if value:
                conditions.append(column == text(name, value, max_length=ID_MAX_LENGTH))
        detected_from = from_timestamp(alert_filter.detected_from, "detected_from")
        detected_to = from_timestamp(alert_filter.detected_to, "detected_to")
        if detected_from:
            conditions.append(model.detected_at >= detected_from)
        if detected_to:
            conditions.append(model.detected_at < detected_to)
        return conditions

    async def StreamAlertTargets(
        self, request: common_pb2.StreamAlertTargetsRequest, context: ServicerContext
    ) -> AsyncIterator[common_pb2.StreamAlertTargetsResponse]:
        """What alerts of some kinds concern, for services holding work back on them (SYSTEM),
        in batches of TARGETS_BATCH ordered by alert ID."""
        (await self._policy.decide(current_principal(), "alerts.targets")).require("alerts.targets")
        kinds = alert_kinds("kinds", request.kinds)
        if not kinds:
            raise InvalidInput("kinds", f"name 1 to {MAX_KINDS} alert kinds")
        statuses = [enum_value("statuses", s, STATUS_NAMES) for s in request.statuses] or list(
            UNDECIDED
        )
        resolutions = [enum_value("resolutions", r, RESOLUTION_NAMES) for r in request.resolutions]
        model = self._model
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
        async with self._db.read() as session:
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
        as_of = utcnow()
        target = SummaryTarget.from_request(request, as_of)
        decision = (
            await self._policy.decide(current_principal(), "risk.read", target.policy_resource)
        ).require("risk.read")
        for employee_id in target.employee_ids:
            # A score of 0 for one's own case would say "nothing against you": refuse instead.
            decision.about(employee_id)
        risk = RiskModel.from_thresholds(await self._policy.thresholds())
        per_kind = risk.evidence_items if request.include_recent else 0
        query = summary_query(
            self._model, scope_filter(decision, self._scope), target, risk, as_of, per_kind
        )
        async with self._db.read() as session:
            rows = (await session.execute(query)).all()
            recent = await self._to_protos(session, recent_rows(rows, per_kind))
        return common_pb2.SummarizeAlertsResponse(
            summaries=summaries_from_rows(rows, recent, per_kind),
            risk_model=risk.to_proto(),
            as_of=to_timestamp(as_of),
        )

    async def UpdateAlert(
        self, request: common_pb2.UpdateAlertRequest, context: ServicerContext
    ) -> common_pb2.UpdateAlertResponse:
        principal = current_principal()
        async with self._db.transaction() as session:
            row = await session.get(self._model, request.id, with_for_update=True)
            if row is None:
                raise NotFound(f"alert {request.id} not found")
            decision = await self._policy.decide(
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
                insert(self._decisions).values(
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
