"""GraphiQL served whole by the gateway: no CDN, no inline script, a strict CSP.

strawberry's own GraphiQL page loads React and GraphiQL from a public CDN, so on an
air-gapped or strict-CSP network it stays at "Loading...". This page loads only files
the gateway package ships under ``graphiql_assets/``: React, ReactDOM and GraphiQL,
byte for byte as published on npm (versions and SHA-256 pinned in
``vendor/MANIFEST.tsv``, their licences beside them; ``scripts/vendor-graphiql.sh``
re-fetches and checks them), and the page's own boot script and stylesheet. They are
served under ``/graphql/assets/`` only while GraphiQL is enabled (the dev environment):
below /graphql, so whatever exposes the API (the chart's Ingress or HTTPRoute, a proxy)
exposes the whole of GraphiQL too.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

ASSETS_DIR = Path(__file__).with_name("graphiql_assets")
ASSETS_ROUTE = "/graphql/assets"
MANIFEST = ASSETS_DIR / "vendor" / "MANIFEST.tsv"
# The page's own files, loaded after the vendored ones.
PAGE_FILES = ("graphiql-page.css", "graphiql-page.js")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        # A dialog's scroll lock (settings, short keys) would add an inline <style>; it is
        # refused, which changes nothing here: the page never scrolls (graphiql-page.css).
        "style-src 'self'",
        # GraphiQL's stylesheet embeds its fonts and icons as data: URLs.
        "font-src data:",
        "img-src data:",
        # Queries over HTTP and subscriptions over a websocket, both to the page's origin.
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

DEFAULT_QUERY = "{\n  me {\n    id\n    name\n    roles\n  }\n}\n"
# Every request needs a bearer token; the placeholder says where a dev one comes from.
DEFAULT_HEADERS = json.dumps(
    {"Authorization": "Bearer <paste the output of: salesguard token admin>"}, indent=2
)


@dataclass(frozen=True)
class VendoredFile:
    """One line of the manifest: a file of an npm package, as vendored."""

    package: str
    version: str
    path_in_package: str
    sha256: str

    @property
    def asset_path(self) -> str:
        """Where it lies under ``graphiql_assets/`` (and is served under ASSETS_ROUTE)."""
        folder = f"{self.package.replace('/', '-')}-{self.version}"
        return f"vendor/{folder}/{PurePosixPath(self.path_in_package).name}"


def vendored_files(manifest: Path = MANIFEST) -> list[VendoredFile]:
    files = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            package, version, path_in_package, sha256 = line.split("\t")
            files.append(VendoredFile(package, version, path_in_package, sha256))
    return files


def _tag(asset_path: str) -> str:
    content = (ASSETS_DIR / asset_path).read_bytes()
    # The digest busts caches when a file changes, and lets the browser check what it got.
    version = hashlib.sha256(content).hexdigest()[:16]
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()
    # Relative to /graphql, so the page also works behind a path prefix.
    url = html.escape(f"{ASSETS_ROUTE.lstrip('/')}/{asset_path}?v={version}")
    if asset_path.endswith(".css"):
        return f'<link rel="stylesheet" href="{url}" integrity="{integrity}">'
    return f'<script src="{url}" integrity="{integrity}"></script>'


def _page_html() -> str:
    assets = [file.asset_path for file in vendored_files()] + list(PAGE_FILES)
    styles = [_tag(path) for path in assets if path.endswith(".css")]
    scripts = [_tag(path) for path in assets if path.endswith(".js")]
    head = "\n    ".join(styles)
    body = "\n    ".join(scripts)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>salesguard GraphiQL</title>
    <link rel="icon" href="data:,">
    {head}
  </head>
  <body>
    <div id="graphiql" data-default-query="{html.escape(DEFAULT_QUERY)}"
         data-default-headers="{html.escape(DEFAULT_HEADERS)}">Loading…</div>
    {body}
  </body>
</html>
"""


class GraphiQLPage:
    """The page, rendered once per gateway from the files it names."""

    def __init__(self) -> None:
        self.html = _page_html()

    def response(self) -> HTMLResponse:
        return HTMLResponse(
            self.html,
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )


def asset_routes() -> list[Mount]:
    return [Mount(ASSETS_ROUTE, app=StaticFiles(directory=ASSETS_DIR), name="graphiql-assets")]
