"""Rules C2, C3, C8, C9 and C10 as users notice them, on PostgreSQL, OPA and S3."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import salesguard_gateway
from salesguard.csvsafe import read_rows
from tests.harness import Suite, employee_id, global_id, service_id, unique
from tests.org import make_org, new_phone, register, register_result
from tests.support.exports import download as download_export

PERSISTED_OPERATIONS = Path(salesguard_gateway.__file__).parent / "persisted_operations.json"
ALERTS = """
query($filter: AlertFilter) {
  alerts(first: 100, filter: $filter) {
    totalCount
    edges { node { kind rule severity status title message evidence employee { id } customer { id code } } }
  }
}
"""


async def alerts_of(suite: Suite, as_: str, kind: str, **filter_: Any) -> list[dict[str, Any]]:
    data = (await suite.gql(ALERTS, {"filter": {"kinds": [kind], **filter_}}, as_=as_)).ok()
    return [edge["node"] for edge in data["alerts"]["edges"]]


def raw_database_url(suite: Suite, service: str) -> str:
    url = suite.running[service].runtime.settings.database_url
    return str(url).replace("postgresql+asyncpg://", "postgresql://")


# -- C3 duplicates ---------------------------------------------------------------


async def test_one_phone_written_two_ways_is_one_customer(suite: Suite) -> None:
    org = await make_org(suite)
    digits = new_phone().replace(" ", "").removeprefix("+86")
    first = await register(suite, org.junior, phone=f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}")
    second = await register_result(suite, org.junior_b, phone=digits, name=unique("Another name"))
    assert second.codes == ["DUPLICATE_CUSTOMER"]
    extensions = second.errors[0]["extensions"]
    assert extensions["existingCode"] == first["code"]
    assert extensions["owner"] == "李*"  # the junior's name, masked
    assert not second.data.get("registerCustomer")
    matches = (
        await suite.gql(
            "query($t: String) { customers(first: 10, filter: {text: $t}) { totalCount } }",
            {"t": digits},
            as_=org.manager,
        )
    ).ok()
    assert matches["customers"]["totalCount"] == 1
    claims = await alerts_of(
        suite, org.manager, "DUPLICATE_CUSTOMER_CLAIM", employeeId=employee_id(org.junior_b)
    )
    assert len(claims) == 1
    assert claims[0]["evidence"]["existing_code"] == first["code"]
    assert claims[0]["evidence"]["matched_on"] == "phone"


@pytest.mark.parametrize("variant", ["email", "name+company"])
async def test_email_case_and_name_company_also_find_the_duplicate(
    suite: Suite, variant: str
) -> None:
    org = await make_org(suite)
    name, email = unique("Zhang Wei"), f"{unique('buyer')}@Example.com"
    first = await register(suite, org.junior, name=name, email=email, company="Acme Trading")
    if variant == "email":
        again = await register_result(suite, org.senior, email=email.upper(), name=unique("x"))
    else:
        again = await register_result(suite, org.senior, name=name.upper(), company="ACME  trading")
    assert again.codes == ["DUPLICATE_CUSTOMER"]
    assert again.errors[0]["extensions"]["existingCode"] == first["code"]


# -- C2 late registration ------------------------------------------------------------


async def test_registration_after_24_hours_raises_late_registration(suite: Suite) -> None:
    org = await make_org(suite)
    late = await register_result(suite, org.junior, hours_since_contact=25)
    on_time = await register_result(suite, org.junior, hours_since_contact=23)
    assert late.ok()["registerCustomer"]["warnings"] == ["LATE_REGISTRATION"]
    assert on_time.ok()["registerCustomer"]["warnings"] == []
    raised = await alerts_of(suite, org.hr, "LATE_REGISTRATION", employeeId=employee_id(org.junior))
    assert [a["customer"]["id"] for a in raised] == [
        late.data["registerCustomer"]["customer"]["id"]
    ]
    assert raised[0]["rule"] == "C2"
    assert "25" in raised[0]["message"]


async def test_alert_texts_follow_accept_language(suite: Suite) -> None:
    org = await make_org(suite)
    await register(suite, org.junior, hours_since_contact=30)
    query = "{ alerts(first: 5, filter: {kinds: [LATE_REGISTRATION]}) { edges { node { title message } } } }"
    english = (await suite.gql(query, as_=org.manager, headers={"Accept-Language": "en-US"})).ok()
    chinese = (
        await suite.gql(query, as_=org.manager, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    ).ok()
    assert english["alerts"]["edges"][0]["node"]["title"] == "Late customer registration"
    assert chinese["alerts"]["edges"][0]["node"]["title"] == "客户登记超时"


# -- C8 bulk contact access ----------------------------------------------------------


async def test_bulk_contact_access_fires_at_exactly_ten_customers(suite: Suite) -> None:
    org = await make_org(suite)
    customers = [await register(suite, org.junior) for _ in range(10)]
    read = "query($id: ID!) { customer(id: $id) { phone } }"
    for customer in customers[:9]:
        assert (await suite.gql(read, {"id": customer["id"]}, as_=org.manager)).ok()["customer"][
            "phone"
        ]
    assert (
        await alerts_of(suite, org.hr, "BULK_CONTACT_ACCESS", employeeId=employee_id(org.manager))
        == []
    )
    # Reading one of the nine again is not a tenth customer.
    await suite.gql(read, {"id": customers[0]["id"]}, as_=org.manager)
    assert (
        await alerts_of(suite, org.hr, "BULK_CONTACT_ACCESS", employeeId=employee_id(org.manager))
        == []
    )
    await suite.gql(read, {"id": customers[9]["id"]}, as_=org.manager)
    raised = await alerts_of(
        suite, org.hr, "BULK_CONTACT_ACCESS", employeeId=employee_id(org.manager)
    )
    assert len(raised) == 1
    assert raised[0]["evidence"]["customer_count"] == 10
    # Masked reads (HR) are not contact reads and count for nothing.
    for customer in customers:
        await suite.gql(read, {"id": customer["id"]}, as_=org.hr)
    assert (
        await alerts_of(suite, org.hr, "BULK_CONTACT_ACCESS", employeeId=employee_id(org.hr)) == []
    )


def field_app_operation(name: str) -> str:
    """The text of one of the field app's registered operations, as the gateway ships it."""
    manifest = json.loads(PERSISTED_OPERATIONS.read_text(encoding="utf-8"))
    return next(str(op["body"]) for op in manifest["operations"] if op["name"] == name)


