"""Print the SDL exactly as ``strawberry export-schema salesguard_gateway.schema:schema`` does.

``python -m salesguard_gateway.schema --output gateway/schema.graphql`` refreshes the
snapshot without strawberry's optional CLI dependencies (typer).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from strawberry.printer import print_schema

from salesguard_gateway.schema import schema


def sdl() -> str:
    return print_schema(schema) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m salesguard_gateway.schema")
    parser.add_argument("--output", "-o", type=Path, help="file to write; default: stdout")
    args = parser.parse_args()
    if args.output is None:
        print(sdl(), end="")
    else:
        args.output.write_text(sdl(), encoding="utf-8")
        print(f"Schema exported to {args.output}")


if __name__ == "__main__":
    main()
