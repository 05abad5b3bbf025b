"""Every rule code has one home: ARCHITECTURE.md names it, and the code says the same.

The SPEC names each rule with a code (C1–C12, A1–A6, O1–O6, M1–M5, G1–G4).
``grep -rw C3`` over the Python sources must land in the module that decides C3, and
nowhere else but the index of its rule package and the alert catalogue (whose entries
say, as data clients see, which rule each alert kind reports). Other modules refer to a
rule by its function, not its code, so a reader never finds two places that seem to
decide one rule. Documentation (README, ARCHITECTURE, protos, the GraphQL schema) may
cite codes freely; so may the descriptions in the gateway's ``schema/`` modules, which
are the GraphQL schema's documentation (the gateway decides no C, A, O or M rule; its own
G rules keep to their homes like any other).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "ARCHITECTURE.md"

CODES = (
    [f"C{n}" for n in range(1, 13)]
    + [f"A{n}" for n in range(1, 7)]
    + [f"O{n}" for n in range(1, 7)]
    + [f"M{n}" for n in range(1, 6)]
    + [f"G{n}" for n in range(1, 5)]
)
CODE_WORD = re.compile(r"\b(" + "|".join(CODES) + r")\b")

# Each ARCHITECTURE section names the package its rows' paths are relative to.
SECTION = re.compile(r"^## \w+ \(`(?P<package>[^`]+)`\)", re.MULTILINE)
ROW = re.compile(r"^\| (?P<code>[CAOMG]\d+) \| [^|]+ \| `(?P<module>[^`]+\.py)`", re.MULTILINE)

# Where a code may be written besides its deciding module.
CATALOGUE = ROOT / "shared/src/salesguard/alerts/catalogue.py"
GRAPHQL_DOCS = ROOT / "gateway/src/salesguard_gateway/schema"


def _homes() -> dict[str, Path]:
    text = ARCHITECTURE.read_text()
    homes: dict[str, Path] = {}
    sections = list(SECTION.finditer(text))
    for index, section in enumerate(sections):
        end = sections[index + 1].start() if index + 1 < len(sections) else len(text)
        for row in ROW.finditer(text, section.end(), end):
            assert row["code"] not in homes, f"{row['code']} has two rows in ARCHITECTURE.md"
            homes[row["code"]] = ROOT / section["package"] / row["module"]
    return homes


def _sources() -> list[Path]:
    roots = [ROOT / "shared/src/salesguard", ROOT / "gateway/src", *ROOT.glob("services/*/src")]
    return sorted(
        path
        for root in roots
        for path in root.rglob("*.py")
        if "migrations" not in path.parts and not path.name.endswith(("_pb2.py", "_pb2_grpc.py"))
    )


HOMES = _homes()


def test_every_rule_code_has_exactly_one_row() -> None:
    assert sorted(HOMES) == sorted(CODES)


@pytest.mark.parametrize("code", CODES)
def test_the_deciding_module_exists_and_names_its_rule(code: str) -> None:
    home = HOMES[code]
    assert home.is_file(), f"ARCHITECTURE.md says {code} is decided in {home}, which is missing"
    assert code in CODE_WORD.findall(home.read_text()), f"{home} does not name {code}"


def test_a_rule_code_is_written_only_where_the_rule_is_decided() -> None:
    """``grep -rw <code>`` lands in the deciding module (plus the rule package's index and
    the alert catalogue); a module that runs a rule names its function, not its code."""
    strays: list[str] = []
    for path in _sources():
        if path == CATALOGUE or (path.name == "__init__.py" and path.parent.name == "rules"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for code in CODE_WORD.findall(line):
                if GRAPHQL_DOCS in path.parents and not code.startswith("G"):
                    continue
                if HOMES.get(code) != path:
                    strays.append(f"{path.relative_to(ROOT)}:{number}: {code}")
    assert not strays, "rule codes outside their deciding module:\n" + "\n".join(strays)


def test_each_rule_package_index_lists_only_its_own_service_codes() -> None:
    for index in ROOT.glob("services/*/src/*/rules/__init__.py"):
        package = index.parent.parent
        named = set(CODE_WORD.findall(index.read_text()))
        foreign = {code for code in named if package not in HOMES[code].parents}
        assert not foreign, f"{index.relative_to(ROOT)} names other services' rules: {foreign}"
