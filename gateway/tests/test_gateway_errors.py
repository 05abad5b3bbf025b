"""G2: typed errors, and a failing service fails only the fields that need it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from gateway.tests.conftest import GatewayFactory
from gateway.tests.gateway_fakes import FakeService, codes, gql
from salesguard.customers.v1 import customers_pb2
from salesguard.errors import ErrorCode, InvalidInput, ServiceError


@pytest.fixture
def fake_customers(customers: FakeService) -> Iterator[object]:
    fake = customers.servicers["customers"]
    yield fake
    fake.get_error = None


async def test_not_found(gateway: httpx.AsyncClient) -> None:
    status, body = await gql(gateway, '{ customer(id: "nope") { id } }')
    assert status == 200
    assert body["data"] == {"customer": None}
    assert codes(body) == ["NOT_FOUND"]
    assert body["errors"][0]["path"] == ["customer"]


async def test_duplicate_customer_carries_code_and_owner(
    gateway: httpx.AsyncClient, fake_customers: object
) -> None:
    fake_customers.get_error = ServiceError(  # type: ignore[attr-defined]
        "this customer is already registered as C-000001",
        code=ErrorCode.DUPLICATE_CUSTOMER,
        details={"existing_code": "C-000001", "owner": "Z** W**"},
    )
    _status, body = await gql(gateway, '{ customer(id: "c1") { id } }')
    error = body["errors"][0]
    assert error["message"] == "this customer is already registered as C-000001"
    assert error["extensions"] == {
        "code": "DUPLICATE_CUSTOMER",
        "existingCode": "C-000001",
        "owner": "Z** W**",
    }


async def test_validation_names_the_field(
    gateway: httpx.AsyncClient, fake_customers: object
) -> None:
    fake_customers.get_error = InvalidInput("phone", "phone is not a valid number")  # type: ignore[attr-defined]
    _status, body = await gql(gateway, '{ customer(id: "c1") { id } }')
    assert body["errors"][0]["extensions"] == {"code": "VALIDATION", "field": "phone"}


async def test_a_failing_service_fails_only_its_fields(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(addresses={"customers": "127.0.0.1:1"})
    status, body = await gql(gateway, "{ me { id } customers(first: 2) { totalCount } }")
    assert status == 200
    assert body["data"] == {"me": {"id": "E1"}, "customers": None}
    assert codes(body) == ["UNAVAILABLE"]
    assert body["errors"][0]["path"] == ["customers"]


async def test_unexpected_errors_are_masked_and_logged(
    gateway: httpx.AsyncClient,
    customers: FakeService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = customers.servicers["customers"]
    broken = customers_pb2.Customer(id="broken", code="C-999999", name="Broken")
    broken.registered_at.seconds = 10**12  # beyond year 9999: conversion raises
    fake.customers["broken"] = broken
    try:
        with caplog.at_level(logging.ERROR, logger="salesguard_gateway"):
            status, body = await gql(gateway, '{ customer(id: "broken") { id } }')
    finally:
        del fake.customers["broken"]
    assert status == 200
    assert body["data"] == {"customer": None}
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL"}
    assert "Traceback" not in str(body) and "Overflow" not in str(body)
    assert any(record.exc_info for record in caplog.records)
