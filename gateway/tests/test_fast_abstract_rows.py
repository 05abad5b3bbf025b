"""A field of an interface type (a timeline's ``TimelineItem``) takes the executor's row
path: each value completed as the concrete type graphql-core resolves it to, its
``__typename`` included. The answers, errors included, are graphql-core's byte for byte:
values its resolver or checks would refuse (a class of no type, a cast value, null where
it may not be, a resolver raising) go to graphql-core's own completion."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from salesguard_gateway.execution import fast_execution_context

AT = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


@strawberry.type
class Detail:
    code: str
    amount: int | None


@strawberry.interface
class Item:
    at: datetime
    label: str

    @strawberry.field
    def day(self) -> str | None:
        if self.label == "broken":
            raise ValueError("no day for this one")
        return self.at.date().isoformat()


@strawberry.type
class VisitItem(Item):
    detail: Detail


@strawberry.type
class CallItem(Item):
    seconds: int | None
    details: list[Detail]


@strawberry.type
class NoteItem(Item):
    text: str


@strawberry.type
class LinkItem(Item):
    """A type of no row (a field with arguments, an async one): its fields as its steps
    take them, the rest by graphql-core."""

    code: str

    @strawberry.field
    def linked(self, upper: bool = False) -> Detail:
        return Detail(code=self.code.upper() if upper else self.code, amount=None)

    @strawberry.field
    async def later(self) -> str:
        if self.code == "late":
            raise ValueError("too late")
        return f"later {self.code}"


class NotAType(VisitItem):
    """A subclass strawberry knows nothing of: graphql-core decides what it is."""


@strawberry.type
class Edge:
    cursor: str
    node: Item


@strawberry.type
class Connection:
    edges: list[Edge]
    nodes: list[Item | None]
    first: Item | None


def _visit(label: str = "visit", code: str = "v1") -> VisitItem:
    return VisitItem(at=AT, label=label, detail=Detail(code=code, amount=3))


def _call(label: str = "call") -> CallItem:
    return CallItem(at=AT, label=label, seconds=None, details=[Detail(code="c1", amount=None)] * 2)


def _note() -> NoteItem:
    return NoteItem(at=AT, label="note", text="hello")


def _link(code: str = "k1") -> LinkItem:
    return LinkItem(at=AT, label="link", code=code)


# What each page holds: a list of items (nodes), the edges are made of them.
PAGES: dict[str, list[Any]] = {
    "plain": [_visit(), _call(), _note(), _visit("again", "v2")],
    "with a type of no row": [_link(), _visit(), _link("k2"), _note()],
    "an async resolver raising": [_visit(), _link("late"), _call("broken")],
    "a resolver raising": [_visit(), _call("broken"), _note()],
    "a class of no type": [
        _visit(),
        NotAType(at=AT, label="sub", detail=Detail(code="s", amount=1)),
    ],
    "a cast value": [_note(), strawberry.cast(CallItem, _visit("cast"))],
    "a null node": [_visit(), None, _call()],
    "the interface itself": [Item(at=AT, label="bare")],
    "not an item": [_visit(), Detail(code="d", amount=1)],
}


@strawberry.type
class Query:
    @strawberry.field
    def page(self, name: str) -> Connection:
        items = PAGES[name]
        return Connection(
            edges=[Edge(cursor=f"c{index}", node=item) for index, item in enumerate(items)],
            nodes=items,
            first=items[0],
        )


TYPES = [VisitItem, CallItem, NoteItem, LinkItem]
QUERIES = [
    """query($name: String!) { page(name: $name) { edges { cursor node {
        __typename at label day
        ... on VisitItem { detail { code amount } }
        ... on CallItem { seconds details { code amount __typename } }
        ... on NoteItem { text }
        ... on LinkItem { code linked(upper: true) { code amount } later }
    } } } }""",
    """query($name: String!) { page(name: $name) {
        first { __typename label ... on NoteItem { text } ... on LinkItem { later } }
        nodes { label ... on VisitItem { detail { code } } ... on CallItem { seconds } }
    } }""",
    # A type's own fragment only, and an alias of __typename.
    """query($name: String!) { page(name: $name) { edges { node {
        kind: __typename ... on CallItem { day }
    } } } }""",
]


async def _answer(schema: strawberry.Schema, query: str, name: str) -> str:
    result = await schema.execute(query, variable_values={"name": name})
    errors = [error.formatted for error in result.errors or ()]
    return json.dumps({"data": result.data, "errors": errors}, ensure_ascii=False)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fields graphql-core's own per-field path executes."""
    fields: list[str] = []
    execute_field = StrawberryGraphQLCoreExecutionContext.execute_field

    def counting(self: Any, parent_type: Any, source: Any, field_details: Any, *a: Any) -> Any:
        fields.append(f"{parent_type.name}.{field_details[0].node.name.value}")
        return execute_field(self, parent_type, source, field_details, *a)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_field", counting)
    return fields


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("query", QUERIES)
async def test_an_interface_field_answers_as_graphql_core_does(query: str, name: str) -> None:
    general = strawberry.Schema(query=Query, types=TYPES)
    fast = strawberry.Schema(query=Query, types=TYPES)
    fast_execution_context(fast)
    expected = await _answer(general, query, name)
    for _ in range(2):  # the first request works out the rows, the next reuses them
        assert await _answer(fast, query, name) == expected


async def test_a_page_of_items_takes_the_row_path(counted: list[str]) -> None:
    """Every node of a plain page is answered by its type's row: graphql-core executes the
    root field alone (its resolve_type is not asked either)."""
    fast = strawberry.Schema(query=Query, types=TYPES)
    fast_execution_context(fast)
    resolved: list[Any] = []
    interface = fast._schema.get_type("Item")
    assert interface is not None
    resolve_type = interface.resolve_type  # type: ignore[attr-defined]

    def counting_resolve(value: Any, info: Any, abstract: Any) -> Any:
        resolved.append(value)
        return resolve_type(value, info, abstract)

    interface.resolve_type = counting_resolve  # type: ignore[attr-defined]
    try:
        for query in QUERIES:
            counted.clear()
            result = fast.execute_sync(query, variable_values={"name": "plain"})
            assert result.errors is None
            assert counted == ["Query.page"], counted
        assert resolved == []
        # A page graphql-core must complete: the rest of it still answered, as before.
        result = fast.execute_sync(QUERIES[0], variable_values={"name": "a class of no type"})
        assert result.data is not None and result.errors is None
        assert result.data["page"]["edges"][1]["node"]["__typename"] == "VisitItem"
        assert len(resolved) == 1
        # A type of no row: its nodes executed as its type, resolved here as graphql-core
        # would (not by graphql-core: its resolve_type is not asked).
        counted.clear()
        result = await fast.execute(QUERIES[0], variable_values={"name": "with a type of no row"})
        assert result.errors is None and len(resolved) == 1
        assert sorted(set(counted)) == ["LinkItem.later", "LinkItem.linked", "Query.page"]
    finally:
        interface.resolve_type = resolve_type  # type: ignore[attr-defined]
