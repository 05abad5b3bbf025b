"""G3's page size is one setting of every process (salesguard.settings.Settings).

Raised for the whole suite, a larger page goes through the gateway and the service that
serves it; a page over the limit is refused with a VALIDATION error naming the field, by
the gateway (``first``) and by a service asked directly (``page.page_size``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_api.common.v1 import common_pb2
from tests.harness import Backends, Suite, employee_id
from tests.org import Org, make_org

RAISED = 150  # above the default of 100
CALLS = 130  # more than the default allows on one page, fewer than the raised limit

CALL_LOGS = """query($first: Int) {
  callLogs(first: $first) { totalCount edges { node { id } } pageInfo { hasNextPage } } }"""
IMPORT_CALLS = """mutation($input: ImportCallLogsInput!) {
  importCallLogs(input: $input) { accepted } }"""


@pytest.fixture(scope="module")
async def raised(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Suite]:
    suite = await Suite.start(
        Backends(),
        tmp_path_factory.mktemp("raised-page-size"),
        overrides={"max_page_size": RAISED},
    )
    yield suite
    await suite.stop()


@pytest.fixture(scope="module")
async def org(raised: Suite) -> Org:
    org = await make_org(raised)
    started = datetime.now(UTC) - timedelta(days=1)
    entries = [
        {
            "employeeId": employee_id(org.junior),
            "number": f"+86 139 5555 {number:04d}",
            "direction": "OUTGOING",
            "startedAt": (started + timedelta(minutes=number)).isoformat(),
            "durationSeconds": 60 + number,
        }
        for number in range(CALLS)
    ]
    imported = await raised.gql(IMPORT_CALLS, {"input": {"entries": entries}}, as_=org.hr)
    assert imported.ok()["importCallLogs"]["accepted"] == CALLS
    return org


async def test_a_raised_page_size_is_served_end_to_end(raised: Suite, org: Org) -> None:
    data = (await raised.gql(CALL_LOGS, {"first": RAISED}, as_=org.hr)).ok()["callLogs"]
    assert data["totalCount"] == CALLS
    assert len(data["edges"]) == CALLS
    assert data["pageInfo"]["hasNextPage"] is False


async def test_a_page_at_the_raised_limit_is_fine(raised: Suite, org: Org) -> None:
    data = (await raised.gql(CALL_LOGS, {"first": CALLS - 10}, as_=org.hr)).ok()["callLogs"]
    assert len(data["edges"]) == CALLS - 10
    assert data["pageInfo"]["hasNextPage"] is True


async def test_the_gateway_refuses_a_page_over_the_raised_limit(raised: Suite, org: Org) -> None:
    result = await raised.gql(CALL_LOGS, {"first": RAISED + 1}, as_=org.hr)
    assert result.codes == ["VALIDATION"]
    assert result.errors[0]["extensions"]["field"] == "first"
    assert f"between 1 and {RAISED}" in result.errors[0]["message"]


async def test_a_service_refuses_a_page_over_the_raised_limit(raised: Suite, org: Org) -> None:
    attendance = raised.running["attendance"]
    channels = ServiceChannels(
        {"attendance": attendance.address}, attendance.runtime.internal_secret, 10
    )
    directory = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
    hr = Principal(org.hr, ("HR",), None, org.hq, hq=True)

    def listing(size: int) -> directory_pb2.ListEmployeesRequest:
        return directory_pb2.ListEmployeesRequest(page=common_pb2.PageRequest(page_size=size))

    try:
        with acting_as(hr):
            assert (await directory.ListEmployees(listing(RAISED))).employees
            with pytest.raises(ServiceError) as refused:
                await directory.ListEmployees(listing(RAISED + 1))
    finally:
        await channels.close()
    assert refused.value.code is ErrorCode.VALIDATION, refused.value
    assert refused.value.field == "page.page_size", refused.value
