"""The schema's enums mirror the protos, and the fast leaf path changes no result."""

from __future__ import annotations

from enum import Enum
from typing import Any, cast

import pytest
import strawberry
from strawberry.extensions import ParserCache

from salesguard_api.attendance.v1 import directory_pb2, visits_pb2
from salesguard_api.commissions.v1 import commissions_pb2
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2, exports_pb2
from salesguard_api.orders.v1 import orders_pb2, payments_pb2
from salesguard_gateway.execution import fast_execution_context, leaf_plans
from salesguard_gateway.schema.enums import (
    AlertResolution,
    AlertStatus,
    CallDirection,
    CustomerStatus,
    DuplicateCriterion,
    EmployeeStatus,
    ExportStatus,
    FollowUpKind,
    LineKind,
    LineStatus,
    OrderStatus,
    PaymentState,
    PeriodStatus,
    ReversalKind,
    Role,
    Severity,
    SourceChannel,
    StepStatus,
    UploadPurpose,
    Verdict,
)
from salesguard_gateway.schema.timeline_items import TimelineKind
from salesguard_gateway.schema.timeline_sources import EVIDENCE, timeline_sources

# The proto side is a generated enum class (typed per enum by mypy-protobuf), hence Any.
ENUMS: list[tuple[type[Enum], Any, str]] = [
    (Role, directory_pb2.Role, "ROLE_"),
    (EmployeeStatus, directory_pb2.EmployeeStatus, "EMPLOYEE_STATUS_"),
    (SourceChannel, customers_pb2.SourceChannel, "SOURCE_CHANNEL_"),
    (CustomerStatus, customers_pb2.CustomerStatus, "CUSTOMER_STATUS_"),
    (FollowUpKind, customers_pb2.FollowUpKind, "FOLLOW_UP_KIND_"),
    (ExportStatus, exports_pb2.ExportStatus, "EXPORT_STATUS_"),
    (Severity, common_pb2.Severity, "SEVERITY_"),
    (AlertStatus, common_pb2.AlertStatus, "ALERT_STATUS_"),
    (AlertResolution, common_pb2.AlertResolution, "ALERT_RESOLUTION_"),
    (DuplicateCriterion, customers_pb2.DuplicateCriterion, "DUPLICATE_CRITERION_"),
    (LineStatus, commissions_pb2.LineStatus, "LINE_STATUS_"),
    (LineKind, commissions_pb2.LineKind, "LINE_KIND_"),
    (PeriodStatus, commissions_pb2.PeriodStatus, "PERIOD_STATUS_"),
    (OrderStatus, orders_pb2.OrderStatus, "ORDER_STATUS_"),
    (StepStatus, orders_pb2.StepStatus, "STEP_STATUS_"),
    (PaymentState, orders_pb2.PaymentState, "PAYMENT_STATE_"),
    (ReversalKind, payments_pb2.ReversalKind, "REVERSAL_KIND_"),
    (UploadPurpose, payments_pb2.UploadPurpose, "UPLOAD_PURPOSE_"),
    (Verdict, visits_pb2.Verdict, "VERDICT_"),
    (CallDirection, visits_pb2.CallDirection, "CALL_DIRECTION_"),
]


@pytest.mark.parametrize(("enum", "proto", "prefix"), ENUMS, ids=[e[0].__name__ for e in ENUMS])
def test_enums_are_the_proto_names_without_prefix(
    enum: type[Enum], proto: Any, prefix: str
) -> None:
    expected = {
        name.removeprefix(prefix): number
        for name, number in proto.items()
        if not name.endswith("_UNSPECIFIED")
    }
    assert {member.name: member.value for member in enum} == expected


@strawberry.type
class Row:
    name: str
    nickname: str | None
    tags: list[str]
    maybe_tags: list[str | None] | None
    status: CustomerStatus
    count: int


def make_row(**values: Any) -> Row:
    """A Row as a buggy resolver might build one: the values are not type-checked."""
    return Row(**values)


