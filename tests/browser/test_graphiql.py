"""GraphiQL in a real browser with no network but loopback: it loads air-gapped.

The gateway runs under uvicorn on a loopback port over the embedded suite's services;
headless Chromium (tests/browser/chromium.py) opens its GraphiQL page, types a bearer
token into the headers editor and a query into the query editor, runs it and reads the
answer. Every request the page made must have stayed on 127.0.0.1, and its strict
Content-Security-Policy must have blocked nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from salesguard_gateway.graphiql import ASSETS_ROUTE, PAGE_FILES, vendored_files
from tests.browser.chromium import BrowserError, Chromium, Page
from tests.harness import Suite, employee_id
from tests.support.subscriptions import serve_gateway

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_TAB = '.graphiql-editor-tools button[data-name="headers"]'
HEADERS_EDITOR = 'section[aria-label="Headers"] .graphiql-editor:not(.hidden) .CodeMirror'
EXECUTE = ".graphiql-execute-button"
RESPONSE = ".graphiql-response .CodeMirror"


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Chromium]:
    async with Chromium.launch(tmp_path / "profile") as browser:
        yield browser


def exists(selector: str) -> str:
    return f"!!document.querySelector({json.dumps(selector)})"


async def type_into(page: Page, editor: str, text: str) -> None:
    """Click into a CodeMirror editor, select all and type ``text`` over it."""
    await page.click(editor)
    await page.select_all()
    await page.type_text(text)


def off_loopback(urls: list[str]) -> list[str]:
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in ("data", "about") and urlsplit(url).hostname != "127.0.0.1"
    ]


async def test_graphiql_runs_a_query_with_no_network_but_loopback(
    embedded_suite: Suite, browser: Chromium, tmp_path: Path
) -> None:
    async with serve_gateway(embedded_suite) as websocket_url:
        page = await browser.new_page()
        await page.navigate(websocket_url.replace("ws://", "http://", 1))
        await page.wait_for(exists(QUERY_EDITOR), "the query editor")

        await page.click(HEADERS_TAB)
        await page.wait_for(exists(HEADERS_EDITOR), "the headers editor")
        bearer = f"Bearer {embedded_suite.token('admin')}"
        await type_into(page, HEADERS_EDITOR, json.dumps({"Authorization": bearer}))
        await type_into(page, QUERY_EDITOR, "{ me { id } }")
        await page.click(EXECUTE)
        shown = await page.wait_for(
            f"document.querySelector({json.dumps(RESPONSE)}).CodeMirror.getValue()",
            "the response",
        )
        await page.screenshot(tmp_path / "graphiql.png")  # kept by pytest, to look at

        assert json.loads(shown)["data"] == {"me": {"id": employee_id("admin")}}, shown
        assert await page.csp_violations() == []
        assert page.exceptions == []
        assert off_loopback(page.requested) == []
        # The page, its assets and the query all came from the gateway.
        fetched = {urlsplit(url).path for url in page.requested if url.startswith("http:")}
        named = [file.asset_path for file in vendored_files() if file.path_in_package != "LICENSE"]
        assets = {f"{ASSETS_ROUTE}/{path}" for path in [*named, *PAGE_FILES]}
        assert fetched == {"/graphql", *assets}


async def test_the_browser_reaches_nothing_but_loopback(browser: Chromium) -> None:
    # What keeps the test above honest: a request off loopback meets the refusing proxy
    # (and would find no name resolved behind it).
    page = await browser.new_page()
    with pytest.raises(BrowserError, match="ERR_PROXY_CONNECTION_FAILED"):
        await page.navigate("http://example.com/")