async def test_the_field_app_s_list_reads_no_contacts_and_each_tap_reads_one(
    suite: Suite,
) -> None:
    """A rep with a book of twelve opens the field app's customer list as often as they
    like without a contact read; reading their contacts one tap at a time, the tenth
    customer within the hour raises BULK_CONTACT_ACCESS (the leaver's evening), on them
    alone."""
    org = await make_org(suite)
    book = [await register(suite, org.junior) for _ in range(12)]
    await register(suite, org.junior_mate)
    listing, contact = (
        field_app_operation(name) for name in ("FieldMyCustomers", "FieldCustomerContact")
    )
    for rep in (org.junior, org.junior_mate):
        for _ in range(3):
            edges = (await suite.gql(listing, {"first": 20}, as_=rep)).ok()["customers"]["edges"]
            assert edges and all("phone" not in e["node"] for e in edges)
    assert (
        await alerts_of(
            suite, org.hr, "BULK_CONTACT_ACCESS", branchId=global_id("Branch", org.branch)
        )
        == []
    )
    for customer in book[:9]:
        shown = (await suite.gql(contact, {"id": customer["id"]}, as_=org.junior)).ok()
        assert shown["customer"]["phone"] and shown["customer"]["maskedFields"] == []
    assert (
        await alerts_of(suite, org.hr, "BULK_CONTACT_ACCESS", employeeId=employee_id(org.junior))
        == []
    )
    await suite.gql(contact, {"id": book[9]["id"]}, as_=org.junior)
    raised = await alerts_of(
        suite, org.hr, "BULK_CONTACT_ACCESS", branchId=global_id("Branch", org.branch)
    )
    assert [(a["employee"]["id"], a["evidence"]["customer_count"]) for a in raised] == [
        (employee_id(org.junior), 10)
    ]


# -- C9 exports ------------------------------------------------------------------------

REQUEST_EXPORT = """
mutation($input: RequestCustomerExportInput!) {
  requestCustomerExport(input: $input) { exportRequest { id status customerCount } }
}
"""
DECIDE = """
mutation($input: DecideExportRequestInput!) { decideExportRequest(input: $input) { exportRequest { id status } } }
"""
RUN = """
mutation($id: ID!) {
  runCustomerExport(input: {id: $id}) { exportRequest { status rowCount sha256 } downloadUrl downloadUrlExpiresAt }
}
"""


