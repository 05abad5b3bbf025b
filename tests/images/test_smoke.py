"""The built images, run as the chart runs them (tests/images/stack.py), and a sale told
through the gateway container: first contact, a visit with a photo, an order, its approval
and payment, the commission; then a service container dies and comes back.

Run by `make images` (scripts/images.sh), which builds the images first.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.deploy.chart import COMPONENTS, SERVICES, container_env, secret_refs
from tests.harness import Suite, employee_id
from tests.images.manifests import S3_PORT, SEAWEEDFS
from tests.images.podman import inspect, podman
from tests.images.stack import REPORT_FILE, SmokeStack
from tests.integration.test_stories_deals import (
    ORDER,
    STATEMENT,
    approve,
    pay,
    run_commissions,
    statement,
    submit,
)
from tests.org import make_org, register
from tests.photos import CREATE_UPLOAD, jpeg, scene
from tests.support.field_visits import CHECK_IN, SHANGHAI, SITE, check_in_input, codes

TIMINGS: dict[str, float] = {}
# What the pods need none of: kinds the rendered chart has that kube play does not run.
NOT_FOR_PODS = {
    "Service",
    "ServiceAccount",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "HorizontalPodAutoscaler",
    "Ingress",
    "HTTPRoute",
    "CronJob",
}


@pytest.fixture(scope="session", autouse=True)
def report(stack: SmokeStack) -> Any:
    """Write how long each part took, and what was left out, where scripts/images.sh
    reports it."""
    yield
    TIMINGS.update({f"stack {step}": seconds for step, seconds in stack.timings.items()})
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    left_out = dict(sorted(stack.manifests.left_out.items()))
    REPORT_FILE.write_text(json.dumps({"timings": TIMINGS, "left out": left_out}, indent=2))


def test_only_what_pods_need_none_of_is_left_out(stack: SmokeStack) -> None:
    manifests = stack.manifests
    assert set(manifests.left_out) <= NOT_FOR_PODS, manifests.left_out
    assert len(manifests.service_pods) == len(COMPONENTS)
    assert len(manifests.migration_pods) == len(SERVICES)


def test_the_containers_run_as_the_chart_says(stack: SmokeStack) -> None:
    """The rendered args, env and user reach the containers; the root file system is
    read-only, /tmp writable; each image's HEALTHCHECK is `salesguard healthcheck`."""
    security = stack.rendered.of_kind("Deployment")[0]["spec"]["template"]["spec"][
        "securityContext"
    ]
    for component in COMPONENTS:
        rendered = stack.rendered_container(component)
        name = stack.container(component)
        running = inspect(name)
        assert running["Config"]["Cmd"] == rendered["args"]
        assert running["HostConfig"]["ReadonlyRootfs"] is True
        assert running["HostConfig"]["RestartPolicy"]["Name"] == "always"
        assert podman("exec", name, "id", "-u").strip() == str(security["runAsUser"])
        assert podman("exec", name, "id", "-g").strip() == str(security["runAsGroup"])
        environment = dict(
            line.split("=", 1) for line in podman("exec", name, "env").splitlines() if "=" in line
        )
        expected = container_env(stack.rendered, rendered)
        for variable, value in expected.items():
            if variable in secret_refs(rendered):
                continue  # the fixtures' made-up values; the real ones are random
            assert environment.get(variable) == value, variable
        image = inspect(running["Image"], "image")
        assert image["Healthcheck"]["Test"] == ["CMD", "salesguard", "healthcheck"]
        write = podman("exec", name, "sh", "-c", "touch /app/x 2>&1; touch /tmp/x", check=False)
        assert "Read-only file system" in write
        exposed = set(image["Config"]["ExposedPorts"])
        assert exposed == {f"{rendered['ports'][0]['containerPort']}/tcp"}


async def upload_photo(stack: SmokeStack, suite: Suite, as_: str, data: bytes) -> str:
    """createPhotoUpload, then PUT the bytes to the object store as a device would. The
    URL names the store as the pods reach it (seaweedfs:8333, signed with that Host); this
    machine reaches the same pod by its address."""
    created = (
        await suite.gql(
            CREATE_UPLOAD, {"input": {"contentType": "image/jpeg", "sizeBytes": len(data)}}, as_=as_
        )
    ).ok()["createPhotoUpload"]
    url = urlsplit(created["uploadUrl"])
    assert url.netloc == f"{SEAWEEDFS}:{S3_PORT}", created["uploadUrl"]
    headers = {**created["uploadHeaders"], "Host": url.netloc}
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.put(
            f"http://{stack.s3_address}{url.path}?{url.query}", content=data, headers=headers
        )
    assert response.status_code == 200, response.text
    return str(created["key"])


async def payment_state(suite: Suite, as_: str, order_id: str) -> str:
    shown = (await suite.gql(ORDER, {"id": order_id}, as_=as_)).ok()["order"]
    return str(shown["paymentState"])


