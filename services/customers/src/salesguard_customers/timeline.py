"""An employee's follow-ups and audit events, for their timeline.

One ``timeline.read`` decision; a follow-up is in scope by its customer's team and
branch (as a manager sees the branch's customers), an audit event by its branch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, true

from salesguard.grpc_server import Servicer
from salesguard.policy import ScopeColumns
from salesguard.service import Runtime
from salesguard.timeline import (
    Presenter,
    TimelineKind,
    TimelineSources,
    each,
    employee_timeline_servicer,
)
from salesguard_api.customers.v1 import timeline_pb2 as pb
from salesguard_api.customers.v1 import timeline_pb2_grpc
from salesguard_customers.audit import AUDIT_SCOPE
from salesguard_customers.follow_ups import follow_up_to_proto
from salesguard_customers.models import AuditEvent, Customer, FollowUp
from salesguard_customers.servicer import audit_event_to_proto
from salesguard_customers.settings import CustomersSettings

FOLLOW_UP = pb.CUSTOMER_TIMELINE_KIND_FOLLOW_UP
AUDIT_EVENT = pb.CUSTOMER_TIMELINE_KIND_AUDIT_EVENT

FOLLOW_UP_SCOPE = ScopeColumns(
    owner=FollowUp.employee_id, team=Customer.team_id, branch=Customer.branch_id
)

# On PostgreSQL a follow-up's customer is read per row, as a one-row LATERAL subquery by
# the customer's key, not joined: joined, a manager's page was planned as every customer
# of their branch hashed against the employee's follow-ups in the window, then sorted
# (16.5 ms at 1.55M rows); a subquery with a LIMIT is not flattened into a join, so the
# page reads the employee's follow-ups newest first and stops after a page. SQLite, which
# has no LATERAL, joins. (As orders' timeline reads each row's order.)
_CUSTOMER = (
    select(Customer.team_id, Customer.branch_id)
    .where(Customer.id == FollowUp.customer_id)
    .limit(1)
    .lateral("timeline_customer")
)
_LATERAL_COLUMNS: Any = _CUSTOMER.c  # ScopeColumns names mapped attributes; these filter alike


def _sources(*, lateral: bool) -> TimelineSources:
    follow_ups = (
        select(FollowUp).join(_CUSTOMER, true())
        if lateral
        else select(FollowUp).join(Customer, Customer.id == FollowUp.customer_id)
    )
    scope = (
        ScopeColumns(
            owner=FollowUp.employee_id,
            team=_LATERAL_COLUMNS.team_id,
            branch=_LATERAL_COLUMNS.branch_id,
        )
        if lateral
        else FOLLOW_UP_SCOPE
    )
    return TimelineSources(
        TimelineKind(
            FOLLOW_UP, follow_ups, employee=FollowUp.employee_id, at=FollowUp.at, scope=scope
        ),
        TimelineKind(
            AUDIT_EVENT,
            select(AuditEvent),
            employee=AuditEvent.actor_id,
            at=AuditEvent.at,
            scope=AUDIT_SCOPE,
        ),
    )


# PostgreSQL's (what the benchmark EXPLAINs), and SQLite's.
sources = _sources(lateral=True)
JOINED_SOURCES = _sources(lateral=False)
KINDS = sources.kinds

PRESENTERS: dict[int, Presenter] = {
    FOLLOW_UP: each("follow_up", follow_up_to_proto),
    AUDIT_EVENT: each("audit_event", audit_event_to_proto),
}


def timeline_servicer(runtime: Runtime[CustomersSettings]) -> Servicer:
    return employee_timeline_servicer(
        timeline_pb2_grpc.CustomerTimelineServiceServicer,
        runtime,
        JOINED_SOURCES if runtime.db.is_sqlite else sources,
        PRESENTERS,
    )
