"""The HR console's route: its page under a strict Content-Security-Policy, its own assets
only (with their integrity), its operations straight from the shipped manifest, and a size
budget. tests/browser/test_console.py runs the console itself in Chromium."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from gateway.tests.page_support import Tags, directives
from salesguard.errors import ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_gateway.console import (
    ASSETS_DIR,
    ASSETS_ROUTE,
    CONSOLE_PATH,
    CONTENT_SECURITY_POLICY,
    ENTRY,
    OPERATIONS,
    MissingOperation,
    asset_files,
    console_operations,
    content_security_policy,
    photo_origins,
)
from salesguard_gateway.persisted import registered_operations
from salesguard_gateway.settings import GatewaySettings
from tests.harness import Suite
from tests.org import Org

# The budget is 300 KB gzipped for everything the console loads; it is far below.
BUDGET_GZIPPED = 300 * 1024
IMPORT = re.compile(r"""^import .* from "\./([a-z0-9-]+\.js)";$""", re.MULTILINE)


async def test_the_page_is_served_under_a_strict_policy(suite: Suite) -> None:
    page = await suite.client.get(CONSOLE_PATH)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    policy = directives(CONTENT_SECURITY_POLICY)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no CDN
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]


async def test_the_page_loads_only_its_own_assets_with_their_integrity(suite: Suite) -> None:
    tags = Tags()
    tags.feed((await suite.client.get(CONSOLE_PATH)).text)
    assert tags.inline_styles == 0
    # Every script is a module of the gateway's, or a data block (which never runs).
    code = [tag for tag in tags.scripts if tag.get("type") != "application/json"]
    assert [tag.get("type") for tag in code] == ["module"]
    for tag in [*code, *tags.stylesheets]:
        url = str(tag.get("src") or tag.get("href"))
        assert urlsplit(url).netloc == "" and url.startswith("console/assets/"), url
        asset = await suite.client.get(f"/{url}")
        assert asset.status_code == 200, url
        digest = base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
        assert tag["integrity"] == f"sha384-{digest}", url
        kind = "text/css" if urlsplit(url).path.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(kind), url


async def test_every_module_it_imports_is_served(suite: Suite) -> None:
    modules = [path for path in asset_files() if path.suffix == ".js"]
    for module in modules:
        for imported in IMPORT.findall(module.read_text(encoding="utf-8")):
            assert (ASSETS_DIR / imported).is_file(), f"{module.name} imports {imported}"
            # The page loads the entry under a versioned URL: imported plainly, it would
            # run a second time (two routers, two subscriptions).
            assert imported != ENTRY, f"{module.name} imports the entry module"
        served = await suite.client.get(f"{ASSETS_ROUTE}/{module.name}")
        assert served.status_code == 200
        assert served.content == module.read_bytes()
    assert (await suite.client.get(f"{ASSETS_ROUTE}/../console.py")).status_code == 404


async def test_the_page_carries_the_registered_operations_it_runs(suite: Suite) -> None:
    tags = Tags()
    tags.feed((await suite.client.get(CONSOLE_PATH)).text)
    (block,) = tags.data_blocks
    carried = json.loads(block)
    registered = registered_operations()
    assert list(carried) == list(OPERATIONS)
    for name, operation in carried.items():
        shipped = registered[operation["id"]]  # the hash the gateway accepts alone
        assert (shipped.name, shipped.type, shipped.body) == (
            name,
            operation["type"],
            operation["body"],
        )
    assert carried["HrAlertRaised"]["type"] == "subscription"


def test_photos_signed_by_s3_may_load_from_it() -> None:
    full = GatewaySettings.model_construct(s3_endpoint="minio.example.com:9000", s3_secure=True)
    assert photo_origins(full) == ("https://minio.example.com:9000",)
    policy = directives(content_security_policy(photo_origins(full)))
    assert policy["img-src"] == ["'self'", "data:", "blob:", "https://minio.example.com:9000"]
    assert policy["connect-src"] == ["'self'"]
    assert photo_origins(GatewaySettings.model_construct(s3_endpoint=None)) == ()


def test_a_manifest_without_one_of_them_is_refused() -> None:
    registered = {
        key: operation
        for key, operation in registered_operations().items()
        if operation.name != "HrDecideAlert"
    }
    with pytest.raises(MissingOperation, match="HrDecideAlert"):
        console_operations(registered)


def test_the_assets_stay_within_the_size_budget() -> None:
    total = sum(len(gzip.compress(path.read_bytes(), 9)) for path in asset_files())
    assert 0 < total < BUDGET_GZIPPED, total


def test_no_asset_keeps_a_token_anywhere_but_the_session() -> None:
    # The token lives in memory and sessionStorage only: never localStorage, a cookie or a URL.
    for path in asset_files():
        text = path.read_text(encoding="utf-8")
        assert "localStorage" not in text, path.name
        assert "document.cookie" not in text, path.name
        assert "eval(" not in text and ".innerHTML" not in text, path.name


MAY = "{ may }"


async def test_may_lists_what_the_policy_grants_each_role(suite: Suite, org: Org) -> None:
    async def may(as_: str) -> list[str]:
        return list((await suite.gql(MAY, as_=as_)).ok()["may"])

    assert await may(org.junior) == ["READ_CHECK_INS"]
    assert await may(org.hr) == [
        "READ_ALERTS",
        "DECIDE_ALERTS",
        "READ_RISK",
        "READ_TIMELINES",
        "READ_CHECK_INS",
    ]
    assert await may(org.manager) == [
        "READ_ALERTS",
        "DECIDE_ALERTS",
        "READ_RISK",
        "READ_TIMELINES",
        "READ_CHECK_INS",
        "DECIDE_ORDERS",
        "DECIDE_EXPORTS",
    ]
    # Finance reads alerts and decides orders' finance steps, but decides no alert.
    assert await may(org.finance) == ["READ_ALERTS", "DECIDE_ORDERS"]


async def test_may_asks_the_directory_once(
    suite: Suite, org: Org, calls: Callable[[], list[str]]
) -> None:
    (await suite.gql(MAY, as_=org.hr)).ok()
    served = calls()
    assert served.count("ListPermittedActions") == 1


async def test_the_directory_answers_only_known_actions_and_few_at_once(
    suite: Suite, org: Org
) -> None:
    attendance = suite.running["attendance"]
    channels = ServiceChannels(
        {"attendance": attendance.address}, attendance.runtime.internal_secret, 10
    )
    try:
        stub = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
        with acting_as(Principal(org.hr, ("HR",), None, org.hq, hq=True)):
            asked = ["risk.read", "no.such.action", "alerts.update", "risk.read"]
            answer = await stub.ListPermittedActions(
                directory_pb2.ListPermittedActionsRequest(actions=asked)
            )
            # Each once, in the order asked; an unknown action is refused, so left out.
            assert list(answer.actions) == ["risk.read", "alerts.update"]
            with pytest.raises(ServiceError) as refused:
                await stub.ListPermittedActions(
                    directory_pb2.ListPermittedActionsRequest(actions=["risk.read"] * 51)
                )
            assert refused.value.code.value == "VALIDATION"
    finally:
        await channels.close()
