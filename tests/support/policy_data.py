"""The policy data documents checked against their JSON Schemas (``make lint``).

Every ``data.json`` under ``policies/`` must have a schema in ``schemas/`` (named in
:data:`SCHEMAS`) and match it: the schemas close every object, so a misspelt key
(``masked_field``, ``hiden_subject_roles``) fails the build instead of silently
dropping a grant or falling back to a default. Names that refer to other parts of
the data (a field set named by ``masked_field_sets`` or ``read_only_fields``) are
checked here too, as a schema cannot.

The schemas live outside ``policies/``: OPA loads every JSON file under the
directories it is given as data, so a schema there would become policy data.

Run: ``python -m tests.support.policy_data`` (exit 1 and one line per problem).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"
# data.json (relative to policies/) → its schema (relative to the repository).
SCHEMAS = {
    "salesguard/tiers/data.json": "schemas/tiers.schema.json",
    "salesguard/thresholds/data.json": "schemas/thresholds.schema.json",
}


def _schema(path: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return schema


def _field_set_references(tiers: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, field set name) for every reference to a field set in the tiers."""
    for action, config in tiers.get("actions", {}).items():
        for role, tier in config.get("roles", {}).items():
            for index, grant in enumerate(tier.get("grants", [])):
                for name in grant.get("masked_field_sets", []):
                    yield f"actions.{action}.roles.{role}.grants[{index}].masked_field_sets", name
            for index, rule in enumerate(tier.get("read_only_fields", [])):
                yield (
                    f"actions.{action}.roles.{role}.read_only_fields[{index}].field_set",
                    rule["field_set"],
                )


def problems_in(relative: str, document: Any) -> list[str]:
    """What is wrong with one data document (``relative`` to policies/); [] when nothing."""
    schema_path = SCHEMAS.get(relative)
    if schema_path is None:
        return [f"policies/{relative}: no JSON Schema for it (add one to SCHEMAS)"]
    validator = Draft202012Validator(_schema(REPO / schema_path))
    found = [
        f"policies/{relative}: {error.json_path}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    ]
    if not found and relative == "salesguard/tiers/data.json":
        field_sets = document["field_sets"]
        found = [
            f"policies/{relative}: {where}: no field set {name!r} in field_sets"
            for where, name in _field_set_references(document)
            if name not in field_sets
        ]
    return found


def problems(policies: Path = POLICIES) -> list[str]:
    """Every problem in every data document under ``policies``."""
    documents = {
        path.relative_to(policies).as_posix(): path for path in sorted(policies.rglob("data.json"))
    }
    found = [
        f"policies/{relative}: named in SCHEMAS but missing"
        for relative in SCHEMAS
        if relative not in documents
    ]
    for relative, path in documents.items():
        found += problems_in(relative, json.loads(path.read_text()))
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(problem, file=sys.stderr)
    if not found:
        print(f"policy data: {len(SCHEMAS)} documents match their schemas")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
