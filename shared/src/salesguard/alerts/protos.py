"""Stored alerts and decisions as the messages of the common AlertsService contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy import (
    Row,
)

from salesguard.alerts.storage import AlertColumns, AlertDecisionColumns
from salesguard.timeutil import set_timestamp, to_timestamp
from salesguard_api.common.v1 import common_pb2

# Looked up per alert: a dict, not EnumTypeWrapper.Value's formatted name (a name not in
# them still goes to Value, which refuses it as before).
_STATUSES = {
    name.removeprefix("ALERT_STATUS_"): value for name, value in common_pb2.AlertStatus.items()
}
_RESOLUTIONS = {
    name.removeprefix("ALERT_RESOLUTION_"): value
    for name, value in common_pb2.AlertResolution.items()
}
_SEVERITIES = {name.removeprefix("SEVERITY_"): value for name, value in common_pb2.Severity.items()}


def _status_and_resolution(
    status: str, resolution: str | None
) -> tuple[common_pb2.AlertStatus.ValueType, common_pb2.AlertResolution.ValueType]:
    """A stored status and resolution as their proto enum values."""
    status_value = _STATUSES.get(status)
    if status_value is None:
        status_value = common_pb2.AlertStatus.Value(f"ALERT_STATUS_{status}")
    if not resolution:
        return status_value, common_pb2.ALERT_RESOLUTION_UNSPECIFIED
    resolution_value = _RESOLUTIONS.get(resolution)
    if resolution_value is None:
        resolution_value = common_pb2.AlertResolution.Value(f"ALERT_RESOLUTION_{resolution}")
    return status_value, resolution_value


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
    row: AlertColumns | Row[Any],
    *,
    source: str,
    history: Sequence[AlertDecisionColumns] = (),
) -> common_pb2.Alert:
    status, resolution = _status_and_resolution(row.status, row.resolution)
    severity = _SEVERITIES.get(row.severity)
    if severity is None:
        severity = common_pb2.Severity.Value(f"SEVERITY_{row.severity}")
    alert = common_pb2.Alert(
        id=row.id,
        kind=row.kind,
        rule=row.rule,
        severity=severity,
        status=status,
        resolution=resolution,
        employee_id=row.employee_id or "",
        customer_id=row.customer_id or "",
        order_id=row.order_id or "",
        branch_id=row.branch_id or "",
        source=source,
        note=row.note or "",
        updated_by=row.updated_by or "",
        history=[decision_to_proto(decision) for decision in history],
    )
    # Written in place: a message passed to the constructor is copied.
    set_timestamp(alert.detected_at, row.detected_at)
    set_timestamp(alert.updated_at, row.updated_at)
    if row.evidence:
        alert.evidence.update(row.evidence)
    else:
        alert.evidence.SetInParent()  # present, if empty, as an empty Struct passed was
    return alert


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
