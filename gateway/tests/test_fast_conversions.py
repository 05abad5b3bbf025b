"""The hot path's shortcuts answer exactly what the general code answers: a global ID
built without a GlobalID object, a Timestamp's moment, a String or ID field's str."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import strawberry
from google.protobuf.timestamp_pb2 import Timestamp
from strawberry.relay import GlobalID

from salesguard_gateway.execution import fast_execution_context
from salesguard_gateway.schema.conversions import from_timestamp
from salesguard_gateway.schema.nodes import global_id


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
