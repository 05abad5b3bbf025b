"""Fixtures: fake attendance and customers services on loopback, the gateway app in front."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.tests.gateway_fakes import (
    SECRET,
    FakeService,
    customer,
    employee,
    start_attendance,
    start_customers,
)
from salesguard.attendance.v1 import directory_pb2
from salesguard.grpc_client import ServiceChannels
from salesguard_gateway.app import create_app
from salesguard_gateway.settings import GatewaySettings


@pytest.fixture(scope="session")
async def attendance() -> AsyncIterator[FakeService]:
    service = await start_attendance()
    directory = service.servicers["directory"]
    directory.employees.update(
        {
            "E1": employee("E1", manager_id="E2"),
            "E2": employee("E2"),
            "GONE": employee("GONE", status=directory_pb2.EMPLOYEE_STATUS_LEFT),
            "BENCHED": employee("BENCHED", status=directory_pb2.EMPLOYEE_STATUS_SUSPENDED),
        }
    )
    yield service
    await service.server.stop(0)


@pytest.fixture(scope="session")
async def customers(attendance: FakeService) -> AsyncIterator[FakeService]:
    service = await start_customers()
    service.servicers["customers"].customers.update(
        {f"c{n}": customer(n, owner_id="E1" if n % 2 else "E2") for n in range(1, 61)}
    )
    yield service
    await service.server.stop(0)


@pytest.fixture
def calls(attendance: FakeService, customers: FakeService) -> Callable[[], list[str]]:
    """Methods the fake services served since the test started."""
    attendance.log.clear()
    customers.log.clear()
    return lambda: attendance.log.methods() + customers.log.methods()


def gateway_settings(tmp: Path, **overrides: Any) -> GatewaySettings:
    return GatewaySettings(
        **{
            "data_dir": tmp,
            "internal_secret": SECRET.decode(),
            "principal_cache_seconds": 0,
            **overrides,
        }
    )


GatewayFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_gateway(
    attendance: FakeService, customers: FakeService, tmp_path: Path
) -> AsyncIterator[GatewayFactory]:
    """A gateway client with the given setting overrides, wired to the fake services."""
    opened: list[tuple[httpx.AsyncClient, ServiceChannels]] = []

    async def make(**overrides: Any) -> httpx.AsyncClient:
        addresses = {
            "customers": customers.address,
            "attendance": attendance.address,
            "orders": "127.0.0.1:1",
            "commissions": "127.0.0.1:1",
            **overrides.pop("addresses", {}),
        }
        settings = gateway_settings(tmp_path, **overrides)
        channels = ServiceChannels(addresses, SECRET, timeout=5)
        app = create_app(settings, channels=channels)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        )
        opened.append((client, channels))
        return client

    yield make
    for client, channels in opened:
        await client.aclose()
        await channels.close()


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> httpx.AsyncClient:
    return await make_gateway()
