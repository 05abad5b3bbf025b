"""The attack suite's concurrency part: orders, approvals, payments and shipments (O1, O2, O4) and
field visits (A3), raced by 20 clients through the gateway, on both profiles.

Each test starts its own company, fires 20 requests at once with ``asyncio.gather`` and
then checks what the database says: one winner, typed refusals for the rest, and an audit
chain that verifies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.adversarial.concurrency.support import (
    CHECK_IN,
    CHECK_INS,
    CHECK_OUT,
    CLIENTS,
    DECIDE_ORDER,
    IMPORT_CALLS,
    IMPORT_PAYMENTS,
    ORDER,
    RECORD_PAYMENT,
    RECORD_SHIPMENT,
    REVERSE_PAYMENT,
    TRANSITION,
    approved_order,
    check_in,
    payment,
    race,
    refusals,
    submit_order,
    winners,
)
from tests.harness import Suite, employee_id, unique
from tests.org import Org, new_phone, register
from tests.photos import upload_payment_file

# -- orders (O1, O2, O4) ---------------------------------------------------------------------


async def test_one_approval_step_is_decided_once(racing: Suite, org: Org) -> None:
    customer = await register(racing, org.junior)
    order_id = await submit_order(racing, org.junior, customer["id"])
    results = await race(
        [
            racing.gql(
                DECIDE_ORDER,
                {"input": {"orderId": order_id, "approve": n % 2 == 0}},
                as_=(org.manager, org.manager_2)[n % 2],
            )
            for n in range(CLIENTS)
        ]
    )
    (won,) = winners(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}
    order = (await racing.gql(ORDER, {"id": order_id}, as_=org.manager)).ok()["order"]
    assert order["status"] == won.data["decideOrder"]["order"]["status"]
    assert [step["status"] for step in order["approvalSteps"]] == [order["status"]]


async def test_order_transitions_raced_follow_the_status_machine(racing: Suite, org: Org) -> None:
    order_id = await approved_order(racing, org)
    targets = ("FULFILLED", "CANCELLED", "CLOSED")
    results = await race(
        [
            racing.gql(
                TRANSITION,
                {"input": {"orderId": order_id, "to": targets[n % 3], "reason": "race"}},
                as_=org.manager,
            )
            for n in range(CLIENTS)
        ]
    )
    moved = [result.data["transitionOrder"]["order"]["status"] for result in winners(results)]
    assert set(refusals(results)) <= {"FAILED_PRECONDITION"}
    # APPROVED → FULFILLED → CLOSED, or APPROVED → CANCELLED: each move once. (The results
    # come in the order the requests were sent, not the order they won in.)
    chains = {
        "CANCELLED": ["CANCELLED"],
        "FULFILLED": ["FULFILLED"],
        "CLOSED": ["FULFILLED", "CLOSED"],
    }
    final = "CLOSED" if "CLOSED" in moved else moved[0]
    assert sorted(moved) == sorted(chains[final]), moved
    order = (await racing.gql(ORDER, {"id": order_id}, as_=org.manager)).ok()["order"]
    assert order["status"] == final


async def test_one_bank_reference_is_one_payment(racing: Suite, org: Org) -> None:
    values = payment()
    results = await race(
        [racing.gql(RECORD_PAYMENT, {"input": values}, as_=org.finance) for _ in range(CLIENTS)]
    )
    recorded = [result.ok()["recordPayment"] for result in results]
    assert len({entry["payment"]["id"] for entry in recorded}) == 1
    assert [entry["duplicate"] for entry in recorded].count(False) == 1


async def test_one_voucher_backs_one_payment(racing: Suite, org: Org) -> None:
    voucher = b"\xff\xd8\xff\xe0voucher" + unique("v").encode()
    key = await upload_payment_file(racing, org.finance, "VOUCHER", "image/jpeg", voucher)
    results = await race(
        [
            racing.gql(RECORD_PAYMENT, {"input": payment(voucherKey=key)}, as_=org.finance)
            for _ in range(CLIENTS)
        ]
    )
    assert len(winners(results)) == 1, refusals(results)
    assert refusals(results) == {"VALIDATION": CLIENTS - 1}


async def test_a_payment_is_reversed_once(racing: Suite, org: Org) -> None:
    recorded = (await racing.gql(RECORD_PAYMENT, {"input": payment()}, as_=org.finance)).ok()
    payment_id = recorded["recordPayment"]["payment"]["id"]
    results = await race(
        [
            racing.gql(
                REVERSE_PAYMENT,
                {
                    "input": {
                        "paymentId": payment_id,
                        "kind": ("REFUND", "CHARGEBACK")[n % 2],
                        "reason": f"race {n}",
                    }
                },
                as_=org.finance,
            )
            for n in range(CLIENTS)
        ]
    )
    assert len(winners(results)) == 1, refusals(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}


async def test_overlapping_statements_imported_at_once_record_each_line_once(
    racing: Suite, org: Org
) -> None:
    paid_at = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    references = [unique("STMT") for _ in range(30)]
    header = "bank_reference,paid_at,amount,currency,payer_name,payer_account,reference_text\n"
    keys = []
    for n in range(CLIENTS // 4):
        # Each statement holds most lines, in its own order: the imports overlap crosswise.
        mine = references[n:] if n % 2 else list(reversed(references))[n:]
        text = header + "".join(f"{ref},{paid_at},10.00,CNY,Payer,,stmt\n" for ref in mine)
        keys.append(
            await upload_payment_file(racing, org.finance, "STATEMENT", "text/csv", text.encode())
        )
    results = await race(
        [
            racing.gql(
                IMPORT_PAYMENTS, {"input": {"statementKey": keys[n % len(keys)]}}, as_=org.finance
            )
            for n in range(CLIENTS)
        ]
    )
    by_key: dict[str, list[dict[str, Any]]] = {}
    for n, result in enumerate(results):
        by_key.setdefault(keys[n % len(keys)], []).append(result.ok()["importPayments"])
    for answers in by_key.values():
        assert all(answer == answers[0] for answer in answers), answers
        assert answers[0]["applied"]
    assert sum(answers[0]["accepted"] for answers in by_key.values()) == len(references)


async def test_one_parcel_is_one_shipment(racing: Suite, org: Org) -> None:
    order_id = await approved_order(racing, org)
    values = {
        "orderId": order_id,
        "carrier": "SF Express",
        "trackingNumber": unique("SF"),
        "shippedAt": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    results = await race(
        [racing.gql(RECORD_SHIPMENT, {"input": values}, as_=org.manager) for _ in range(CLIENTS)]
    )
    ids = {result.ok()["recordShipment"]["shipment"]["id"] for result in results}
    assert len(ids) == 1


# -- field visits (A3) --------------------------------------------------------------------------


async def test_check_ins_raced_from_a_new_device_are_all_stored_one_flagged(
    racing: Suite, org: Org
) -> None:
    (await racing.gql(CHECK_IN, {"input": check_in()}, as_=org.junior)).ok()
    results = await race(
        [
            racing.gql(
                CHECK_IN,
                {
                    "input": check_in(
                        deviceId="phone-2",
                        at=(datetime.now(UTC) - timedelta(minutes=n)).isoformat(),
                    )
                },
                as_=org.junior,
            )
            for n in range(CLIENTS)
        ]
    )
    assert len(winners(results)) == CLIENTS, refusals(results)
    flagged = [
        result
        for result in results
        if "NEW_DEVICE" in {r["code"] for r in result.data["checkIn"]["checkIn"]["reasons"]}
    ]
    assert len(flagged) == 1
    stored = await racing.gql(
        CHECK_INS, {"filter": {"employeeId": employee_id(org.junior)}}, as_=org.manager
    )
    assert stored.ok()["checkIns"]["totalCount"] == CLIENTS + 1


async def test_a_check_out_is_recorded_once(racing: Suite, org: Org) -> None:
    done = (await racing.gql(CHECK_IN, {"input": check_in()}, as_=org.junior)).ok()
    check_in_id = done["checkIn"]["checkIn"]["id"]
    results = await race(
        [
            racing.gql(CHECK_OUT, {"input": {"checkInId": check_in_id}}, as_=org.junior)
            for _ in range(CLIENTS)
        ]
    )
    assert len(winners(results)) == 1, refusals(results)
    assert refusals(results) == {"FAILED_PRECONDITION": CLIENTS - 1}


async def test_overlapping_call_log_imports_record_each_call_once(racing: Suite, org: Org) -> None:
    start = datetime.now(UTC) - timedelta(days=1)
    calls = [
        {
            "employeeId": employee_id(org.junior),
            "number": new_phone(),
            "direction": "OUTGOING",
            "startedAt": (start + timedelta(minutes=n)).isoformat(),
            "durationSeconds": 60,
        }
        for n in range(60)
    ]
    # Half of them in the opposite order: the same rows inserted crosswise.
    results = await race(
        [
            racing.gql(
                IMPORT_CALLS,
                {"input": {"entries": calls if n % 2 else calls[::-1]}},
                as_=org.hr,
            )
            for n in range(CLIENTS)
        ]
    )
    imported = [result.ok()["importCallLogs"] for result in results]
    assert all(answer["accepted"] + answer["duplicates"] == len(calls) for answer in imported)
    assert sum(answer["accepted"] for answer in imported) == len(calls)