@strawberry.type
class Query:
    @strawberry.field
    def rows(self) -> list[Row | None]:
        return [
            make_row(
                name="a",
                nickname=None,
                tags=["x"],
                maybe_tags=[None, "y"],
                status=CustomerStatus.ACTIVE,
                count=1,
            ),
            # Broken on purpose: a null in a non-null field and a value that does not coerce.
            make_row(
                name=None,
                nickname="n",
                tags=["x"],
                maybe_tags=None,
                status=CustomerStatus.ARCHIVED,
                count=1,
            ),
            make_row(
                name="c",
                nickname="n",
                tags=("t", "u"),
                maybe_tags=None,
                status=CustomerStatus.ACTIVE,
                count="many",
            ),
        ]

    @strawberry.field
    def row(self) -> Row | None:
        return make_row(
            name="z",
            nickname=None,
            tags=[None],
            maybe_tags=[],
            status=CustomerStatus.ACTIVE,
            count=2,
        )


QUERY = """{ rows { name nick: nickname tags maybeTags status count __typename }
             row { name tags ...F } }
           fragment F on Row { count status }"""


def _result(fast: bool) -> dict[str, Any]:
    schema = strawberry.Schema(Query)
    if fast:
        fast_execution_context(schema)
    result = schema.execute_sync(QUERY)
    return {
        "data": result.data,
        "errors": sorted((str(e.message), tuple(e.path or ())) for e in result.errors or ()),
    }


def test_fast_leaf_path_gives_the_same_results_and_errors() -> None:
    slow, fast = _result(fast=False), _result(fast=True)
    assert fast == slow
    # The null name, the Int "many", the null in non-null tags: each nulls its row.
    assert len(slow["errors"]) == 3
    assert fast["data"]["rows"][1:] == [None, None] and fast["data"]["row"] is None
    assert list(fast["data"]["rows"][0]) == [
        "name",
        "nick",
        "tags",
        "maybeTags",
        "status",
        "count",
        "__typename",
    ]


@strawberry.interface
class Named:
    key: strawberry.Private[str]

    @strawberry.field
    def id(self) -> strawberry.ID:
        if self.key == "bad":
            raise ValueError("no id for bad")
        return strawberry.ID(f"id-{self.key}")


@strawberry.type
class Item(Named):
    label: str | None

    @strawberry.field
    def checked(self) -> str:
        if self.label == "boom":
            raise ValueError("boom")
        return self.label or "-"

    @strawberry.field
    async def later(self) -> str:
        return f"later-{self.key}"


@strawberry.type
class Holder:
    items: list[Item]
    maybe_items: list[Item | None] | None
    one: Item | None
    must: Item


def item(key: str, label: str | None = "ok") -> Item:
    return Item(key=key, label=label)


@strawberry.type
class NestedQuery:
    @strawberry.field
    def holders(self) -> list[Holder | None]:
        return [
            Holder(
                items=[item("a"), item("b")],
                maybe_items=[item("c"), None, item("bad")],
                one=None,
                must=item("d"),
            ),
            # A null item in a non-null list: graphql-core's error, the holder nulled.
            Holder(items=[item("e"), None], maybe_items=None, one=item("f"), must=item("g")),  # type: ignore[list-item]
            # A resolver raising below non-null fields: the error nulls up to the holder.
            Holder(
                items=[item("h", "boom")], maybe_items=[item("l")], one=item("i"), must=item("j")
            ),
            # Not an Item where one is expected.
            Holder(items=[], maybe_items=[], one="x", must=item("k")),  # type: ignore[arg-type]
        ]


NESTED_QUERY = """{ holders {
    items { id label checked }
    maybeItems { id checked later }
    one { id label }
    must { id ... on Item { later } }
} }"""


async def _nested_result(fast: bool) -> dict[str, Any]:
    schema = strawberry.Schema(NestedQuery)
    if fast:
        fast_execution_context(schema)
    result = await schema.execute(NESTED_QUERY)
    return {
        "data": result.data,
        "errors": sorted((str(e.message), tuple(e.path or ())) for e in result.errors or ()),
    }


