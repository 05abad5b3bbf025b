"""Authorise first, then validate.

A senior editing a teammate's customer was told "changing the source needs a reason"
instead of FORBIDDEN: the service judged the input before asking whether the caller
may act at all. Every mutation now asks the policy (and, for a stored resource,
its scope) before it judges anything else of the input, so a caller outside their
tier learns FORBIDDEN (or NOT_FOUND, where the resource is outside what they may
see), never what their input lacks, nor whether an employee they may not see exists
or is active. Each case below sends input that is well formed at the gateway but
that the service refuses as invalid; the caller may not perform the mutation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.harness import Suite, employee_id, global_id, unique
from tests.org import UPSERT_EMPLOYEE, Org, add_employee, admin, make_org, register

SUBMIT = """
mutation($input: SubmitOrderInput!) { submitOrder(input: $input) { order { id } } }
"""
REQUEST_EXPORT = """
mutation($input: RequestCustomerExportInput!) {
  requestCustomerExport(input: $input) { exportRequest { id } }
}
"""
ALERTS = """
query($filter: AlertFilter) { alerts(first: 10, filter: $filter) { edges { node { id } } } }
"""
# Mutation name → its input type; the payload is asked for by __typename only.
INPUT_TYPES = {
    "updateCustomer": "UpdateCustomerInput",
    "recordFollowUp": "RecordFollowUpInput",
    "reassignCustomers": "ReassignCustomersInput",
    "registerCustomer": "RegisterCustomerInput",
    "requestCustomerExport": "RequestCustomerExportInput",
    "decideExportRequest": "DecideExportRequestInput",
    "claimCustomer": "ClaimCustomerInput",
    "updateAlert": "UpdateAlertInput",
    "upsertTeam": "UpsertTeamInput",
    "upsertEmployee": "UpsertEmployeeInput",
    "planVisit": "PlanVisitInput",
    "checkIn": "CheckInInput",
    "checkOut": "CheckOutInput",
    "submitOrder": "SubmitOrderInput",
    "decideOrder": "DecideOrderInput",
    "transitionOrder": "TransitionOrderInput",
    "createPaymentUpload": "CreatePaymentUploadInput",
    "recordPayment": "RecordPaymentInput",
    "reversePayment": "ReversePaymentInput",
    "importPayments": "ImportPaymentsInput",
    "recordShipment": "RecordShipmentInput",
    "recordBackOrder": "RecordBackOrderInput",
    "runCommissions": "RunCommissionsInput",
    "lockCommissionPeriod": "LockCommissionPeriodInput",
    "exportCommissionPeriod": "ExportCommissionPeriodInput",
}


def mutation(name: str) -> str:
    return f"mutation($input: {INPUT_TYPES[name]}!) {{ {name}(input: $input) {{ __typename }} }}"


@dataclass(frozen=True)
class Case:
    note: str
    name: str
    as_: str
    values: dict[str, Any]
    expected: str  # FORBIDDEN, or NOT_FOUND where the resource is outside what one may see


@dataclass(frozen=True)
class Stage:
    org: Org
    own: str  # the junior's customer
    mates: str  # the junior's teammate's customer
    order: str  # the teammate's order
    export_request: str  # a manager's export request
    alert: str  # an alert about the teammate
    left_elsewhere: str  # an employee of the other branch who has left (their API ID)


async def stage(suite: Suite) -> Stage:
    org = await make_org(suite)
    own = (await register(suite, org.junior))["id"]
    mates = (await register(suite, org.junior_mate, hours_since_contact=48))["id"]
    line = {"sku": "S", "quantity": "1", "unitPrice": "10"}
    order = (
        await suite.gql(
            SUBMIT,
            {"input": {"customerId": mates, "currency": "CNY", "lines": [line]}},
            as_=org.junior_mate,
        )
    ).ok()["submitOrder"]["order"]["id"]
    export_request = (
        await suite.gql(
            REQUEST_EXPORT, {"input": {"customerIds": [own], "reason": "audit"}}, as_=org.manager
        )
    ).ok()["requestCustomerExport"]["exportRequest"]["id"]
    alerts = (
        await suite.gql(
            ALERTS, {"filter": {"employeeId": employee_id(org.junior_mate)}}, as_=org.manager
        )
    ).ok()["alerts"]["edges"]
    left = unique(f"{org.other_branch}-leaver")
    person = await add_employee(suite, left, "离职者", "SALES_JUNIOR", branch=org.other_branch)
    await admin(suite, UPSERT_EMPLOYEE, person | {"status": "LEFT", "toPool": True})
    return Stage(org, own, mates, order, export_request, alerts[0]["node"]["id"], employee_id(left))


def cases(s: Stage) -> list[Case]:
    org = s.org
    now = datetime.now(UTC)
    later = (now + timedelta(days=2)).isoformat()
    window = {
        "windowStart": (now + timedelta(hours=1)).isoformat(),
        "windowEnd": (now + timedelta(hours=2)).isoformat(),
    }
    registration = {
        "name": unique("Customer"),
        "phone": "+86 139 0000 0000",
        "source": "WEBSITE",
        "firstContactAt": now.isoformat(),
    }
    visit = {"at": now.isoformat(), "location": {"lat": 31.2, "lng": 121.4}, "deviceId": "d"}
    return [
        # The case: a senior reads a teammate's customer but may not change it.
        Case(
            "source change on a teammate's customer, no reason",
            "updateCustomer",
            org.senior,
            {"id": s.mates, "source": "PERSONAL"},
            "FORBIDDEN",
        ),
        Case(
            "a change that changes nothing, on a teammate's customer",
            "updateCustomer",
            org.senior,
            {"id": s.mates},
            "FORBIDDEN",
        ),
        Case(
            "a bad phone on a customer the junior may not see",
            "updateCustomer",
            org.junior,
            {"id": s.mates, "phone": "not a phone"},
            "NOT_FOUND",
        ),
        Case(
            "a follow-up in the future by HR, who reads but does not follow up",
            "recordFollowUp",
            org.hr,
            {"customerId": s.mates, "kind": "CALL", "at": later},
            "FORBIDDEN",
        ),
        Case(
            "a follow-up in the future on a customer the junior may not see",
            "recordFollowUp",
            org.junior,
            {"customerId": s.mates, "kind": "CALL", "at": later},
            "NOT_FOUND",
        ),
        Case(
            "a reassignment without a reason by a junior",
            "reassignCustomers",
            org.junior,
            {"customerIds": [s.own], "newOwnerId": employee_id(org.junior_mate), "reason": ""},
            "FORBIDDEN",
        ),
        Case(
            "a manager reassigning to a leaver of another branch",
            "reassignCustomers",
            org.manager,
            {"customerIds": [s.own], "newOwnerId": s.left_elsewhere, "reason": "why not"},
            "FORBIDDEN",
        ),
        Case(
            "a junior registering for a leaver of another branch",
            "registerCustomer",
            org.junior,
            registration | {"ownerId": s.left_elsewhere},
            "FORBIDDEN",
        ),
        Case(
            "a junior registering for someone who does not exist",
            "registerCustomer",
            org.junior,
            registration | {"ownerId": employee_id(unique("nobody"))},
            "FORBIDDEN",
        ),
        Case(
            "HR registering without a phone or an email",
            "registerCustomer",
            org.hr,
            registration | {"phone": None},
            "FORBIDDEN",
        ),
        Case(
            "an export request without a reason by a junior",
            "requestCustomerExport",
            org.junior,
            {"customerIds": [s.own], "reason": ""},
            "FORBIDDEN",
        ),
        Case(
            "an overlong comment on an export decision by a junior",
            "decideExportRequest",
            org.junior,
            {"id": s.export_request, "approve": True, "comment": "x" * 1001},
            "FORBIDDEN",
        ),
        Case(
            "a claim of no customer by HR",
            "claimCustomer",
            org.hr,
            {"customerId": global_id("Customer", unique("nothing"))},
            "FORBIDDEN",
        ),
        Case(
            "reopening an alert the junior may not see",
            "updateAlert",
            org.junior,
            {"id": s.alert, "status": "OPEN"},
            "NOT_FOUND",
        ),
        Case(
            "a team without a name by a junior",
            "upsertTeam",
            org.junior,
            {"name": "", "branchId": global_id("Branch", org.branch)},
            "FORBIDDEN",
        ),
        Case(
            "an employee without roles by a junior",
            "upsertEmployee",
            org.junior,
            {
                "hrId": unique("someone"),
                "name": "x",
                "roles": [],
                "branchId": global_id("Branch", org.branch),
            },
            "FORBIDDEN",
        ),
        Case(
            "a junior planning a visit for someone who does not exist",
            "planVisit",
            org.junior,
            {"customerId": s.own, "employeeId": employee_id(unique("nobody"))} | window,
            "FORBIDDEN",
        ),
        Case(
            "a junior planning a visit for a leaver of another branch",
            "planVisit",
            org.junior,
            {"customerId": s.own, "employeeId": s.left_elsewhere} | window,
            "FORBIDDEN",
        ),
        Case(
            "a check-in with a negative accuracy by HR",
            "checkIn",
            org.hr,
            visit | {"accuracyM": -1},
            "FORBIDDEN",
        ),
        Case(
            "a check-out in the future of someone else's check-in",
            "checkOut",
            org.hr,
            {"checkInId": global_id("CheckIn", unique("nothing")), "at": later},
            "NOT_FOUND",
        ),
        Case(
            "an order without lines by HR",
            "submitOrder",
            org.hr,
            {"customerId": s.own, "currency": "CNY", "lines": []},
            "FORBIDDEN",
        ),
        Case(
            "an order without lines on a customer the junior may not see",
            "submitOrder",
            org.junior,
            {"customerId": s.mates, "currency": "CNY", "lines": []},
            "NOT_FOUND",
        ),
        Case(
            "an overlong comment on an order decision by a junior",
            "decideOrder",
            org.junior,
            {"orderId": s.order, "approve": True, "comment": "x" * 4001},
            "FORBIDDEN",
        ),
        Case(
            "cancelling a teammate's order without a reason",
            "transitionOrder",
            org.junior,
            {"orderId": s.order, "to": "CANCELLED"},
            "FORBIDDEN",
        ),
        Case(
            "a voucher upload of the wrong type by a junior",
            "createPaymentUpload",
            org.junior,
            {"purpose": "VOUCHER", "contentType": "text/html", "sizeBytes": 10},
            "FORBIDDEN",
        ),
        Case(
            "a payment in an unknown currency by a junior",
            "recordPayment",
            org.junior,
            {
                "bankReference": unique("BR"),
                "payerName": "x",
                "amount": "1.00",
                "currency": "XXX",
                "paidAt": now.isoformat(),
            },
            "FORBIDDEN",
        ),
        Case(
            "a reversal without a reason by a junior",
            "reversePayment",
            org.junior,
            {"paymentId": global_id("Payment", unique("payment")), "kind": "REFUND", "reason": ""},
            "FORBIDDEN",
        ),
        Case(
            "a statement import of no statement by a junior",
            "importPayments",
            org.junior,
            {"statementKey": ""},
            "FORBIDDEN",
        ),
        Case(
            "a shipment delivered before it shipped, by a junior",
            "recordShipment",
            org.junior,
            {
                "orderId": s.order,
                "carrier": "EMS",
                "trackingNumber": "E1",
                "shippedAt": (now - timedelta(hours=1)).isoformat(),
                "deliveredAt": (now - timedelta(hours=2)).isoformat(),
            },
            "FORBIDDEN",
        ),
        Case(
            "a back-order promised years after the due date, by a junior",
            "recordBackOrder",
            org.junior,
            {"orderId": s.order, "promisedShipDate": "2099-12-31", "reason": ""},
            "FORBIDDEN",
        ),
        Case(
            "a commission run of month 13 by a junior",
            "runCommissions",
            org.junior,
            {"period": "2026-13"},
            "FORBIDDEN",
        ),
        Case(
            "locking month 13 by a junior",
            "lockCommissionPeriod",
            org.junior,
            {"period": "2026-13", "branchId": global_id("Branch", org.branch)},
            "FORBIDDEN",
        ),
        Case(
            "exporting month 13 by a junior",
            "exportCommissionPeriod",
            org.junior,
            {"period": "2026-13"},
            "FORBIDDEN",
        ),
    ]


async def test_every_mutation_authorises_before_it_validates(suite: Suite) -> None:
    staged = await stage(suite)
    wrong: list[str] = []
    for case in cases(staged):
        result = await suite.gql(mutation(case.name), {"input": case.values}, as_=case.as_)
        if result.codes != [case.expected]:
            message = result.errors[0]["message"] if result.errors else result.data
            wrong.append(f"{case.name} ({case.note}): {result.codes} {message}")
    assert not wrong, "\n".join(wrong)


async def test_the_reported_case_on_the_embedded_profile(embedded_suite: Suite) -> None:
    """The senior's source change, with SQLite and the policies in-process (regopy)."""
    suite = embedded_suite
    org = await make_org(suite)
    mates = (await register(suite, org.junior_mate))["id"]
    result = await suite.gql(
        mutation("updateCustomer"), {"input": {"id": mates, "source": "PERSONAL"}}, as_=org.senior
    )
    assert result.codes == ["FORBIDDEN"]
    # The same change with a reason is refused the same way; the owner's manager may make it.
    values = {"id": mates, "source": "PERSONAL", "reason": "met at a fair"}
    assert (
        await suite.gql(mutation("updateCustomer"), {"input": values}, as_=org.senior)
    ).codes == ["FORBIDDEN"]
    missing = await suite.gql(
        mutation("updateCustomer"), {"input": {"id": mates, "source": "PERSONAL"}}, as_=org.manager
    )
    assert missing.codes == ["VALIDATION"]  # authorised, then told what the input lacks
    (await suite.gql(mutation("updateCustomer"), {"input": values}, as_=org.manager)).ok()
