"""Play a planned world against the real services, and watch what they raise.

Everything a person does goes through the GraphQL gateway of a test-harness ``Suite``
(tests.harness), as the apps do: the administrator builds the directory, reps register
customers, check in with real JPEGs (EXIF position and time) and submit orders, managers
approve (or, warned by a rep's open fake-deal alert, reject) and ship, finance records
payments, HR imports call logs. What a scheduler does
runs through the services' own job runner ``as_of`` the end of each simulated day
(``salesguard job NAME --as-of``'s path). Nothing here writes an alert.

Two things the API stamps with the wall clock cannot be simulated in the past, so they are
set directly, and only for that:

- a customer's registration time: registered now, every simulated order would be an
  ``UNREGISTERED_CUSTOMER`` and every pool rule would see a fresh customer. After
  registering the book through the API (first contact an hour ago: on time), one
  statement moves each customer's ``first_contact_at``, ``registered_at`` and
  ``owned_since`` back to the day the world says (the "seeding of past rows" issue 17
  allows);
- the check-in backlog: attendance refuses check-ins older than ``max_backlog_days``
  (7) as stale device syncs; the simulated suite raises that setting to cover the run.

Detection, thresholds and policies stay as shipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, update

from salesguard.jobs import Job, JobStatus, run_job
from salesguard_attendance.jobs import DETECTORS
from salesguard_customers.models import ContactRead
from salesguard_customers.models import Customer as CustomerRow
from salesguard_orders.jobs import DIVERSION_RISK, RECONCILIATION
from simulation.company import (
    BackOrdered,
    CallLog,
    Claim,
    ContactsRead,
    Customer,
    Departure,
    DuplicateAttempt,
    Event,
    FollowUp,
    OrderPlaced,
    PaymentMade,
    Registration,
    Rep,
    Shipped,
    Visit,
    World,
)
from tests.harness import Backends, Suite, employee_id, global_id, service_id
from tests.integration.stories_detection.support import (
    RECORD_BACK_ORDER,
    RECORD_PAYMENT,
    RECORD_SHIPMENT,
)
from tests.integration.test_stories_deals import DECIDE, SUBMIT, UPDATE_ALERT
from tests.org import (
    UPSERT_BRANCH,
    UPSERT_EMPLOYEE,
    UPSERT_TEAM,
    add_employee,
    admin,
    register_result,
)
from tests.photos import jpeg, retaken, scene, upload
from tests.support.field_visits import CHECK_IN, IMPORT_CALLS, call, check_in_input
from tests.support.orders_service import move_approval
from tests.support.timeline import FOLLOW_UP

# The jobs that raise alerts from what accumulated, as the schedules run them daily.
DAILY_JOBS: tuple[Job[Any], ...] = (RECONCILIATION, DIVERSION_RISK, DETECTORS)
ALERTS = """query($after: String) {
  alerts(first: 100, after: $after) {
    edges { node { id kind severity employee { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
# The field app's registered operations a rep reads customers with: the list (no contact
# fields), and one customer's phone and address when they tap to call (an unmasked read).
FIELD_MY_CUSTOMERS = """query FieldMyCustomers($filter: CustomerFilter, $first: Int, $after: String) {
  customers(first: $first, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    edges { node { id code name company location { lat lng } maskedFields } }
  }
}"""
FIELD_CUSTOMER_CONTACT = """query FieldCustomerContact($id: ID!) {
  customer(id: $id) { id phone address maskedFields }
}"""
CLAIM = """mutation($input: ClaimCustomerInput!) {
  claimCustomer(input: $input) { customer { id owner { id } } }
}"""
# The fake-deal alerts open on a rep, as their manager reads them before deciding an order.
WARNINGS = """query($employee: ID!) {
  alerts(first: 100, filter: {kinds: [FAKE_DEAL_SUSPECTED, SHIPMENT_OVERDUE], statuses: [OPEN, ACKNOWLEDGED], employeeId: $employee}) {
    edges { node { id status order { paymentState } } }
  }
}"""
RANKING = """query($branch: ID) {
  riskRanking(branchId: $branch, first: 100) { employee { id } score }
}"""
# Whether a manager plans the visits of a rep covering an away colleague (issue 17). Off,
# the product as it was before plans authorised covering: the covering rep, who cannot
# read the colleague's customer, checks in without linking it.
PLAN_COVERS = True
PLAN_VISIT = (
    """mutation($input: PlanVisitInput!) { planVisit(input: $input) { visitPlan { id } } }"""
)
# The tests' photo size: smaller scenes are few big shapes, and a few in a thousand come
# within the perceptual hash's match distance of another, a PHOTO_REUSED of our making.
PHOTO_SIZE = (640, 480)


@dataclass(frozen=True)
class SeenAlert:
    id: str
    kind: str
    severity: str
    employee: str | None  # the HR key of the employee it concerns
    day: int  # the simulated day it was first listed


@dataclass
class Observed:
    alerts: dict[str, SeenAlert] = field(default_factory=dict)
    # Each ranked employee's score at the end (HR key → score); unranked ones score 0.
    scores: dict[str, float] = field(default_factory=dict)
    # The same at the end of each simulated month the run covers, by its last day.
    month_end_scores: dict[date, dict[str, float]] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    profile: str = "embedded"


async def start_suite(world: World, data_dir: Path, backends: Backends) -> Suite:
    """The suite on ``backends`` (empty: the embedded profile), the check-in backlog long
    enough for the simulated days."""
    return await Suite.start(
        backends,
        data_dir,
        service_overrides={"attendance": {"max_backlog_days": world.scale.days + 8}},
    )


class Driver:
    """Plays one world on one suite: each person acts with their own token, so every
    request passes the same policies and verdicts a real client's would."""

    def __init__(self, world: World, suite: Suite) -> None:
        self.world = world
        self.suite = suite
        self.customer_ids: dict[str, str] = {}
        self.order_ids: dict[str, str] = {}
        self.observed = Observed()
        self._payments = 0
        # The orders a manager rejected (held once warned), by event key.
        self.rejected: set[str] = set()

    async def gql(self, query: str, variables: dict[str, Any], as_: str) -> dict[str, Any]:
        self.observed.requests += 1
        return (await self.suite.gql(query, variables, as_=as_)).ok()

    async def run(self) -> Observed:
        started = time.monotonic()
        await self.directory()
        await self.register_book()
        for day in range(self.world.scale.days):
            await self.play_day(day)
            if self.world.day(day + 1).month != self.world.day(day).month:
                self.observed.month_end_scores[self.world.day(day)] = await self.rank()
        self.observed.scores = await self.rank()
        self.observed.seconds = time.monotonic() - started
        return self.observed

    # -- the company ---------------------------------------------------------------------------

    async def directory(self) -> None:
        world, suite = self.world, self.suite
        branches = [(world.hq, "Headquarters", "Asia/Shanghai", True)] + [
            (b.hr_id, b.name, b.time_zone, False) for b in world.branches
        ]
        for hr_id, name, zone, hq in branches:
            await admin(
                suite,
                UPSERT_BRANCH,
                {"hrId": hr_id, "name": name, "timeZone": zone, "headquarters": hq},
            )
        for branch in world.branches:
            await admin(
                suite,
                UPSERT_TEAM,
                {
                    "hrId": branch.team,
                    "name": f"{branch.name} sales",
                    "branchId": global_id("Branch", branch.hr_id),
                },
            )
            await add_employee(
                suite, branch.manager, f"{branch.name} manager", "MANAGER", branch=branch.hr_id
            )
        await add_employee(suite, world.hr, "HR", "HR", branch=world.hq)
        await add_employee(suite, world.finance, "Finance", "FINANCE", branch=world.hq)
        for rep in world.reps:
            await add_employee(
                suite,
                rep.hr_id,
                rep.name,
                "SALES_JUNIOR",
                branch=rep.branch.hr_id,
                team=rep.branch.team,
            )

    async def register_book(self) -> None:
        """Every customer through registerCustomer, then their registration moved back to
        before the run (see the module's docstring)."""
        registered = []
        for customer in self.world.customers:
            customer_id = await self.register(customer.owner, customer)
            at = datetime.combine(
                self.world.start - timedelta(days=customer.registered_days_before),
                datetime.min.time(),
                tzinfo=customer.owner.branch.zone,
            ) + timedelta(hours=10)
            registered.append((customer_id, at))
        await self.move_registrations(registered)

    async def register(self, rep: Rep, customer: Customer) -> str:
        """``customer`` through registerCustomer as ``rep``: its ID."""
        result = await register_result(
            self.suite,
            rep.hr_id,
            name=customer.name,
            company=customer.company,
            phone=customer.phone,
            source=customer.source,
            address=f"{customer.owner.branch.name}, {customer.key}",
            location={"lat": customer.location[0], "lng": customer.location[1]},
        )
        self.observed.requests += 1
        customer_id = str(result.ok()["registerCustomer"]["customer"]["id"])
        self.customer_ids[customer.key] = customer_id
        return customer_id

    async def move_registrations(self, registered: list[tuple[str, datetime]]) -> None:
        """Each customer's registration (and ownership) moved to its simulated moment, the
        first contact two hours before: one statement (executemany) on the customers
        service's own database."""
        table = cast(Table, CustomerRow.__table__)
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(
                first_contact_at=bindparam("contact"),
                registered_at=bindparam("registered"),
                owned_since=bindparam("registered"),
            )
        )
        rows = [
            {
                "row_id": service_id(customer_id),
                "contact": at - timedelta(hours=2),
                "registered": at,
            }
            for customer_id, at in registered
        ]
        async with self.suite.running["customers"].runtime.db.transaction() as session:
            await (await session.connection()).execute(statement, rows)

    # -- a day ---------------------------------------------------------------------------------

    async def play_day(self, day: int) -> None:
        calls: list[CallLog] = []
        for event in self.world.events[day]:
            if isinstance(event, CallLog):
                calls.append(event)  # telephony exports a day's calls at once
            else:
                await self.play(event)
        if calls:
            entries = [call(c.rep.hr_id, c.number, c.at, c.seconds) for c in calls]
            await self.gql(IMPORT_CALLS, {"input": {"entries": entries}}, self.world.hr)
        # The scheduled jobs, as of late evening: both branches' day is over.
        as_of = datetime.combine(self.world.day(day), datetime.min.time(), tzinfo=UTC) + timedelta(
            hours=15, minutes=30
        )
        for job in DAILY_JOBS:
            outcome = await run_job(self.suite.running[job.service].runtime, job, as_of=as_of)
            if outcome.status is not JobStatus.APPLIED:
                raise RuntimeError(f"{job.name} as of {as_of}: {outcome}")
        await self.watch(day)

    async def play(self, event: Event) -> None:
        if isinstance(event, Visit):
            await self.visit(event)
        elif isinstance(event, OrderPlaced):
            await self.order(event)
        elif isinstance(event, PaymentMade):
            await self.payment(event)
        elif isinstance(event, Shipped):
            await self.shipment(event)
        elif isinstance(event, BackOrdered):
            await self.back_order(event)
        elif isinstance(event, FollowUp):
            values = {
                "customerId": self.customer_ids[event.customer.key],
                "kind": "CALL",
                "at": event.at.isoformat(),
                "note": "long call about the next order",
            }
            await self.gql(FOLLOW_UP, {"input": values}, event.rep.hr_id)
        elif isinstance(event, DuplicateAttempt):
            await self.duplicate(event)
        elif isinstance(event, ContactsRead | Departure | Claim):
            await self.contacts_or_departure(event)
        elif isinstance(event, Registration):
            await self.register_during_run(event)

    async def visit(self, visit: Visit) -> None:
        extra: dict[str, Any] = {
            "accuracyM": round(visit.accuracy_m, 1),
            "deviceId": visit.device or visit.rep.device,
        }
        if visit.customer is not None:
            extra["customerId"] = self.customer_ids[visit.customer.key]
        if visit.cover_plan is not None and not await self.plan_cover(visit):
            extra.pop("customerId", None)
        if visit.mock_location:
            extra["mockLocation"] = True
        if visit.photo is not None:
            image = scene(self.world.seed * 1_000_003 + visit.photo, PHOTO_SIZE)
            if visit.retake:
                image = retaken(image)
            self.observed.requests += 2
            extra["photoKeys"] = [
                await upload(
                    self.suite, visit.rep.hr_id, jpeg(image, gps=visit.point, taken_at=visit.at)
                )
            ]
        await self.gql(
            CHECK_IN, {"input": check_in_input(visit.point, visit.at, **extra)}, visit.rep.hr_id
        )

    async def plan_cover(self, visit: Visit) -> bool:
        """The manager plans the covering rep's visit (planVisit, as the manager); False
        when covering plans are off (:data:`PLAN_COVERS`)."""
        if not PLAN_COVERS or visit.cover_plan is None or visit.customer is None:
            return False
        manager, start, end = visit.cover_plan
        values = {
            "employeeId": employee_id(visit.rep.hr_id),
            "customerId": self.customer_ids[visit.customer.key],
            "windowStart": start.isoformat(),
            "windowEnd": end.isoformat(),
            "note": "covering an away colleague",
        }
        await self.gql(PLAN_VISIT, {"input": values}, manager)
        return True

    async def order(self, placed: OrderPlaced) -> None:
        values = {
            "customerId": self.customer_ids[placed.customer.key],
            "currency": "CNY",
            "lines": [
                {
                    "sku": "SKU-1",
                    "description": "goods",
                    "quantity": "1",
                    "unitPrice": f"{placed.total}.00",
                }
            ],
            "orderDate": placed.at.date().isoformat(),
            "expectedPaymentDate": placed.due.isoformat(),
            "idempotencyKey": f"{self.world.prefix}-{placed.key}",
            "sourceClaim": placed.source_claim or placed.customer.source,
        }
        order = (await self.gql(SUBMIT, {"input": values}, placed.rep.hr_id))["submitOrder"][
            "order"
        ]
        self.order_ids[placed.key] = order["id"]
        await self.decide(placed, order["id"])

    async def decide(self, placed: OrderPlaced, order_id: str) -> None:
        """The branch manager decides, having looked at the rep's fake-deal alerts: an honest
        one holds (rejects) the rep's orders while one on an unpaid order is open; a colluding
        one approves them all the same and acknowledges the alerts (a manager may do no
        more), which releases nothing but looks diligent."""
        manager, rep = placed.rep.branch.manager, placed.rep.hr_id
        page = await self.gql(WARNINGS, {"employee": employee_id(rep)}, manager)
        warnings = [
            edge["node"]
            for edge in page["alerts"]["edges"]
            if (edge["node"]["order"] or {}).get("paymentState") == "UNPAID"
        ]
        colluding = self.world.colluding(manager)
        approve = colluding or not warnings
        comment = "ok" if approve else "on hold: a fake-deal alert is open on this rep's orders"
        decision = {"orderId": order_id, "approve": approve, "comment": comment}
        await self.gql(DECIDE, {"input": decision}, manager)
        # Approved "today", no order would ever be a week old: the decision is moved to the
        # order's simulated moment, as registrations are.
        await move_approval(self.suite, service_id(order_id), placed.at)
        if not approve:
            self.rejected.add(placed.key)
        for alert in warnings if colluding else []:
            if alert["status"] == "OPEN":
                values = {
                    "id": alert["id"],
                    "status": "ACKNOWLEDGED",
                    "note": "checked with the rep",
                }
                await self.gql(UPDATE_ALERT, {"input": values}, manager)

    async def payment(self, paid: PaymentMade) -> None:
        if paid.order_key in self.rejected:
            return  # nobody pays for an order the manager rejected
        self._payments += 1
        values = {
            "bankReference": f"{self.world.prefix}-bank-{self._payments}",
            "payerName": paid.payer,
            "amount": f"{paid.amount}.00",
            "currency": "CNY",
            "paidAt": paid.at.isoformat(),
            "orderId": self.order_ids[paid.order_key],
        }
        await self.gql(RECORD_PAYMENT, {"input": values}, self.world.finance)

    async def shipment(self, shipped: Shipped) -> None:
        if shipped.order_key in self.rejected:
            return  # nor ships it
        values = {
            "orderId": self.order_ids[shipped.order_key],
            "carrier": "SF Express",
            "trackingNumber": f"{self.world.prefix}-{shipped.order_key}",
            "shippedAt": shipped.at.isoformat(),
        }
        await self.gql(RECORD_SHIPMENT, {"input": values}, shipped.rep.branch.manager)

    async def back_order(self, back_ordered: BackOrdered) -> None:
        if back_ordered.order_key in self.rejected:
            return
        values = {
            "orderId": self.order_ids[back_ordered.order_key],
            "promisedShipDate": back_ordered.promised.isoformat(),
            "reason": "out of stock at the plant",
        }
        # Finance: the manager approved the order, and an approver may not vouch for its delay.
        await self.gql(RECORD_BACK_ORDER, {"input": values}, self.world.finance)

    async def duplicate(self, attempt: DuplicateAttempt) -> None:
        existing = attempt.existing
        result = await register_result(
            self.suite,
            attempt.rep.hr_id,
            name=f"{existing.name} (buyer 2)",
            company=existing.company,
            phone=existing.phone,
            source="PERSONAL",
            location={"lat": existing.location[0], "lng": existing.location[1]},
        )
        self.observed.requests += 1
        if result.codes != ["DUPLICATE_CUSTOMER"]:
            raise RuntimeError(f"a duplicate registration was not refused: {result.body}")

    async def register_during_run(self, registration: Registration) -> None:
        """A customer registered during the run (SHADOW_RECORD's second record), its
        registration then moved to the simulated moment like the book's (module docstring).
        It passes C3; what SIMILAR_CUSTOMER makes of it is the product's, raised at the
        registration."""
        customer_id = await self.register(registration.rep, registration.customer)
        await self.move_registrations([(customer_id, registration.at)])

    async def contacts_or_departure(self, event: ContactsRead | Departure | Claim) -> None:
        if isinstance(event, Departure):
            await self.departure(event)
        elif isinstance(event, Claim):
            values = {"customerId": self.customer_ids[event.customer.key]}
            await self.gql(CLAIM, {"input": values}, event.rep.hr_id)
        else:
            await self.read_contacts(event)

    async def read_contacts(self, read: ContactsRead) -> None:
        """The list opened (it shows no contact fields), then each customer's contact read
        (audited, counted towards BULK_CONTACT_ACCESS as it happens); then the reads' records
        moved to the simulated moment: the detector counts the
        reads of the last hour of the wall clock, in which a whole run plays, so each
        sitting is counted alone, as if hours or days lay between them (the "seeding of
        past rows" issue 17 allows; the alert is the product's, raised at the read)."""
        before = datetime.now(UTC)
        if read.listing:
            await self.gql(FIELD_MY_CUSTOMERS, {"first": 20}, read.rep.hr_id)
        for customer in read.customers:
            variables = {"id": self.customer_ids[customer.key]}
            shown = (await self.gql(FIELD_CUSTOMER_CONTACT, variables, read.rep.hr_id))["customer"]
            if shown is None or shown["phone"] is None:
                raise RuntimeError(f"{read.rep.hr_id} could not read {customer.key}'s phone")
        table = cast(Table, ContactRead.__table__)
        db = self.suite.running["customers"].runtime.db
        async with db.transaction() as session:
            await (await session.connection()).execute(
                update(table)
                .where(table.c.at >= before - timedelta(seconds=1))
                .values(at=read.at.astimezone(UTC))
            )

    async def departure(self, leaves: Departure) -> None:
        """HR sets the rep LEFT, handing their customers to a colleague or the pool (C6)."""
        rep = leaves.rep
        values: dict[str, Any] = {
            "hrId": rep.hr_id,
            "name": rep.name,
            "roles": ["SALES_JUNIOR"],
            "teamId": global_id("Team", rep.branch.team),
            "branchId": global_id("Branch", rep.branch.hr_id),
            "status": "LEFT",
            "leaveDate": leaves.at.date().isoformat(),
        }
        if leaves.successor is None:
            values["toPool"] = True
        else:
            values["successorId"] = employee_id(leaves.successor.hr_id)
        await self.gql(UPSERT_EMPLOYEE, {"input": values}, self.world.hr)

    # -- what the product raised ---------------------------------------------------------------

    async def watch(self, day: int) -> None:
        """List every alert as HR; the ones not seen before were raised today."""
        after: str | None = None
        while True:
            page = (await self.gql(ALERTS, {"after": after}, self.world.hr))["alerts"]
            for edge in page["edges"]:
                node = edge["node"]
                if node["id"] not in self.observed.alerts:
                    employee = node["employee"]
                    self.observed.alerts[node["id"]] = SeenAlert(
                        node["id"],
                        node["kind"],
                        node["severity"],
                        service_id(employee["id"]) if employee else None,
                        day,
                    )
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]

    async def rank(self) -> dict[str, float]:
        """riskRanking of each branch as HR now: what a month's review would read. The
        ranking weighs alerts by when they were raised, and they were all raised during
        this run, so none has decayed yet: a month-end ranking counts every alert so far
        at full weight."""
        scores = {}
        for branch in self.world.branches:
            ranked = await self.gql(
                RANKING, {"branch": global_id("Branch", branch.hr_id)}, self.world.hr
            )
            for entry in ranked["riskRanking"] or []:
                scores[service_id(entry["employee"]["id"])] = float(entry["score"])
        return scores


async def simulate(world: World, data_dir: Path, backends: Backends | None = None) -> Observed:
    """Start a suite of the world's own (on ``backends``; by default the embedded
    profile), play the world on it, stop it."""
    backends = backends or Backends()
    suite = await start_suite(world, data_dir, backends)
    try:
        observed = await Driver(world, suite).run()
    finally:
        await suite.stop()
    observed.profile = "full" if backends.database_urls else "embedded"
    return observed
