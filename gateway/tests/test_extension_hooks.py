"""The fast path's extension hooks (execution._get_hook, worked out once per extension
type) run as strawberry's own do: same order, same results, same errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from salesguard_gateway.execution import fast_execution_context


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


def _extensions(log: list[str], fail: str | None) -> list[Any]:
    class Generator(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            log.append("generator operation in")
            yield
            log.append("generator operation out")

        def on_execute(self) -> Iterator[None]:
            log.append("generator execute in")
            if fail == "generator":
                raise ValueError("generator refused")
            yield
            log.append("generator execute out")

    class AsyncGenerator(SchemaExtension):
        async def on_validate(self) -> AsyncIterator[None]:
            log.append("async validate in")
            yield
            log.append("async validate out")

        async def on_operation(self) -> AsyncIterator[None]:
            log.append("async operation in")
            try:
                yield
            finally:
                log.append("async operation out")

    class Plain(SchemaExtension):
        def on_parse(self) -> None:  # type: ignore[override]
            log.append("plain parse")
            if fail == "plain":
                raise ValueError("plain refused")

        def get_results(self) -> dict[str, Any]:
            return {"plain": True}

    return [Generator, AsyncGenerator, Plain]


@pytest.mark.parametrize("fail", [None, "generator", "plain"])
@pytest.mark.parametrize("query", ["{ hello }", "{ nope }"])
async def test_hooks_run_as_strawberrys(fail: str | None, query: str) -> None:
    answers = []
    for fast in (False, True):
        log: list[str] = []
        schema = strawberry.Schema(query=Query, extensions=_extensions(log, fail))
        if fast:
            fast_execution_context(schema)
        outcome: Any
        for _ in range(2):  # the second request finds the hooks worked out
            try:
                result = await schema.execute(query)
                outcome = (
                    result.data,
                    [str(error) for error in result.errors or ()],
                    result.extensions,
                )
            except ValueError as error:
                outcome = repr(error)
        answers.append((outcome, log))
    assert answers[1] == answers[0]
