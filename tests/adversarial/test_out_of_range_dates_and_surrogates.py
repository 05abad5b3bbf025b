"""Out-of-range dates and lone surrogates are the client's mistake.

Each gets ``VALIDATION`` naming the field, never ``INTERNAL``: at the gateway (the
``DateTime``/``Date`` scalars, inline or as variables; strings with an unpaired
surrogate) and at the services for gRPC callers, with one bound for both
(1900-01-01 … 2200-01-01, ``salesguard.timeutil``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2, customers_pb2_grpc
from salesguard_api.orders.v1 import orders_pb2, orders_pb2_grpc, payments_pb2, payments_pb2_grpc
from tests.harness import GraphQLResult, Suite, employee_id, global_id, service_id, unique
from tests.org import Org, new_phone, register
from tests.support.subscriptions import ALERT_RAISED, GraphQLWebSocket, serve_gateway

CUSTOMERS = "query($filter: CustomerFilter) { customers(filter: $filter) { totalCount } }"
CUSTOMERS_FROM = (
    "query($from: DateTime) { customers(filter: {registeredFrom: $from}) { totalCount } }"
)
REGISTER = """mutation($input: RegisterCustomerInput!) {
  registerCustomer(input: $input) { customer { id } } }"""
SUBMIT = "mutation($input: SubmitOrderInput!) { submitOrder(input: $input) { order { id } } }"
RECORD_PAYMENT = (
    "mutation($input: RecordPaymentInput!) { recordPayment(input: $input) { payment { id } } }"
)


def refused(result: GraphQLResult, field: str) -> None:
    """One VALIDATION error naming ``field``, in a 200 (GraphQL) or 4xx (HTTP) answer."""
    assert result.status == 200 or 400 <= result.status < 500, result.body
    assert result.codes == ["VALIDATION"], result.body
    assert result.errors[0]["extensions"]["field"] == field, result.body
    assert "Traceback" not in json.dumps(result.body)


async def raw(suite: Suite, body: bytes, as_: str) -> GraphQLResult:
    """POST a body as written (JSON escapes such as a lone ``\\ud800`` kept)."""
    response = await suite.client.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {suite.token(as_)}", "Content-Type": "application/json"},
    )
    return GraphQLResult(response.status_code, response.json())


# -- the reproductions ------------------------------------------------------------------


async def test_detect_diversion_risk_in_year_one(suite: Suite, org: Org) -> None:
    result = await suite.gql(
        'mutation { detectDiversionRisk(input: {asOf: "0001-01-01"}) { customersChecked } }',
        as_=org.hr,
    )
    refused(result, "asOf")


@pytest.mark.parametrize("written", ["2026-01-01T00:00:00", "0000-00-00", "0001-01-01T00:00:00Z"])
async def test_inline_date_time_literals(suite: Suite, org: Org, written: str) -> None:
    result = await suite.gql(
        f'{{ customers(filter: {{registeredFrom: "{written}"}}) {{ totalCount }} }}',
        as_=org.manager,
    )
    refused(result, "registeredFrom")


@pytest.mark.parametrize(
    "written",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00Z",
        "1899-12-31T23:59:59Z",
        "2200-01-01T00:00:01Z",
        "2026-01-01T00:00:00",
        "0000-00-00",
    ],
)
async def test_date_time_variables(suite: Suite, org: Org, written: str) -> None:
    refused(await suite.gql(CUSTOMERS_FROM, {"from": written}, as_=org.manager), "registeredFrom")
    nested = await suite.gql(CUSTOMERS, {"filter": {"registeredTo": written}}, as_=org.manager)
    refused(nested, "registeredTo")


async def test_date_times_at_the_bounds_are_accepted(suite: Suite, org: Org) -> None:
    for written in ("1900-01-01T00:00:00Z", "2200-01-01T00:00:00Z", "1900-01-01T08:00:00+08:00"):
        result = await suite.gql(CUSTOMERS_FROM, {"from": written}, as_=org.manager)
        assert result.ok()["customers"]["totalCount"] == 0


async def test_record_payment_paid_in_year_one(suite: Suite, org: Org) -> None:
    payment = {
        "bankReference": unique("ref"),
        "payerName": "Acme",
        "amount": "100.00",
        "currency": "CNY",
        "paidAt": "0001-01-01T00:00:00+01:00",
    }
    refused(await suite.gql(RECORD_PAYMENT, {"input": payment}, as_=org.finance), "paidAt")


async def test_first_contact_in_year_one_is_refused(suite: Suite, org: Org) -> None:
    values = {
        "name": unique("Customer"),
        "phone": new_phone(),
        "source": "WEBSITE",
        "firstContactAt": "0001-06-01T00:00:00+00:00",
    }
    refused(await suite.gql(REGISTER, {"input": values}, as_=org.junior), "firstContactAt")
    inline = await suite.gql(
        'mutation { registerCustomer(input: {name: "Year One", source: WEBSITE, '
        'firstContactAt: "0001-06-01T00:00:00Z"}) { customer { id } } }',
        as_=org.junior,
    )
    refused(inline, "firstContactAt")


@pytest.mark.parametrize(
    "day", ["0001-01-01", "1899-12-31", "2200-01-02", "0000-00-00", "2025-13-01"]
)
async def test_order_dates_out_of_range_are_refused(suite: Suite, org: Org, day: str) -> None:
    customer = await register(suite, org.junior)
    order = {
        "customerId": customer["id"],
        "lines": [{"sku": "A-1", "quantity": "1", "unitPrice": "10.00"}],
        "currency": "CNY",
        "orderDate": day,
    }
    refused(await suite.gql(SUBMIT, {"input": order}, as_=org.junior), "orderDate")
    inline = await suite.gql(
        f'mutation {{ submitOrder(input: {{customerId: "{customer["id"]}", currency: "CNY", '
        f'expectedPaymentDate: "{day}", lines: [{{sku: "A-1", quantity: "1", unitPrice: "10.00"}}]}}) '
        "{ order { id } } }",
        as_=org.junior,
    )
    refused(inline, "expectedPaymentDate")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            '{"query": "query($s: String) { customers(filter: {text: $s}) { totalCount } }",'
            ' "variables": {"s": "\\ud800"}}',
            "text",
        ),
        (
            '{"query": "query($filter: CustomerFilter) { customers(filter: $filter) { totalCount } }",'
            ' "variables": {"filter": {"text": "abc\\udfff"}}}',
            "text",
        ),
        (
            '{"query": "query($id: ID!) { customer(id: $id) { id } }", "variables": {"id": "\\udc00x"}}',
            "id",
        ),
    ],
)
async def test_a_lone_surrogate_in_a_string_input(
    suite: Suite, org: Org, body: str, field: str
) -> None:
    refused(await raw(suite, body.encode(), org.manager), field)


async def test_a_lone_surrogate_in_a_registration(suite: Suite, org: Org) -> None:
    values = {
        "name": "PLACEHOLDER",
        "phone": new_phone(),
        "source": "WEBSITE",
        "firstContactAt": datetime.now(UTC).isoformat(),
    }
    body = json.dumps({"query": REGISTER, "variables": {"input": values}})
    result = await raw(suite, body.replace("PLACEHOLDER", "\\ud800 Ltd").encode(), org.junior)
    refused(result, "name")
    listed = await suite.gql(CUSTOMERS, {"filter": {"text": "Ltd"}}, as_=org.junior)
    assert listed.ok()["customers"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ('{ customer(id: "\\u0000") { id } }', "id"),
        ('{ exportRequest(id: "a\\u0000b") { id } }', "id"),
        ('{ customers(filter: {text: "\\u0000"}) { totalCount } }', "text"),
    ],
)
async def test_a_nul_character_in_a_literal(suite: Suite, org: Org, query: str, field: str) -> None:
    refused(await suite.gql(query, as_=org.manager), field)


async def test_a_nul_character_in_a_variable(suite: Suite, org: Org) -> None:
    result = await suite.gql(
        "query($id: ID!) { customer(id: $id) { id } }", {"id": "\x00"}, as_=org.manager
    )
    refused(result, "id")
    nested = await suite.gql(CUSTOMERS, {"filter": {"ownerId": "a\x00"}}, as_=org.manager)
    refused(nested, "ownerId")
    # A well-formed global ID can carry the NUL inside: the check behind the edge refuses it.
    inside = await suite.gql(
        "query($id: ID!) { customer(id: $id) { id } }",
        {"id": global_id("Customer", "a\x00b")},
        as_=org.manager,
    )
    refused(inside, "id")
    nested_inside = await suite.gql(
        CUSTOMERS, {"filter": {"ownerId": employee_id("a\x00")}}, as_=org.manager
    )
    assert [e["extensions"]["code"] for e in nested_inside.errors] == ["VALIDATION"]
    by_node = await suite.gql(
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": global_id("Order", "\x00")},
        as_=org.manager,
    )
    refused(by_node, "id")


async def test_a_surrogate_pair_is_an_ordinary_character(suite: Suite, org: Org) -> None:
    body = (
        '{"query": "query($s: String) { customers(filter: {text: $s}) { totalCount } }",'
        ' "variables": {"s": "\\ud83d\\ude00"}}'
    )
    assert (await raw(suite, body.encode(), org.manager)).ok()["customers"]["totalCount"] == 0


# -- the services refuse the same range to gRPC callers -----------------------------------------


class Stubs:
    def __init__(self, suite: Suite) -> None:
        addresses = {name: suite.running[name].address for name in ("customers", "orders")}
        secret = suite.running["orders"].runtime.internal_secret
        self.channels = ServiceChannels(addresses, secret, 20)
        self.customers = customers_pb2_grpc.CustomersServiceStub(self.channels.channel("customers"))
        orders = self.channels.channel("orders")
        self.orders = orders_pb2_grpc.OrdersServiceStub(orders)
        self.payments = payments_pb2_grpc.PaymentsServiceStub(orders)
        self.reconciliation = payments_pb2_grpc.ReconciliationServiceStub(orders)


@pytest.fixture(scope="module")
async def stubs(suite: Suite) -> AsyncIterator[Stubs]:
    stubs = Stubs(suite)
    yield stubs
    await stubs.channels.close()


async def refused_by_service(
    principal: Principal, call: Callable[[], Awaitable[object]], field: str
) -> None:
    with acting_as(principal), pytest.raises(ServiceError) as raised:
        await call()
    assert raised.value.code is ErrorCode.VALIDATION, raised.value
    assert raised.value.field == field, raised.value


def stamp(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


YEAR_ONE = -62135596800  # 0001-01-01T00:00:00Z, the earliest Timestamp protobuf allows
OUT_OF_RANGE = [
    stamp(YEAR_ONE),
    stamp(YEAR_ONE - 86_400),  # before what protobuf allows at all
    stamp(int(datetime(1899, 12, 31, tzinfo=UTC).timestamp())),
    stamp(int(datetime(2200, 1, 1, 0, 0, 1, tzinfo=UTC).timestamp())),
    stamp(253402300800 + 86_400),  # after 9999-12-31
]


def junior(org: Org) -> Principal:
    return Principal(
        id=org.junior, roles=("SALES_JUNIOR",), team_id=org.team_a, branch_id=org.branch
    )


@pytest.mark.parametrize("first_contact", OUT_OF_RANGE)
async def test_customers_refuse_first_contact_out_of_range(
    stubs: Stubs, org: Org, first_contact: Timestamp
) -> None:
    request = customers_pb2.RegisterCustomerRequest(
        name=unique("Customer"),
        phone=new_phone(),
        source=customers_pb2.SOURCE_CHANNEL_WEBSITE,
        first_contact_at=first_contact,
    )
    await refused_by_service(
        junior(org), lambda: stubs.customers.RegisterCustomer(request), "first_contact_at"
    )


@pytest.mark.parametrize("registered_from", OUT_OF_RANGE)
async def test_customers_refuse_filters_out_of_range(
    stubs: Stubs, org: Org, registered_from: Timestamp
) -> None:
    request = customers_pb2.ListCustomersRequest(
        filter=customers_pb2.CustomerFilter(registered_from=registered_from),
        page=common_pb2.PageRequest(page_size=10),
    )
    await refused_by_service(
        junior(org), lambda: stubs.customers.ListCustomers(request), "registered_from"
    )


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "2200-01-02"])
async def test_orders_refuse_order_dates_out_of_range(
    suite: Suite, stubs: Stubs, org: Org, day: str
) -> None:
    customer = await register(suite, org.junior)
    line = orders_pb2.OrderLine(
        sku="A-1", quantity=common_pb2.Decimal(value="1"), unit_price=common_pb2.Decimal(value="10")
    )
    request = orders_pb2.SubmitOrderRequest(
        customer_id=service_id(customer["id"]), lines=[line], currency="CNY", order_date=day
    )
    await refused_by_service(junior(org), lambda: stubs.orders.SubmitOrder(request), "order_date")


async def test_diversion_detection_refuses_year_one(stubs: Stubs, org: Org) -> None:
    hr = Principal(id=org.hr, roles=("HR",), branch_id=org.hq, hq=True)
    request = payments_pb2.DetectDiversionRiskRequest(as_of="0001-01-01")
    await refused_by_service(hr, lambda: stubs.reconciliation.DetectDiversionRisk(request), "as_of")


@pytest.mark.parametrize("paid_at", OUT_OF_RANGE)
async def test_payments_refuse_paid_at_out_of_range(
    stubs: Stubs, org: Org, paid_at: Timestamp
) -> None:
    finance = Principal(id=org.finance, roles=("FINANCE",), branch_id=org.hq, hq=True)
    request = payments_pb2.RecordPaymentRequest(
        bank_reference=unique("ref"),
        payer_name="Acme",
        amount=common_pb2.Decimal(value="100.00"),
        currency="CNY",
        paid_at=paid_at,
    )
    await refused_by_service(finance, lambda: stubs.payments.RecordPayment(request), "paid_at")


# -- a subscription meets the same checks ------------------------------------------------------


@pytest.mark.parametrize(
    ("alert_filter", "field"),
    [
        ({"employeeId": "a\x00"}, "employeeId"),
        ({"customerId": "\ud800"}, "customerId"),
        ({"from": "0001-01-01T00:00:00+14:00"}, "from"),
        ({"to": "2026-01-01T00:00:00"}, "to"),
    ],
)
async def test_a_subscription_refuses_bad_input(
    suite: Suite, org: Org, alert_filter: dict[str, str], field: str
) -> None:
    async with (
        serve_gateway(suite) as url,
        GraphQLWebSocket.open(url, suite.token(org.hr)) as hr,
    ):
        await hr.subscribe(ALERT_RAISED, {"filter": alert_filter})
        refused = await hr.receive(10)
        assert refused["type"] in {"next", "error"}, refused
        errors = refused["payload"]["errors"] if refused["type"] == "next" else refused["payload"]
        assert [error["extensions"]["code"] for error in errors] == ["VALIDATION"], refused
        assert errors[0]["extensions"]["field"] == field, refused
