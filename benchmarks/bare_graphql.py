"""A bare strawberry GraphQL app, served as the gateway is: strawberry's floor as it comes.

One field, no middleware, no authentication, no extension but the parser and validation
caches the gateway keeps too, on the gateway's uvicorn protocol (``serving.uvicorn_config``)
and event loop. ``{ __typename }`` against it is what strawberry's ASGI view takes for the
least GraphQL request on this machine, set by the customers benchmark beside the gateway's
own floor (issue 16). The gateway, with its authentication, middleware and extensions,
has answered it no slower in every run so far (0.36-0.56 ms against 0.38-0.75).

    uv run python -m benchmarks.bare_graphql PORT
"""

from __future__ import annotations

import sys

import strawberry
import uvicorn
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

from salesguard import eventloop
from salesguard_gateway.serving import uvicorn_config


@strawberry.type
class Query:
    hello: str = "hello"


def main() -> None:
    port = int(sys.argv[1])
    schema = strawberry.Schema(
        Query, extensions=[lambda: ParserCache(maxsize=128), lambda: ValidationCache(maxsize=128)]
    )
    config = uvicorn_config(
        GraphQL(schema),
        host="127.0.0.1",
        port=port,
        access_log=False,
        lifespan="off",
        loop=eventloop.uvicorn_loop(True),
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
