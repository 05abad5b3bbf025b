"""An employee's follow-ups and audit events, for their timeline.

One ``timeline.read`` decision; a follow-up is in scope by its customer's team and
branch (as a manager sees the branch's customers), an audit event by its branch.
"""

from __future__ import annotations

from sqlalchemy import select

from salesguard.grpc_server import Servicer
from salesguard.policy import ScopeColumns
from salesguard.service import Runtime
from salesguard.timeline import (
    Presenter,
    ScopingRow,
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


def _sources(*, lateral: bool) -> TimelineSources:
    # A follow-up's customer, for its scope (as orders' timeline reads each row's order).
    customer = ScopingRow(
        Customer.id,
        FollowUp.customer_id,
        FOLLOW_UP_SCOPE,
        lateral=lateral,
        name="timeline_customer",
    )
    return TimelineSources(
        TimelineKind(
            FOLLOW_UP,
            customer.join(select(FollowUp)),
            employee=FollowUp.employee_id,
            at=FollowUp.at,
            scope=customer.scope,
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
