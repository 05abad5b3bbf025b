"""The HR console in a real browser, on the embedded suite served by uvicorn, with no network
but loopback and the gateway in its registered-operations-only mode.

The story of issue 15: HR signs in, an alert raised during the test appears without a
reload, HR opens the employee, sees the check-in on the map with its distance and reason,
opens the photo, resolves the alert as CLEARED and the employee's risk score drops, and
filters the alerts by branch (on the server: the list and its total are the branch's); a
junior rep signs in and is offered no alerts page, and finance no decision (the console
offers what Query.may lists); a manager finds another manager's export request in the
approvals queue and approves it; a zh-CN browser reads Chinese titles.
Screenshots of each page go to build/screenshots/ (two of them are in docs/console/).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.chromium import Chromium, Page
from tests.harness import REPO, Backends, Suite, employee_id, global_id, unique
from tests.org import Org, make_org, register
from tests.photos import jpeg, scene, upload
from tests.support.alerts import stored_alert
from tests.support.exports import request_export
from tests.support.field_visits import SITE, check_in
from tests.support.geo import offset
from tests.support.servers import free_port
from tests.support.subscriptions import SOURCES, serve_gateway, until_watching, watcher_count

SCREENSHOTS = REPO / "build" / "screenshots"
# How far from the customer's site the rep checks in: well outside the 300 m geofence.
AWAY_M = 850.0
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
async def console_suite(tmp_path: Path) -> AsyncIterator[tuple[Suite, int]]:
    """The embedded suite, signing object URLs for the port the console is served on (so
    the browser loads a check-in's photo from the page's own origin)."""
    port = free_port()
    suite = await Suite.start(
        Backends(), tmp_path / "suite", overrides={"public_url": f"http://127.0.0.1:{port}"}
    )
    yield suite, port
    await suite.stop()


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Chromium]:
    async with Chromium.launch(tmp_path / "profile") as browser:
        yield browser


def js(value: object) -> str:
    return json.dumps(value)


def exists(selector: str) -> str:
    return f"!!document.querySelector({js(selector)})"


def text_of(selector: str) -> str:
    return f"(document.querySelector({js(selector)}) || {{}}).textContent"


async def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(SCREENSHOTS / name)


async def press(page: Page, selector: str) -> None:
    """A click on the element, scrolled into the middle of the viewport first (as a
    person scrolls to a button below the fold)."""
    await page.evaluate(
        f"document.querySelector({js(selector)}).scrollIntoView({{block: 'center'}})"
    )
    await page.click(selector)


async def sign_in(page: Page, base: str, token: str) -> None:
    await page.navigate(f"{base}/console")
    await page.wait_for(exists("#token"), "the sign-in form")
    await press(page, "#token")
    await page.type_text(token)
    await press(page, "#sign-in button[type=submit]")
    await page.wait_for(exists("#me-name"), "the signed-in header")


async def shows_no_problems(page: Page) -> None:
    assert await page.csp_violations() == []
    assert page.exceptions == []
    off = [
        url
        for url in page.requested
        if urlsplit(url).scheme not in ("data", "about", "blob")
        and urlsplit(url).hostname != "127.0.0.1"
    ]
    assert off == []


async def test_hr_story_junior_and_chinese(
    console_suite: tuple[Suite, int], browser: Chromium
) -> None:
    suite, port = console_suite
    org: Org = await make_org(suite)
    site = offset(SITE, 3000, 30)
    customer = await register(
        suite, org.junior, name="上海外滩贸易", location={"lat": site[0], "lng": site[1]}
    )
    taken = datetime.now(UTC) - timedelta(minutes=20)
    away = offset(site, AWAY_M, 60)
    photo = await upload(suite, org.junior, jpeg(scene(15), gps=away, taken_at=taken))

    base_watches = watcher_count(suite)
    # Only registered operations run: the console must speak by hash.
    async with serve_gateway(suite, port=port, registered_operations_only=True) as ws_url:
        base = ws_url.replace("ws://", "http://", 1).removesuffix("/graphql")

        # -- HR signs in and watches the alerts ---------------------------------------------
        hr = await browser.new_page()
        await hr.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
        )
        await sign_in(hr, base, suite.token(org.hr))
        await hr.wait_for(exists("#alerts"), "the alerts table")
        await hr.wait_for("document.querySelector('#live-state').dataset.live", "live alerts")
        await until_watching(suite, base_watches + SOURCES)
        await hr.evaluate("window.__notReloaded = true")

        # The rep checks in far from the customer, with a photo: LOCATION_MISMATCH.
        visit = await check_in(
            suite,
            org.junior,
            away,
            taken,
            customerId=customer["id"],
            photoKeys=[photo],
            deviceId=unique("device"),
        )
        assert "LOCATION_MISMATCH" in {reason["code"] for reason in visit["reasons"]}
        fresh = "#alert-rows tr.fresh"
        await hr.wait_for(
            f"[...document.querySelectorAll({js(fresh)})].some("
            "r => r.querySelector('.kind').textContent === 'Location mismatch')",
            "the raised alert, live",
        )
        assert await hr.evaluate("window.__notReloaded === true"), "the page reloaded"
        alert_id = await hr.evaluate(
            f"[...document.querySelectorAll({js(fresh)})].find("
            "r => r.querySelector('.kind').textContent === 'Location mismatch').dataset.alert"
        )
        await shoot(hr, "alerts.png")

        # -- the branch's risk ranking ---------------------------------------------------------
        branch = global_id("Branch", org.branch)
        await hr.evaluate(f"location.hash = {js('#/risk/' + branch)}")
        junior_row = f"#ranking li[data-employee={js(employee_id(org.junior))}]"
        await hr.wait_for(exists(f"{junior_row} svg.signals rect"), "the junior's signal bars")
        await shoot(hr, "risk.png")

        # -- the employee's evidence: the check-in on the map, its reason, its photo ----------
        await press(hr, f"{junior_row} a.employee-link")
        await hr.wait_for(exists("#timeline svg.map"), "the check-in's map")
        distance = float(await hr.evaluate("document.querySelector('svg.map').dataset.distance"))
        assert distance == pytest.approx(AWAY_M, abs=5)
        assert await hr.evaluate("document.querySelector('svg.map').classList.contains('outside')")
        label = await hr.evaluate(text_of("svg.map .distance-label"))
        assert label.replace(",", "").startswith(f"{AWAY_M:.0f}"), label
        reason = await hr.evaluate(text_of("#timeline li[data-code=LOCATION_MISMATCH]"))
        assert "geofence" in reason, reason
        score_before = float(await hr.evaluate(text_of("#employee-score")))
        assert score_before > 0

        await press(hr, "#timeline .photo-button")
        await hr.wait_for(
            "(() => { const i = document.querySelector('#photo-image');"
            " return document.querySelector('#photo-dialog').open && i.complete"
            " && i.naturalWidth === 640; })()",
            "the photo, loaded",
        )
        await shoot(hr, "employee-photo.png")
        # The dialog is modal and closes from the keyboard.
        key = {"key": "Escape", "code": "Escape", "windowsVirtualKeyCode": 27}
        await hr.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", **key})
        await hr.send("Input.dispatchKeyEvent", {"type": "keyUp", **key})
        await hr.wait_for("!document.querySelector('#photo-dialog').open", "the photo closed")
        await hr.evaluate("document.querySelector('svg.map').scrollIntoView({block: 'center'})")
        await shoot(hr, "employee.png")

        # -- the decision: resolved as CLEARED, and the score drops ---------------------------
        await press(hr, f"#evidence a[data-alert={js(alert_id)}]")
        await hr.wait_for(exists("#decision #resolve"), "the decision form")
        await press(hr, "#resolution-cleared")
        await press(hr, "#note")
        await hr.type_text("Visited the customer's new warehouse; address update pending.")
        await press(hr, "#resolve")
        await hr.wait_for(f"{text_of('#alert-status')}.includes('Resolved')", "the alert resolved")
        history = await hr.evaluate(text_of("#history tbody"))
        assert "Cleared" in history and "warehouse" in history, history
        await shoot(hr, "decision.png")

        await press(hr, "#alert-employee")
        await hr.wait_for(exists("#employee-score"), "the employee's risk again")
        score_after = float(await hr.evaluate(text_of("#employee-score")))
        assert score_after < score_before

        # -- the branch filter, applied by the server: the page and the total are the branch's --
        await hr.evaluate("location.hash = '#/alerts'")
        await hr.wait_for(exists("#alert-filters #branch"), "the alert filters")

        async def filter_by_branch(branch_id: str) -> None:
            await hr.evaluate(
                "(() => { const b = document.querySelector('#branch');"
                f" b.value = {js(branch_id)}; b.dispatchEvent(new Event('change'));"
                " document.querySelector('#alert-filters').requestSubmit(); })()"
            )

        await filter_by_branch(global_id("Branch", org.other_branch))
        await hr.wait_for(
            f"{text_of('#alert-count')} === 'total 0' && {exists('#alert-rows tr.empty')}",
            "no alerts in the other branch",
        )
        await filter_by_branch(branch)
        await hr.wait_for(exists(f"#alert-rows tr[data-alert={js(alert_id)}]"), "the branch's")
        rows = await hr.evaluate("document.querySelectorAll('#alert-rows tr[data-alert]').length")
        assert await hr.evaluate(text_of("#alert-count")) == f"total {rows}"
        # The branch still lists its employees for the employee filter.
        await hr.wait_for(
            exists(f"#employee option[value={js(employee_id(org.junior))}]"),
            "the branch's employees",
        )
        await shows_no_problems(hr)

        # -- the manager's approvals: another manager's export request, approved ----------
        requested = await request_export(
            suite, org.manager_2, [customer["id"]], reason="Quarterly visit planning"
        )
        pending = f"#exports li[data-export={js(requested['id'])}]"
        manager = await browser.new_page()
        await sign_in(manager, base, suite.token(org.manager))
        await manager.evaluate("location.hash = '#/queue'")
        await manager.wait_for(exists("#orders"), "the approvals page")
        await manager.wait_for(exists(pending), "the pending export request, listed")
        card = await manager.evaluate(text_of(pending))
        assert "Quarterly visit planning" in card and "PENDING" in card, card
        await shoot(manager, "queue.png")
        await press(manager, f"{pending} .actions input")
        await manager.type_text("Fine for the quarter.")
        await press(manager, f"{pending} .actions button.primary")
        await manager.wait_for(
            f"{text_of(pending)}.includes('APPROVED')", "the export request, approved"
        )
        assert not await manager.evaluate(exists(f"{pending} .actions"))
        # Decided, it leaves the queue.
        await manager.evaluate("location.hash = '#/alerts'")
        await manager.wait_for(exists("#alerts"), "the manager's alerts")
        await manager.evaluate("location.hash = '#/queue'")
        await manager.wait_for(
            f"{exists('#exports li')} && !{exists(pending)}", "the queue without it"
        )
        await shows_no_problems(manager)

        # -- a junior rep: no alerts page at all -----------------------------------------------
        junior = await browser.new_page()
        await sign_in(junior, base, suite.token(org.junior))
        assert not await junior.evaluate(exists("#nav-alerts"))
        assert not await junior.evaluate(exists("#nav-risk"))
        await junior.wait_for(exists("#nothing"), "no page for a junior rep")
        # Asking for the alerts page by its address shows no alerts either.
        await junior.evaluate("location.hash = '#/alerts'")
        await junior.wait_for(exists("#nothing"), "still no page")
        assert not await junior.evaluate(exists("#alerts"))
        assert not await junior.evaluate(exists("#alert-filters"))
        await shoot(junior, "junior.png")
        await shows_no_problems(junior)

        # -- finance reads alerts but is offered no decision ------------------------------------
        payer = await stored_alert(
            suite, "orders", "PAYER_MISMATCH", employee_id=org.senior, branch_id=org.branch
        )
        finance = await browser.new_page()
        await sign_in(finance, base, suite.token(org.finance))
        await finance.wait_for(exists("#alert-rows tr[data-alert]"), "finance's alerts")
        await finance.evaluate(f"location.hash = {js('#/alert/' + global_id('Alert', payer))}")
        await finance.wait_for(exists("#alert-heading"), "the alert, for finance")
        assert not await finance.evaluate(exists("#decision"))
        assert await finance.evaluate(exists("#history"))
        await shows_no_problems(finance)

        # -- a Chinese browser, on a phone-sized screen ----------------------------------------
        chinese = await browser.new_page()
        await chinese.send(
            "Network.setUserAgentOverride",
            {"userAgent": "Mozilla/5.0 (console test)", "acceptLanguage": "zh-CN,zh;q=0.9"},
        )
        await chinese.send("Emulation.setLocaleOverride", {"locale": "zh-CN"})
        await chinese.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
        )
        await sign_in(chinese, base, suite.token(org.hr))
        await chinese.wait_for(exists("#alert-rows tr[data-alert]"), "the alerts, in Chinese")
        assert await chinese.evaluate("document.querySelector('main h1').textContent") == "告警"
        titles = await chinese.evaluate(
            "[...document.querySelectorAll('#alert-rows .alert-title')].map(e => e.textContent)"
        )
        assert titles and all(CHINESE.search(title) for title in titles), titles
        await shoot(chinese, "alerts-zh-phone.png")
        await shows_no_problems(chinese)
