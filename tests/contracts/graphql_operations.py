"""The registered operations' check of ``make lint``, and the generator of their manifest.

Every ``gateway/operations/*.graphql`` file must parse; operations are named, and operation
and fragment names are unique across all files (a fragment may be used from any file, and
every fragment is used); each operation, with the fragments it uses, validates against the
committed schema (``gateway/schema.graphql``) and fits the default cost budget with every
page at the largest size. The manifest the gateway ships
(``salesguard_gateway/persisted_operations.json``, Apollo's persisted-query manifest) must be
the one these files make: ``make operations`` rewrites it.

    uv run --frozen python -m tests.contracts.graphql_operations [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    Node,
    OperationDefinitionNode,
    build_schema,
    parse,
    print_ast,
    validate,
)

from salesguard.settings import Settings
from salesguard_gateway.cost import cost_plan
from salesguard_gateway.persisted import (
    MANIFEST_RESOURCE,
    RegisteredOperation,
    manifest,
    query_hash,
)
from salesguard_gateway.settings import DEFAULT_MAX_QUERY_COST

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS_DIR = ROOT / "gateway" / "operations"
SCHEMA_FILE = ROOT / "gateway" / "schema.graphql"
MANIFEST_FILE = ROOT / "gateway" / "src" / "salesguard_gateway" / MANIFEST_RESOURCE


@dataclass
class Operations:
    """What the files hold, and what is wrong with them."""

    operations: dict[str, tuple[Path, OperationDefinitionNode]] = field(default_factory=dict)
    fragments: dict[str, tuple[Path, FragmentDefinitionNode]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # Each operation's cost with its pages at the largest size.
    costs: dict[str, int] = field(default_factory=dict)


def read(directory: Path) -> Operations:
    found = Operations()
    files = sorted(directory.glob("*.graphql"))
    if not files:
        found.problems.append(f"{directory}: no .graphql files")
    for path in files:
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        try:
            document = parse(path.read_text(encoding="utf-8"))
        except GraphQLError as error:
            found.problems.append(f"{where}: {error}")
            continue
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                if definition.name is None:
                    found.problems.append(f"{where}: every operation needs a name")
                    continue
                name = definition.name.value
                table: dict[str, tuple[Path, OperationDefinitionNode]] = found.operations
                if name in table:
                    found.problems.append(f"{where}: operation {name} is also in {table[name][0]}")
                table[name] = (path, definition)
            elif isinstance(definition, FragmentDefinitionNode):
                name = definition.name.value
                if name in found.fragments:
                    other = found.fragments[name][0]
                    found.problems.append(f"{where}: fragment {name} is also in {other}")
                found.fragments[name] = (path, definition)
            else:
                found.problems.append(f"{where}: only operations and fragments belong here")
    return found


def _spreads(node: Node) -> Iterator[str]:
    stack: list[object] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, FragmentSpreadNode):
            yield current.name.value
        if isinstance(current, Node):
            stack.extend(getattr(current, key, None) for key in current.keys if key != "loc")
        elif isinstance(current, tuple | list):
            stack.extend(current)


def used_fragments(found: Operations, operation: OperationDefinitionNode) -> list[str]:
    """The fragments an operation uses, directly or through others, by name."""
    used: set[str] = set()
    pending = list(_spreads(operation))
    while pending:
        name = pending.pop()
        if name in used or name not in found.fragments:
            continue
        used.add(name)
        pending.extend(_spreads(found.fragments[name][1]))
    return sorted(used)


def registered(
    found: Operations, schema: GraphQLSchema, pages: Settings, budget: int
) -> list[RegisteredOperation]:
    """Each operation as the gateway registers it (its text: the operation, then the
    fragments it uses, printed by graphql-core), checking it as it goes: its cost must fit
    ``budget`` with every page it takes from a variable at the largest size."""
    result: list[RegisteredOperation] = []
    used_anywhere: set[str] = set()
    for name in sorted(found.operations):
        path, operation = found.operations[name]
        fragments = used_fragments(found, operation)
        used_anywhere.update(fragments)
        document = DocumentNode(
            definitions=(operation, *(found.fragments[fragment][1] for fragment in fragments))
        )
        errors = validate(schema, document)
        for error in errors:
            found.problems.append(f"{path.name}: {name}: {error.message}")
        if errors:
            continue
        plan = cost_plan(schema, document, name, pages.default_page_size)
        largest_pages = {
            variable.variable.name.value: pages.max_page_size
            for variable in operation.variable_definitions or ()
        }
        cost = plan.cost(largest_pages, pages.default_page_size) if plan else 0
        found.costs[name] = cost
        if cost > budget:
            found.problems.append(
                f"{path.name}: {name} costs {cost} with pages of {pages.max_page_size}, "
                f"over the default budget of {budget}"
            )
        body = print_ast(document)
        result.append(RegisteredOperation(query_hash(body), name, operation.operation.value, body))
    for fragment, (path, _) in sorted(found.fragments.items()):
        if fragment not in used_anywhere:
            found.problems.append(f"{path.name}: fragment {fragment} is used by no operation")
    return result


def check(directory: Path) -> tuple[Operations, list[RegisteredOperation]]:
    """The operations of ``directory`` checked against the committed schema, the default
    page sizes and the default cost budget."""
    schema = build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    found = read(directory)
    operations = registered(found, schema, Settings.model_construct(), DEFAULT_MAX_QUERY_COST)
    return found, operations


def manifest_text(operations: list[RegisteredOperation]) -> str:
    return json.dumps(manifest(operations), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the manifest")
    arguments = parser.parse_args(argv)
    found, operations = check(OPERATIONS_DIR)
    if found.problems:
        print("\n".join(found.problems), file=sys.stderr)
        return 1
    text = manifest_text(operations)
    if arguments.write:
        MANIFEST_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {MANIFEST_FILE.relative_to(ROOT)}: {len(operations)} operations")
        return 0
    if MANIFEST_FILE.read_text(encoding="utf-8") != text:
        print(
            f"{MANIFEST_FILE.relative_to(ROOT)} is not what gateway/operations makes: "
            "run `make operations` and commit it",
            file=sys.stderr,
        )
        return 1
    costliest = max(found.costs, key=found.costs.__getitem__)
    print(
        f"gateway/operations: {len(operations)} operations, valid, manifest up to date; "
        f"the costliest, {costliest}, costs {found.costs[costliest]} with the largest pages"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
