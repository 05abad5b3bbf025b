"""How often employees were in touch with customers: check-ins and calls, for orders'
diversion-risk detector.

Asked by the orders service as SYSTEM; answers with counts only.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select

from salesguard.db import Database
from salesguard.errors import InvalidInput
from salesguard.policy import PolicyClient
from salesguard.principal import current_principal
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.attendance.v1 import visits_pb2 as pb
from salesguard_attendance.models import CallLog, CheckIn

MAX_QUERIES = 5000
ACTION = "visits.contact_facts"


class Contacts:
    def __init__(self, db: Database, policy: PolicyClient) -> None:
        self.db = db
        self.policy = policy

    async def summarize(self, request: pb.SummarizeContactsRequest) -> pb.SummarizeContactsResponse:
        if len(request.queries) > MAX_QUERIES:
            raise InvalidInput("queries", f"at most {MAX_QUERIES} queries per call")
        (await self.policy.decide(current_principal(), ACTION)).require(ACTION)
        queries = []
        for index, query in enumerate(request.queries):
            since = from_timestamp(query.since, "since")
            if not query.customer_id or not query.employee_id or since is None:
                raise InvalidInput(
                    f"queries[{index}]", "customer_id, employee_id and since are required"
                )
            queries.append((query.customer_id, query.employee_id, since))
        if not queries:
            return pb.SummarizeContactsResponse()
        customers = {customer for customer, _, _ in queries}
        earliest = min(since for _, _, since in queries)
        # One read per source over the customers concerned; each pair's own "since" is
        # applied here, so a thousand pairs still cost two queries.
        contacts: dict[tuple[str, str], dict[str, list[datetime]]] = defaultdict(
            lambda: {"visit": [], "call": []}
        )
        async with self.db.read() as session:
            visits = await session.execute(
                select(CheckIn.customer_id, CheckIn.employee_id, CheckIn.at).where(
                    CheckIn.customer_id.in_(customers), CheckIn.at >= earliest
                )
            )
            for customer_id, employee_id, at in visits:
                contacts[(customer_id, employee_id)]["visit"].append(at)
            calls = await session.execute(
                select(CallLog.customer_id, CallLog.employee_id, CallLog.started_at).where(
                    CallLog.customer_id.in_(customers), CallLog.started_at >= earliest
                )
            )
            for customer_id, employee_id, at in calls:
                contacts[(customer_id, employee_id)]["call"].append(at)
        summaries = []
        for customer_id, employee_id, since in queries:
            found = contacts.get((customer_id, employee_id), {"visit": [], "call": []})
            visits_since = [at for at in found["visit"] if at >= since]
            calls_since = [at for at in found["call"] if at >= since]
            latest = max(visits_since + calls_since, default=None)
            summaries.append(
                pb.ContactSummary(
                    customer_id=customer_id,
                    employee_id=employee_id,
                    check_ins=len(visits_since),
                    calls=len(calls_since),
                    last_contact_at=to_timestamp(latest),
                )
            )
        return pb.SummarizeContactsResponse(summaries=summaries)
