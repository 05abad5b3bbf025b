"""The HR console: a reference frontend served by the gateway at ``/console``.

Plain ES modules and one stylesheet under ``console_assets/`` (no framework, no build
step, no CDN), under a strict Content-Security-Policy. It speaks only the public GraphQL
API, and only through the committed operations of ``gateway/operations/`` (HTTP requests
send their hash alone, so it works with ``registered_operations_only``; a subscription
over the websocket sends its registered text). The page carries the console's operations
(name, hash, text) as a JSON data block, read from the manifest the gateway ships, so
they cannot drift from what the gateway accepts.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from salesguard.settings import Settings
from salesguard_gateway.persisted import RegisteredOperation, registered_operations

CONSOLE_PATH = "/console"
ASSETS_DIR = Path(__file__).with_name("console_assets")
ASSETS_ROUTE = "/console/assets"
# The entry module (it imports the others) and the stylesheet.
ENTRY = "app.js"
STYLESHEET = "console.css"
# The committed operations the console runs (gateway/operations/hr-console.graphql and
# manager.graphql); the page is refused at start-up if the manifest lacks one.
OPERATIONS = (
    "HrConsoleMe",
    "HrBranches",
    "HrBranchEmployees",
    "HrEmployee",
    "HrAlerts",
    "HrAlert",
    "HrAlertRaised",
    "HrDecideAlert",
    "HrRiskRanking",
    "HrEmployeeRisk",
    "HrEmployeeTimeline",
    "ManagerOrdersAwaitingDecision",
    "ManagerDecideOrder",
    "ManagerExportRequestsAwaitingDecision",
    "ManagerDecideExport",
)


def content_security_policy(image_origins: tuple[str, ...] = ()) -> str:
    """The page's policy; ``image_origins``: where else check-in photos are served from
    (the S3 endpoint their signed URLs name)."""
    return "; ".join(
        (
            "default-src 'none'",
            # Module scripts of the gateway only; the operations block is data, never run.
            "script-src 'self'",
            "style-src 'self'",
            # Check-in photos: signed URLs of the gateway's /objects, or of the object store.
            " ".join(("img-src 'self' data: blob:", *image_origins)),
            # Queries over HTTP and alertRaised over a websocket, both to the page's origin.
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


CONTENT_SECURITY_POLICY = content_security_policy()


def photo_origins(settings: Settings) -> tuple[str, ...]:
    """The object store's origin when photos' signed URLs point at S3, not at the gateway."""
    if not settings.s3_endpoint:
        return ()
    scheme = "https" if settings.s3_secure else "http"
    return (f"{scheme}://{settings.s3_endpoint}",)


class MissingOperation(RuntimeError):
    """The shipped manifest lacks an operation the console runs (`make operations`)."""


def console_operations(
    registered: dict[str, RegisteredOperation] | None = None,
) -> dict[str, dict[str, str]]:
    """The console's operations by name: their hash, type and registered text."""
    by_name = {op.name: op for op in (registered or registered_operations()).values()}
    missing = [name for name in OPERATIONS if name not in by_name]
    if missing:
        raise MissingOperation(f"not in persisted_operations.json: {', '.join(missing)}")
    return {
        name: {"id": by_name[name].id, "type": by_name[name].type, "body": by_name[name].body}
        for name in OPERATIONS
    }


def asset_files() -> list[Path]:
    """Every file the console may load (what the size budget counts)."""
    return sorted(path for path in ASSETS_DIR.rglob("*") if path.is_file())


def _asset_url(name: str) -> tuple[str, str]:
    content = (ASSETS_DIR / name).read_bytes()
    # The digest busts caches when the file changes, and lets the browser check it.
    version = hashlib.sha256(content).hexdigest()[:16]
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()
    # Relative to /console, so the page also works behind a path prefix.
    return html.escape(f"{ASSETS_ROUTE.lstrip('/')}/{name}?v={version}"), integrity


def _page_html() -> str:
    style, style_integrity = _asset_url(STYLESHEET)
    script, script_integrity = _asset_url(ENTRY)
    # "</" cannot close the data block early: JSON escapes it as "<\/".
    operations = json.dumps(console_operations(), ensure_ascii=False).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>salesguard console</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="{style}" integrity="{style_integrity}">
    <script type="module" src="{script}" integrity="{script_integrity}"></script>
  </head>
  <body>
    <a class="skip" href="#main">Skip to content</a>
    <header id="top"></header>
    <main id="main" tabindex="-1"><p>Loading…</p></main>
    <div id="live" class="visually-hidden" aria-live="polite"></div>
    <script type="application/json" id="operations">{operations}</script>
  </body>
</html>
"""


class ConsolePage:
    """The page, rendered once per gateway."""

    def __init__(self, image_origins: tuple[str, ...] = ()) -> None:
        self.html = _page_html()
        self.policy = content_security_policy(image_origins)

    async def endpoint(self, request: Request) -> HTMLResponse:
        return HTMLResponse(
            self.html,
            headers={
                "Content-Security-Policy": self.policy,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                # The token lives in this tab's memory or sessionStorage; nothing to cache.
                "Cache-Control": "no-store",
            },
        )


def console_routes(settings: Settings) -> list[BaseRoute]:
    page = ConsolePage(photo_origins(settings))
    return [
        Route(CONSOLE_PATH, page.endpoint, methods=["GET"]),
        Mount(ASSETS_ROUTE, app=StaticFiles(directory=ASSETS_DIR), name="console-assets"),
    ]
