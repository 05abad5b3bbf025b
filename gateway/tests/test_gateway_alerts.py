"""G4: alerts from every service in one connection, newest first, in the caller's language."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.tests.gateway_fakes import FakeService, alert, codes, gql
from salesguard.errors import Unavailable

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
PAGE = """query($after: String) {
  alerts(first: 3, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id source kind rule severity status title message
                          detectedAt evidence employee { id } customer { id } } }
  }
}"""


@pytest.fixture
def alerts(attendance: FakeService, customers: FakeService) -> Iterator[dict[str, Any]]:
    fakes = {
        "attendance": attendance.servicers["alerts"],
        "customers": customers.servicers["alerts"],
    }
    # Interleaved in time: customers at odd hours, attendance at even ones.
    fakes["customers"].alerts = [
        alert(f"cu{hour}", T0 + timedelta(hours=hour), source="customers") for hour in (1, 3, 5, 7)
    ]
    fakes["attendance"].alerts = [
        alert(f"at{hour}", T0 + timedelta(hours=hour), source="attendance") for hour in (2, 4, 6)
    ]
    yield fakes
    for fake in fakes.values():
        fake.alerts = []
        fake.failure = None


async def test_pages_merge_newest_first(gateway: httpx.AsyncClient, alerts: object) -> None:
    seen: list[str] = []
    after = None
    for _ in range(5):
        status, body = await gql(gateway, PAGE, {"after": after})
        assert status == 200 and "errors" not in body, body
        connection = body["data"]["alerts"]
        assert connection["totalCount"] == 7
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == ["cu7", "at6", "cu5", "at4", "cu3", "at2", "cu1"]


async def test_edge_cursors_resume_right_after_their_node(
    gateway: httpx.AsyncClient, alerts: object
) -> None:
    _, body = await gql(gateway, PAGE, {"after": None})
    second = body["data"]["alerts"]["edges"][1]
    _, body = await gql(gateway, PAGE, {"after": second["cursor"]})
    assert [edge["node"]["id"] for edge in body["data"]["alerts"]["edges"]] == ["cu5", "at4", "cu3"]


async def test_alert_fields_and_language(gateway: httpx.AsyncClient, alerts: object) -> None:
    _, english = await gql(gateway, PAGE, {"after": None})
    node = english["data"]["alerts"]["edges"][0]["node"]
    assert node["source"] == "customers"
    assert node["severity"] == "MEDIUM" and node["status"] == "OPEN" and node["rule"] == "C2"
    assert node["title"] == "Late customer registration"
    assert node["message"] == (
        "Customer C-000001 was registered 30 h after first contact (limit 24 h)."
    )
    assert node["evidence"] == {"customer_code": "C-000001", "hours_late": 30, "limit_hours": 24}
    assert node["detectedAt"] == "2025-03-01T15:00:00+00:00"
    assert node["employee"] == {"id": "E1"} and node["customer"] == {"id": "c1"}

    _, chinese = await gql(
        gateway, PAGE, {"after": None}, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
    )
    node = chinese["data"]["alerts"]["edges"][0]["node"]
    assert node["title"] == "客户登记超时"
    assert node["message"] == "客户 C-000001 在首次接触 30 小时后才登记（上限 24 小时）。"


async def test_a_failing_source_costs_only_its_alerts(
    gateway: httpx.AsyncClient, alerts: dict[str, Any]
) -> None:
    alerts["attendance"].failure = Unavailable("attendance is restarting")
    status, body = await gql(gateway, PAGE, {"after": None})
    assert status == 200
    connection = body["data"]["alerts"]
    assert [edge["node"]["id"] for edge in connection["edges"]] == ["cu7", "cu5", "cu3"]
    assert connection["totalCount"] == 4
    assert codes(body) == ["UNAVAILABLE"]
    error = body["errors"][0]
    assert error["path"] == ["alerts"]
    assert error["extensions"]["source"] == "attendance"
    assert "attendance" in error["message"]


async def test_a_malformed_cursor_is_validation(gateway: httpx.AsyncClient) -> None:
    _, body = await gql(gateway, PAGE, {"after": "not-a-cursor"})
    assert codes(body) == ["VALIDATION"]
    assert body["errors"][0]["extensions"]["field"] == "after"
