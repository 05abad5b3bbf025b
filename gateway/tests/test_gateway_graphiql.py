"""GraphiQL served whole by the gateway, to work air-gapped: its page names only the gateway's own
assets, under a strict Content-Security-Policy; the vendored files are those the manifest
pins, with their licences, and ship in the wheel (with the HR console's). tests/browser runs the page in Chromium."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.tests.conftest import StartSuite
from gateway.tests.page_support import Tags, directives
from salesguard_gateway.app import GRAPHQL_PATH
from salesguard_gateway.console import asset_files as console_asset_files
from salesguard_gateway.graphiql import (
    ASSETS_DIR,
    ASSETS_ROUTE,
    CONTENT_SECURITY_POLICY,
    PAGE_FILES,
    vendored_files,
)
from tests.harness import REPO, Suite

HTML = {"Accept": "text/html"}


async def test_the_page_loads_only_the_gateways_own_assets(suite: Suite) -> None:
    page = await suite.client.get("/graphql", headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    policy = directives(CONTENT_SECURITY_POLICY)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no CDN
    assert policy["connect-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]

    tags = Tags()
    tags.feed(page.text)
    assert tags.inline_script == "" and tags.inline_styles == 0
    named = [str(tag.get("src") or tag.get("href")).split("?")[0] for tag in tags.scripts]
    named += [str(tag.get("href")).split("?")[0] for tag in tags.stylesheets]
    expected = [file.asset_path for file in vendored_files() if file.path_in_package != "LICENSE"]
    expected += PAGE_FILES
    assert sorted(named) == sorted(f"graphql/assets/{path}" for path in expected)
    for tag in [*tags.scripts, *tags.stylesheets]:
        url = tag.get("src") or tag.get("href")
        assert url is not None and urlsplit(url).netloc == ""
        assert url.startswith("graphql/assets/"), url  # relative: works behind a path prefix
        asset = await suite.client.get(f"/{url}")
        assert asset.status_code == 200, url
        digest = base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
        assert tag["integrity"] == f"sha384-{digest}", url
        kind = "text/css" if url.split("?")[0].endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(kind), url


def test_the_assets_lie_below_the_api() -> None:
    # The chart's Ingress and HTTPRoute route /graphql (and /downloads) to the gateway,
    # nothing else: assets elsewhere would leave GraphiQL blank behind them.
    assert ASSETS_ROUTE.startswith(f"{GRAPHQL_PATH}/")


async def test_the_licences_are_served_beside_their_files(suite: Suite) -> None:
    licences = [file for file in vendored_files() if file.path_in_package == "LICENSE"]
    assert {file.package for file in licences} == {file.package for file in vendored_files()}
    for file in licences:
        response = await suite.client.get(f"{ASSETS_ROUTE}/{file.asset_path}")
        assert response.status_code == 200
        assert "MIT License" in response.text


def test_the_vendored_files_are_the_ones_the_manifest_pins() -> None:
    vendored = vendored_files()
    for file in vendored:
        content = (ASSETS_DIR / file.asset_path).read_bytes()
        assert hashlib.sha256(content).hexdigest() == file.sha256, file
    on_disk = {
        path.relative_to(ASSETS_DIR).as_posix()
        for path in (ASSETS_DIR / "vendor").rglob("*")
        if path.is_file() and path.name != "MANIFEST.tsv"
    }
    assert on_disk == {file.asset_path for file in vendored}  # nothing unlisted, nothing missing


async def test_graphiql_and_its_assets_are_off_when_disabled(start_suite: StartSuite) -> None:
    suite = await start_suite(graphiql=False)
    assert (await suite.client.get("/graphql", headers=HTML)).status_code == 404
    asset = vendored_files()[0].asset_path
    assert (await suite.client.get(f"{ASSETS_ROUTE}/{asset}")).status_code == 404


def test_the_gateway_wheel_ships_the_assets(tmp_path: Path) -> None:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (run the tests with `uv run pytest`)")
    build = [uv, "build", "--offline", "--quiet", "--wheel", "--package", "salesguard-gateway"]
    subprocess.run(  # noqa: S603 (uv itself, with fixed arguments)
        [*build, "--out-dir", str(tmp_path)],
        cwd=REPO,
        check=True,
    )
    (wheel,) = tmp_path.glob("salesguard_gateway-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = "salesguard_gateway/graphiql_assets"
    shipped = {f"{package}/{file.asset_path}" for file in vendored_files()}
    shipped |= {f"{package}/{name}" for name in PAGE_FILES}
    shipped.add(f"{package}/vendor/MANIFEST.tsv")
    # The HR console's files too (salesguard_gateway.console).
    shipped |= {f"salesguard_gateway/console_assets/{path.name}" for path in console_asset_files()}
    assert shipped <= names, shipped - names
