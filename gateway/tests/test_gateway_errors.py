"""G2: typed errors, and a failing service fails only the fields that need it."""

from __future__ import annotations

import logging

import pytest

from gateway.tests.conftest import StartSuite
from salesguard_api.customers.v1 import customers_pb2
from salesguard_gateway.schema import customers as customers_schema
from tests.harness import GraphQLResult, Suite, employee_id, global_id
from tests.org import Org, make_org, new_phone, register, register_result


def only_field_failed(result: GraphQLResult, field: str, code: str) -> None:
    """The request succeeded; its one field is null, with one error of ``code`` at it."""
    assert result.status == 200
    assert result.data == {field: None}
    assert result.codes == [code]
    assert result.errors[0]["path"] == [field]


async def test_not_found(suite: Suite, org: Org) -> None:
    result = await suite.gql(
        "query($id: ID!) { customer(id: $id) { id } }",
        {"id": global_id("Customer", "nope")},
        as_=org.manager,
    )
    only_field_failed(result, "customer", "NOT_FOUND")


async def test_a_customer_out_of_scope_reads_as_not_found(suite: Suite, org: Org) -> None:
    theirs = await register(suite, org.junior_b)
    result = await suite.gql(
        "query($id: ID!) { customer(id: $id) { id name } }", {"id": theirs["id"]}, as_=org.junior
    )
    assert result.codes == ["NOT_FOUND"]
    assert theirs["name"] not in str(result.body)


async def test_forbidden(suite: Suite, org: Org) -> None:
    result = await suite.gql(
        'mutation { upsertBranch(input: {name: "Rogue", timeZone: "Asia/Shanghai"}) { branch { id } } }',
        as_=org.junior,
    )
    only_field_failed(result, "upsertBranch", "FORBIDDEN")


async def test_duplicate_customer_carries_code_and_owner(suite: Suite, org: Org) -> None:
    phone = new_phone()
    existing = await register(suite, org.junior, phone=phone)
    # The teammate types the same number another way.
    result = await register_result(suite, org.junior_mate, phone=phone.replace(" ", ""))
    assert result.data == {"registerCustomer": None}
    error = result.errors[0]
    assert error["message"] == (
        f"customer {existing['code']} is already registered (matched on phone); owner 李*"
    )
    assert error["extensions"] == {
        "code": "DUPLICATE_CUSTOMER",
        "existingCode": existing["code"],
        "owner": "李*",
        "matchedOn": "phone",
    }


async def test_validation_names_the_field(suite: Suite, org: Org) -> None:
    result = await register_result(suite, org.junior, phone="call me maybe")
    assert result.data == {"registerCustomer": None}
    assert result.errors[0]["extensions"] == {"code": "VALIDATION", "field": "phone"}


async def test_a_failing_service_fails_only_its_fields(start_suite: StartSuite) -> None:
    suite = await start_suite()
    org = await make_org(suite)
    await register(suite, org.junior)
    await suite.running["customers"].stop()
    result = await suite.gql("{ me { id } customers(first: 2) { totalCount } }", as_=org.manager)
    assert result.status == 200
    assert result.data == {"me": {"id": employee_id(org.manager)}, "customers": None}
    assert result.codes == ["UNAVAILABLE"]
    assert result.errors[0]["path"] == ["customers"]


async def test_unexpected_errors_are_masked_and_logged(
    suite: Suite, org: Org, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    customer = await register(suite, org.junior)

    # No real service sends what the gateway cannot convert, so the gateway's own
    # conversion is made to fail as it did once on a timestamp beyond year 9999.
    def overflowing(message: customers_pb2.Customer) -> customers_schema.Customer:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(customers_schema, "customer_from_proto", overflowing)
    with caplog.at_level(logging.ERROR, logger="salesguard_gateway"):
        result = await suite.gql(
            "query($id: ID!) { customer(id: $id) { id } }", {"id": customer["id"]}, as_=org.junior
        )
    assert result.status == 200
    assert result.data == {"customer": None}
    assert result.errors[0]["extensions"] == {"code": "INTERNAL"}
    assert "Traceback" not in str(result.body) and "Overflow" not in str(result.body)
    assert any(record.exc_info for record in caplog.records)
