"""Headless Chromium, driven over the DevTools protocol, with no network but loopback.

Debian's ``chromium`` (installed by ``scripts/ensure-chromium.sh``) runs with a fresh
profile; every host name but 127.0.0.1 resolves to nothing, and every request not to
loopback goes to a proxy that refuses it. The protocol is spoken over the
``websockets`` client the tests already use, so neither chromedriver nor selenium is
needed. ``Page`` records every URL the page asked for (``requested``), every
Content-Security-Policy violation (``csp_violations``) and every uncaught exception
(``exceptions``), so a test can say what the page did besides what it shows.

Typical use::

    async with Chromium.launch(tmp_path / "profile") as browser:
        page = await browser.new_page()
        await page.navigate("http://127.0.0.1:8000/graphql")
        await page.wait_for("!!document.querySelector('.graphiql-query-editor')", "the editor")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

INSTALL_HINT = "install it with: bash scripts/ensure-chromium.sh"
# Nothing listens on the discard port: a request sent to this proxy is refused.
REFUSING_PROXY = "127.0.0.1:9"
FLAGS = (
    "--headless",
    "--no-sandbox",  # as root, and in containers without user namespaces
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # a small /dev/shm in containers
    "--window-size=1280,900",
    # No network but loopback: no name resolves, and anything else meets a dead proxy
    # (Chromium never proxies loopback).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    f"--proxy-server={REFUSING_PROXY}",
    "--remote-debugging-port=0",
)
START_SECONDS = 30.0
# Installed before any script of a page runs (DevTools-injected scripts bypass its CSP).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI}`);
});
"""


class BrowserError(RuntimeError):
    """Chromium did not start, or a DevTools command failed."""


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError(f"no chromium on PATH; {INSTALL_HINT}")


class Chromium:
    """One browser process and its DevTools connection (flat sessions, one per page)."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._ids = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @asynccontextmanager
    async def launch(cls, profile_dir: Path) -> AsyncIterator[Chromium]:
        await asyncio.to_thread(_fresh_start, profile_dir)
        log_path = profile_dir.parent / f"{profile_dir.name}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                find_chromium(),
                *FLAGS,
                f"--user-data-dir={profile_dir}",
                "about:blank",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Its own process group, so its helpers (zygote, renderers) end with it.
                start_new_session=True,
            )
        try:
            endpoint = await _devtools_endpoint(profile_dir, process, log_path)
            async with connect(endpoint, max_size=None, proxy=None) as connection:
                browser = cls(connection)
                try:
                    yield browser
                finally:
                    await browser._close()
        finally:
            await _end(process)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        answer = self._pending[self._ids] = asyncio.get_running_loop().create_future()
        await self._connection.send(json.dumps(message))
        return await asyncio.wait_for(answer, 30)

    async def new_page(self) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = self._pages[attached["sessionId"]] = Page(self, attached["sessionId"])
        for domain in ("Page", "Network", "Runtime"):
            await page.send(f"{domain}.enable")
        await page.send("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_CSP_VIOLATIONS})
        return page

    async def _read(self) -> None:
        async for raw in self._connection:
            message = json.loads(raw)
            if "id" in message:
                answer = self._pending.pop(message["id"])
                if "error" in message:
                    answer.set_exception(BrowserError(str(message["error"])))
                else:
                    answer.set_result(message.get("result", {}))
            elif (page := self._pages.get(message.get("sessionId", ""))) is not None:
                page.on_event(message["method"], message.get("params", {}))

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send("Browser.close"), 5)
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


def _fresh_start(profile_dir: Path) -> None:
    profile_dir.mkdir(parents=True, exist_ok=True)
    # A reused profile may hold the port of a browser long gone.
    (profile_dir / "DevToolsActivePort").unlink(missing_ok=True)


async def _devtools_endpoint(
    profile_dir: Path, process: asyncio.subprocess.Process, log_path: Path
) -> str:
    """The browser's DevTools websocket, which Chromium writes to its profile once it listens."""
    active_port = profile_dir / "DevToolsActivePort"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.returncode is not None:
            break
        lines = active_port.read_text().split() if active_port.exists() else []
        if len(lines) == 2:
            port, path = lines
            return f"ws://127.0.0.1:{port}{path}"
        await asyncio.sleep(0.05)
    tail = (await asyncio.to_thread(log_path.read_text, errors="replace"))[-2000:]
    raise BrowserError(f"chromium did not start (exit {process.returncode}): {tail}")


async def _end(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 10)
    # Whatever is left of the group (the browser itself, if it did not close).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


class Page:
    """One tab: commands go to its session; its events are recorded as they come."""

    def __init__(self, browser: Chromium, session_id: str) -> None:
        self._browser = browser
        self._session_id = session_id
        self.requested: list[str] = []
        self.exceptions: list[str] = []

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent":
            self.requested.append(params["request"]["url"])
        elif method == "Network.webSocketCreated":
            self.requested.append(params["url"])
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.exceptions.append(str(details.get("exception", {}).get("description", details)))

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._browser.send(method, params, self._session_id)

    async def navigate(self, url: str) -> None:
        result = await self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"{url}: {result['errorText']}")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, what: str, within: float = 30.0) -> Any:
        """The expression's first truthy value, polled; fails naming ``what`` it waited for."""
        deadline = time.monotonic() + within
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                body = await self.evaluate("document.body ? document.body.innerText : ''")
                raise AssertionError(
                    f"waited {within:.0f} s for {what}; the page shows {body[:300]!r}, "
                    f"asked for {self.requested}, threw {self.exceptions}"
                )
            await asyncio.sleep(0.1)

    async def csp_violations(self) -> list[str]:
        return list(await self.evaluate("window.__cspViolations || []"))

    async def click(self, selector: str) -> None:
        """A left click in the middle of the first element ``selector`` matches."""
        box = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        await self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    async def select_all(self) -> None:
        """Ctrl+A in the focused element."""
        key = {"key": "a", "code": "KeyA", "windowsVirtualKeyCode": 65, "modifiers": 2}
        await self.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", **key})
        await self.send("Input.dispatchKeyEvent", {"type": "keyUp", **key})

    async def type_text(self, text: str) -> None:
        """Text as typed into the focused element (one input event, no key bindings)."""
        await self.send("Input.insertText", {"text": text})

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
