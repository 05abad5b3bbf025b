"""README's table of error codes lists every ``extensions.code`` the gateway can answer."""

from __future__ import annotations

import re
from pathlib import Path

from salesguard.errors import ErrorCode
from salesguard_gateway.app import PAYLOAD_TOO_LARGE
from salesguard_gateway.cost import QUERY_TOO_COSTLY
from salesguard_gateway.limits import QUERY_TOO_DEEP, TOO_MANY_ALIASES, TOO_MANY_TOKENS
from salesguard_gateway.persisted import OPERATION_NOT_REGISTERED, PERSISTED_QUERY_NOT_FOUND

README = Path(__file__).resolve().parents[2] / "README.md"
GATEWAY_CODES = {
    QUERY_TOO_DEEP,
    TOO_MANY_ALIASES,
    TOO_MANY_TOKENS,
    QUERY_TOO_COSTLY,
    PERSISTED_QUERY_NOT_FOUND,
    OPERATION_NOT_REGISTERED,
    PAYLOAD_TOO_LARGE,
}


def documented_codes() -> list[str]:
    """The first column of the table under "**Error codes.**"."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Error codes.**") :]
    table = section[section.index("| `extensions.code`") :].split("\n\n", 1)[0]
    return re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.MULTILINE)


def test_every_code_is_in_the_readme_once() -> None:
    codes = documented_codes()
    assert len(codes) == len(set(codes)), codes
    assert set(codes) == {code.value for code in ErrorCode} | GATEWAY_CODES