async def test_export_needs_another_managers_approval_and_downloads_a_verified_csv(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    customers = [await register(suite, org.junior), await register(suite, org.senior)]
    request = (
        await suite.gql(
            REQUEST_EXPORT,
            {"input": {"customerIds": [c["id"] for c in customers], "reason": "quarterly review"}},
            as_=org.manager,
        )
    ).ok()["requestCustomerExport"]["exportRequest"]
    assert request["status"] == "PENDING"
    assert request["customerCount"] == 2

    # Without approval: refused, and the attempt raises an alert.
    early = await suite.gql(RUN, {"id": request["id"]}, as_=org.manager)
    assert early.codes == ["EXPORT_WITHOUT_APPROVAL"]
    assert (
        len(
            await alerts_of(
                suite, org.hr, "EXPORT_WITHOUT_APPROVAL", employeeId=employee_id(org.manager)
            )
        )
        == 1
    )

    # Nobody approves their own request.
    own = await suite.gql(
        DECIDE, {"input": {"id": request["id"], "approve": True}}, as_=org.manager
    )
    assert own.codes == ["FORBIDDEN"]

    approved = await suite.gql(
        DECIDE,
        {"input": {"id": request["id"], "approve": True, "comment": "ok"}},
        as_=org.manager_2,
    )
    assert approved.ok()["decideExportRequest"]["exportRequest"]["status"] == "APPROVED"

    ran = (await suite.gql(RUN, {"id": request["id"]}, as_=org.manager)).ok()["runCustomerExport"]
    assert ran["exportRequest"]["status"] == "COMPLETED"
    assert ran["exportRequest"]["rowCount"] == 2
    # Downloaded once, by the requester, with their own bearer token
    # (tests/adversarial/test_export_download_once.py attacks the rest).
    download = await download_export(suite, ran["downloadUrl"], as_=org.manager)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == ran["exportRequest"]["sha256"]
    text = download.content.decode()
    header, *rows = read_rows(io.StringIO(text, newline=""))
    records = [dict(zip(header, row, strict=True)) for row in rows]
    assert sorted(r["code"] for r in records) == sorted(c["code"] for c in customers)
    # E.164 phones come back whole through the CSV convention (salesguard.csvsafe).
    assert {r["phone"] for r in records} == {c["phone"] for c in customers}
    assert (await download_export(suite, ran["downloadUrl"], as_=org.manager)).status_code == 410

    # The URL is handed out once.
    again = await suite.gql(RUN, {"id": request["id"]}, as_=org.manager)
    assert again.codes == ["FAILED_PRECONDITION"]


async def test_export_of_another_branch_cannot_be_approved_by_this_branch(suite: Suite) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    request = (
        await suite.gql(
            REQUEST_EXPORT,
            {"input": {"customerIds": [customer["id"]], "reason": "audit"}},
            as_=org.manager,
        )
    ).ok()["requestCustomerExport"]["exportRequest"]
    refused = await suite.gql(
        DECIDE, {"input": {"id": request["id"], "approve": True}}, as_=org.other_manager
    )
    assert refused.codes in (["FORBIDDEN"], ["NOT_FOUND"])


# -- C10 encryption at rest -------------------------------------------------------------


async def test_no_table_holds_a_plaintext_phone_or_email(suite: Suite) -> None:
    org = await make_org(suite)
    phone = new_phone()
    email = f"{unique('secret')}@example.com"
    customer = await register(
        suite, org.junior, phone=phone, email=email, idempotencyKey=unique("key")
    )
    # Read and update it too, so the audit trail, contact reads and idempotency rows exist.
    await suite.gql(
        "query($id: ID!) { customer(id: $id) { phone email } }",
        {"id": customer["id"]},
        as_=org.manager,
    )
    national = phone.replace(" ", "").removeprefix("+86")
    connection = await asyncpg.connect(raw_database_url(suite, "customers"))
    try:
        tables = [
            r["tablename"]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        assert "customers" in tables
        for table in tables:
            dump = "\n".join(
                r[0] for r in await connection.fetch(f'SELECT t::text FROM "{table}" t')
            )
            assert national not in dump, f"plaintext phone in {table}"
            assert email.lower() not in dump.lower(), f"plaintext email in {table}"
        row = await connection.fetchrow(
            "SELECT phone_cipher, email_cipher FROM customers WHERE id = $1",
            service_id(customer["id"]),
        )
        assert row is not None
        assert row["phone_cipher"]
        assert row["email_cipher"]
    finally:
        await connection.close()


# -- C7 audit trail ---------------------------------------------------------------------


async def test_changing_one_audit_row_in_the_database_is_reported_by_verify(
    full_suite_factory: Any,
) -> None:
    suite: Suite = await full_suite_factory()  # its own databases: this test breaks the chain
    org = await make_org(suite)
    for _ in range(3):
        await register(suite, org.junior)
    verify = "{ verifyAuditChain { intact checkedCount firstBrokenSeq firstBrokenId problem } }"
    before = (await suite.gql(verify, as_=org.hr)).ok()["verifyAuditChain"]
    assert before["intact"] is True
    assert before["checkedCount"] == 3

    connection = await asyncpg.connect(raw_database_url(suite, "customers"))
    try:
        # The table itself refuses changes ...
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await connection.execute("UPDATE audit_events SET reason = 'edited' WHERE seq = 2")
        # ... so someone with the database owner's rights switches that off first.
        target = await connection.fetchval("SELECT id FROM audit_events WHERE seq = 2")
        await connection.execute(
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"
        )
        await connection.execute("UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 2")
        await connection.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
    finally:
        await connection.close()

    after = (await suite.gql(verify, as_=org.hr)).ok()["verifyAuditChain"]
    assert after["intact"] is False
    assert after["firstBrokenSeq"] == 2
    assert after["firstBrokenId"] == global_id("AuditEvent", target)
    # Reps cannot run the verification at all.
    assert (await suite.gql(verify, as_=org.junior)).codes == ["FORBIDDEN"]
