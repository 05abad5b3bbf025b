"""The alert model every service shares: kinds, storage, raising, serving, rendering.

Each service keeps its alerts in its own database (a table built from
:class:`AlertColumns`) and serves them through the common ``AlertsService``
contract, so the gateway federates them without knowing any service's tables.
Raising is idempotent on a dedupe key: a detector re-run raises nothing twice.
Every decision on an alert is appended to its history (a table built from
:class:`AlertDecisionColumns`) in the transaction that changes its status, and
new alerts reach watchers through :mod:`salesguard.alertfeed`.

One module per job: :mod:`.catalogue` (kinds, titles, messages), :mod:`.storage`
(tables), :mod:`.writer` (raising), :mod:`.protos` (contract messages),
:mod:`.servicer` (the AlertsService). Import from here.
"""

from salesguard.alerts.catalogue import CATALOG, AlertKind, render
from salesguard.alerts.protos import alert_target, alert_to_proto, decision_to_proto, evidence_dict
from salesguard.alerts.servicer import (
    MAX_KINDS,
    RESOLUTION_NAMES,
    SEVERITY_NAMES,
    STATUS_NAMES,
    AlertsServicer,
    alert_kinds,
)
from salesguard.alerts.storage import (
    AlertColumns,
    AlertDecisionColumns,
    create_alert_decisions,
    drop_alert_decisions,
)
from salesguard.alerts.writer import (
    SELECTED_COLUMNS,
    AlertDraft,
    AlertSelect,
    announce_raised,
    on_alert_raised,
    raise_alert,
    raise_alert_now,
    raise_alerts_selected,
)

__all__ = [
    "CATALOG",
    "MAX_KINDS",
    "RESOLUTION_NAMES",
    "SELECTED_COLUMNS",
    "SEVERITY_NAMES",
    "STATUS_NAMES",
    "AlertColumns",
    "AlertDecisionColumns",
    "AlertDraft",
    "AlertKind",
    "AlertSelect",
    "AlertsServicer",
    "alert_kinds",
    "alert_target",
    "alert_to_proto",
    "announce_raised",
    "create_alert_decisions",
    "decision_to_proto",
    "drop_alert_decisions",
    "evidence_dict",
    "on_alert_raised",
    "raise_alert",
    "raise_alert_now",
    "raise_alerts_selected",
    "render",
]
