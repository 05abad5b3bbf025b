"""Stored alerts and decisions as the messages of the common AlertsService contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict
from sqlalchemy import (
    Row,
)

from salesguard.alerts.storage import AlertColumns, AlertDecisionColumns
from salesguard.timeutil import to_timestamp
from salesguard_api.common.v1 import common_pb2


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
    row: AlertColumns | Row[Any],
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