async def test_a_sale_from_first_contact_to_commission(stack: SmokeStack, suite: Suite) -> None:
    start = time.monotonic()
    org = await make_org(suite)
    rep = org.junior
    customer = await register(suite, rep, source="WEBSITE")

    # The rep visits the customer and checks in with a photo taken there.
    at = datetime.now(UTC) - timedelta(minutes=30)
    photo = jpeg(scene(1201), gps=SITE, taken_at=at.astimezone(SHANGHAI))
    key = await upload_photo(stack, suite, rep, photo)
    values = check_in_input(SITE, at, customerId=customer["id"], photoKeys=[key])
    visit = (await suite.gql(CHECK_IN, {"input": values}, as_=rep)).ok()["checkIn"]["checkIn"]
    assert [p["key"] for p in visit["photos"]] == [key]
    assert not {"NO_PHOTO", "PHOTO_EXIF_MISMATCH", "PHOTO_REUSED"} & codes(visit), visit
    assert visit["verdict"] == "VERIFIED", visit

    # An order, approved by the manager, paid with the order code in the remittance text.
    order = await submit(suite, rep, customer["id"], "12000.00")
    await approve(suite, org, order)
    paid_at = datetime.now(UTC) - timedelta(minutes=5)
    await pay(suite, org, order, paid_at.isoformat())
    # The payment reconciles its order at once: nobody runs the reconciliation.
    assert await payment_state(suite, org.finance, order["id"]) == "RECONCILED"

    # Finance runs the month's commissions; the rep's statement has the line: 5 % of a
    # company-channel sale.
    period = paid_at.astimezone(SHANGHAI).strftime("%Y-%m")
    summary = await run_commissions(suite, org, period)
    assert (summary["lines"], summary["orders"], summary["payable"]["amount"]) == (1, 1, "600.00")
    mine = await statement(suite, rep, rep, period)
    (line,) = mine["lines"]
    assert (line["orderCode"], line["base"]["amount"], line["rate"], line["amount"]["amount"]) == (
        order["code"],
        "12000.00",
        "5.00",
        "600.00",
    )
    assert (line["status"], line["reason"]) == ("PAYABLE", "COMPANY_CHANNEL")
    TIMINGS["story"] = time.monotonic() - start


async def test_each_container_serves_prometheus_metrics_on_its_metrics_port(
    stack: SmokeStack, suite: Suite
) -> None:
    # Traffic for the counters: a query through the gateway, an RPC in every service.
    org = await make_org(suite)
    await register(suite, org.junior, source="WEBSITE")
    series = {
        "gateway": "salesguard_graphql_requests_total{",
        "customers": "salesguard_rpc_requests_total{",
        "attendance": "salesguard_rpc_requests_total{",
    }
    async with httpx.AsyncClient(timeout=10) as http:
        for component in COMPONENTS:
            response = await http.get(stack.metrics_url(component))
            assert response.status_code == 200, component
            assert "text/plain" in response.headers["content-type"], component
            text = response.text
            assert "# TYPE " in text, component
            if component in series:
                assert series[component] in text, (component, text[:2000])


async def test_a_killed_service_fails_typed_and_its_restart_serves_again(
    stack: SmokeStack, suite: Suite
) -> None:
    org = await make_org(suite)
    rep = org.junior
    customer = await register(suite, rep, source="WEBSITE")
    order = await submit(suite, rep, customer["id"], "3000.00")
    period = datetime.now(SHANGHAI).strftime("%Y-%m")
    asked = {"employeeId": employee_id(rep), "period": period}
    assert (await suite.gql(STATEMENT, asked, as_=rep)).ok()

    # The commissions process dies (SIGKILL, as the OOM killer would).
    container = stack.container("commissions")
    before = inspect(container)
    os.kill(int(before["State"]["Pid"]), signal.SIGKILL)
    killed = time.monotonic()

    # Its fields fail with a typed error; the other services keep serving. Unless the
    # restart wins the race: podman can have it serving again in well under a second,
    # while the gateway's call is still reconnecting (its channel retries), and the new
    # process answers it (a CI run saw that: killed, then answered after 1.05 s).
    down = await suite.gql(STATEMENT, asked, as_=rep)
    if down.errors:
        assert down.status == 200 and down.codes == ["UNAVAILABLE"], down.body
    else:
        assert inspect(container)["RestartCount"] > before["RestartCount"], down.body
        assert down.ok()["commissionStatement"]["period"] == period
    shown = (await suite.gql(ORDER, {"id": order["id"]}, as_=rep)).ok()["order"]
    assert shown["status"] == "SUBMITTED"
    found = await suite.gql(
        "query($id: ID!) { customer(id: $id) { id } }", {"id": customer["id"]}, as_=rep
    )
    assert found.ok()["customer"] == {"id": customer["id"]}

    # podman restarts it (restartPolicy Always, as the kubelet would), and the gateway's
    # calls reach the new process.
    stack.wait_serving("commissions", timeout=90)
    after = inspect(container)
    assert after["RestartCount"] > before["RestartCount"]
    assert after["State"]["Pid"] != before["State"]["Pid"]
    deadline = time.monotonic() + 60
    while True:
        again = await suite.gql(STATEMENT, asked, as_=rep)
        if not again.errors:
            break
        assert time.monotonic() < deadline, f"the restarted commissions is not used: {again.body}"
        await asyncio.sleep(0.5)
    assert again.ok()["commissionStatement"]["period"] == period
    TIMINGS["kill to served again"] = time.monotonic() - killed
    for service in SERVICES:
        assert stack.healthcheck(service), service
