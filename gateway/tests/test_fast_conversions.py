"""The hot path's shortcuts answer exactly what the general code answers: a global ID
built without a GlobalID object, a Timestamp's moment, a String or ID field's str, a
customer read off its message on demand, what a field selects kept per operation; and the
served process's collector settings."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import strawberry
from google.protobuf.timestamp_pb2 import Timestamp
from strawberry.extensions import ParserCache
from strawberry.relay import GlobalID

from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2
from salesguard_gateway.execution import fast_execution_context
from salesguard_gateway.schema.common import Location, selects
from salesguard_gateway.schema.conversions import from_timestamp, read_on_demand
from salesguard_gateway.schema.customers import Customer, customer_from_proto
from salesguard_gateway.schema.enums import CustomerStatus, SourceChannel
from salesguard_gateway.schema.nodes import global_id, type_name_of


@pytest.mark.parametrize("service_id", ["01J0000000000000000000000", "", "é:ü/+=", "a" * 300])
def test_a_global_id_is_strawberrys(service_id: str) -> None:
    assert global_id("Customer", service_id) == str(GlobalID("Customer", service_id))


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(1, 0), (1_700_000_000, 123_456_789), (-86_400, 999_999_999), (253_402_300_799, 1_000)],
)
def test_a_timestamp_is_the_same_moment(seconds: int, nanos: int) -> None:
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        seconds=seconds, microseconds=nanos // 1000
    )
    assert from_timestamp(Timestamp(seconds=seconds, nanos=nanos)) == expected
    assert from_timestamp(Timestamp()) is None


class Text(str):
    def __str__(self) -> str:
        return "as text"


@strawberry.type
class Item:
    name: str
    code: strawberry.ID
    note: str | None


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        values: list[Any] = [
            Item(name="plain", code=strawberry.ID("i1"), note=None),
            # Not a str itself: coerced as graphql-core coerces it.
            Item(name=Text("subclass"), code=7, note=""),  # type: ignore[arg-type]
        ]
        return values


def test_string_and_id_fields_answer_as_graphql_core_does() -> None:
    query = "{ items { name code note } }"
    general = strawberry.Schema(query=Query).execute_sync(query)
    fast = strawberry.Schema(query=Query)
    fast_execution_context(fast)
    answered = fast.execute_sync(query)
    assert answered.errors is None and answered.data == general.data
    assert answered.data == {
        "items": [
            {"name": "plain", "code": "i1", "note": None},
            {"name": "subclass", "code": "7", "note": ""},
        ]
    }


def _customer_message(**fields: Any) -> customers_pb2.Customer:
    message = customers_pb2.Customer(
        id="c1",
        code="C-000001",
        name="Ada",
        company="",
        phone="138****5678",
        email="a@example.com",
        address="",
        source=customers_pb2.SOURCE_CHANNEL_WEBSITE,
        source_detail="",
        status=customers_pb2.CUSTOMER_STATUS_ACTIVE,
        masked_fields=["phone"],
        owner_id="e1",
        team_id="t1",
        branch_id="b1",
        **fields,
    )
    message.registered_at.FromSeconds(1_700_000_000)
    message.updated_at.FromNanoseconds(1_700_000_000_123_456_789)
    return message


@pytest.mark.parametrize("located", [False, True])
def test_a_customer_read_on_demand_is_the_customer_converted_at_once(located: bool) -> None:
    message = _customer_message(
        **({"location": common_pb2.GeoPoint(lat=31.2, lng=121.5)} if located else {})
    )
    on_demand = customer_from_proto(message)
    eager = Customer(
        id="c1",
        code="C-000001",
        name="Ada",
        company=None,
        phone="138****5678",
        email="a@example.com",
        address=None,
        location=Location(lat=31.2, lng=121.5) if located else None,
        source=SourceChannel.WEBSITE,
        source_detail=None,
        first_contact_at=None,
        registered_at=from_timestamp(message.registered_at),
        updated_at=from_timestamp(message.updated_at),
        status=CustomerStatus.ACTIVE,
        pooled_at=None,
        masked_fields=["phone"],
        owner_id="e1",
        team_id="t1",
        branch_id="b1",
    )
    assert isinstance(on_demand, Customer)
    assert type_name_of(type(on_demand)) == "Customer"
    for field in dataclasses.fields(Customer):
        if field.init:
            assert getattr(on_demand, field.name) == getattr(eager, field.name), field.name


def test_reading_on_demand_names_every_field_the_type_requires() -> None:
    with pytest.raises(TypeError, match="read on demand"):
        read_on_demand(Location, {"lat": None})


def test_the_served_heap_is_frozen_and_collected_less_often() -> None:
    # In a process of its own: freezing is for the whole process.
    script = (
        "import gc\n"
        "from salesguard.eventloop import GC_YOUNG_THRESHOLD, settle_heap\n"
        "settle_heap()\n"
        "assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()\n"
        "assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)  # noqa: S603 - our own script


@strawberry.type
class Shown:
    plain: str
    contact: str


SEEN: list[bool] = []


@strawberry.type
class SelectionQuery:
    @strawberry.field
    def shown(self, info: strawberry.Info) -> Shown:
        SEEN.append(selects(info, frozenset({"contact"})))
        return Shown(plain="p", contact="s")


async def test_what_a_field_selects_is_kept_per_operation_and_never_across_variables() -> None:
    schema = strawberry.Schema(query=SelectionQuery, extensions=[lambda: ParserCache(maxsize=16)])
    queries: list[tuple[str, dict[str, Any] | None, bool]] = [
        ("{ shown { plain } }", None, False),
        ("{ shown { plain } }", None, False),  # kept
        ("{ shown { contact } }", None, True),
        ("{ shown { ... on Shown { contact } } }", None, True),
        ("query($x: Boolean!) { shown { plain contact @include(if: $x) } }", {"x": False}, False),
        ("query($x: Boolean!) { shown { plain contact @include(if: $x) } }", {"x": True}, True),
        ("query($x: Boolean!) { shown { plain contact @include(if: $x) } }", {"x": False}, False),
    ]
    SEEN.clear()
    for query, variables, _ in queries:
        result = await schema.execute(query, variable_values=variables)
        assert result.errors is None, result.errors
    assert [expected for _, _, expected in queries] == SEEN


@strawberry.type
class Listed:
    name: str
    note: str | None
    moment: datetime | None


def _note(text: str) -> str | None:
    return text or None


listed_from_message = read_on_demand(
    Listed, {"name": None, "note": _note, "moment": from_timestamp}
)


class Renamed(listed_from_message):  # type: ignore[misc, valid-type]
    """A subclass answering a field otherwise: its own property, not the message's."""

    @property
    def name(self) -> str:
        return "renamed"