async def test_fast_object_path_gives_the_same_results_and_errors() -> None:
    plans = leaf_plans(strawberry.Schema(NestedQuery))
    assert {name: type(plan).__name__ for name, plan in plans["Holder"].items()} == {
        "items": "_Object",
        "maybeItems": "_Object",
        "one": "_Object",
        "must": "_Object",
    }
    assert type(plans["Item"]["id"]).__name__ == "_Computed"
    slow, fast = await _nested_result(fast=False), await _nested_result(fast=True)
    assert fast == slow
    assert len(slow["errors"]) == 4
    assert fast["data"]["holders"][0]["must"] == {"id": "id-d", "later": "later-d"}


# Each request of the same operation gets other holders: good ones, then broken ones.
HOLDER_ROUNDS: list[list[Holder | None]] = []


@strawberry.type
class RoundsQuery:
    @strawberry.field
    def holders(self) -> list[Holder | None]:
        return HOLDER_ROUNDS.pop(0)


def _rounds() -> list[list[Holder | None]]:
    good: list[Holder | None] = [
        Holder(items=[item("a")], maybe_items=None, one=item("b"), must=item("c"))
    ]
    broken: list[Holder | None] = [
        Holder(items=[item("h", "boom")], maybe_items=[None], one=None, must=item("j")),
        Holder(items=[], maybe_items=[], one="x", must=item("k")),  # type: ignore[arg-type]
    ]
    return [good, broken, good]


async def _rounds_results(schema: strawberry.Schema, query: str, **variables: Any) -> list[Any]:
    HOLDER_ROUNDS[:] = _rounds()
    answers = []
    for _ in range(3):
        result = await schema.execute(query, variable_values=variables or None)
        answers.append(
            (result.data, sorted((e.message, tuple(e.path or ())) for e in result.errors or ()))
        )
    return answers


async def test_an_operations_steps_are_kept_for_its_next_requests_and_answer_alike() -> None:
    def build(fast: bool) -> strawberry.Schema:
        built = strawberry.Schema(RoundsQuery, extensions=[lambda: ParserCache(maxsize=8)])
        if fast:
            fast_execution_context(built)
        return built

    fast, slow = build(fast=True), build(fast=False)
    kept = cast(Any, fast.execution_context_class).shared
    plain = "{ holders { items { id label checked } one { id label } must { id } } }"
    answers = await _rounds_results(fast, plain)
    assert answers == await _rounds_results(slow, plain)
    # The broken holders' errors, reported on the second request with the first's steps.
    assert not answers[0][1] and answers[1][1] and answers[2] == answers[0]
    assert kept, "an operation without directives keeps its steps"
    kept.clear()
    # With a directive the fields collected depend on the variables: nothing is kept.
    directed = "query($x: Boolean!) { holders { items { id label @include(if: $x) } must { id } } }"
    for x in (True, False):
        answers = await _rounds_results(fast, directed, x=x)
        assert answers == await _rounds_results(slow, directed, x=x)
    assert not kept


def test_every_timeline_evidence_case_names_a_timeline_kind() -> None:
    # A service's timeline item becomes the kind its oneof case is named after.
    assert {TimelineKind[case.upper()] for case in EVIDENCE} == set(TimelineKind) - {
        TimelineKind.ALERT
    }


def test_each_timeline_service_serves_its_kinds() -> None:
    # Read from each service's *TimelineKind enum: a renamed proto value fails here.
    assert {source.key: source.kinds for source in timeline_sources(("orders",))} == {
        "attendance": {TimelineKind.CHECK_IN, TimelineKind.CALL},
        "customers": {TimelineKind.FOLLOW_UP, TimelineKind.AUDIT_EVENT},
        "orders": {
            TimelineKind.ORDER,
            TimelineKind.APPROVAL,
            TimelineKind.PAYMENT,
            TimelineKind.SHIPMENT,
        },
        "alerts.orders": {TimelineKind.ALERT},
    }