@strawberry.type
class ListedQuery:
    @strawberry.field
    def shown(self) -> list[Listed]:
        messages = [
            customers_pb2.Customer(name="Ada", phone=""),
            customers_pb2.Customer(name="Bo", phone="note"),
        ]
        messages[1].registered_at.FromSeconds(1_700_000_000)
        # A message whose fields the type reads under other names.
        rows: list[Any] = []
        for message in messages:
            view = type("Message", (), {})()
            view.name, view.note, view.moment = message.name, message.phone, message.registered_at
            rows.append(listed_from_message(view))
        rows.append(Renamed(rows[0]._message))
        rows.append(Listed(name="eager", note=None, moment=None))
        return rows


@pytest.mark.parametrize("query", ["{ shown { name note moment } }", "{ shown { moment name } }"])
def test_a_row_read_off_the_message_is_what_the_properties_answer(query: str) -> None:
    general = strawberry.Schema(query=ListedQuery).execute_sync(query)
    fast = strawberry.Schema(query=ListedQuery)
    fast_execution_context(fast)
    for _ in range(2):  # the first request works out the rows, the next reuses them
        answered = fast.execute_sync(query)
        assert answered.errors is None and answered.data == general.data
    assert general.data is not None
    assert [row["name"] for row in general.data["shown"]] == ["Ada", "Bo", "renamed", "eager"]
    assert general.data["shown"][1]["moment"] == "2023-11-14T22:13:20+00:00"
