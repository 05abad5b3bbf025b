"""What a platform team relies on: probes, reflection, graceful shutdown, the first admin, dev tokens."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
import uvicorn
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from salesguard import eventloop
from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard.settings import DEV_JWT_SECRET
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_attendance.server import service as attendance_app
from tests.harness import POLICIES
from tests.support.servers import free_port


async def test_health_reflection_and_graceful_shutdown(tmp_path: Path) -> None:
    port = free_port()
    settings = attendance_app.load_settings(data_dir=tmp_path, policies_dir=POLICIES)
    running = await attendance_app.start(settings, port=port)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in (
            "",
            "salesguard.attendance.v1.DirectoryService",
            "salesguard.common.v1.AlertsService",
        ):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, service
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name async for r in responses for s in r.list_services_response.service}
        assert {"salesguard.attendance.v1.DirectoryService", "grpc.health.v1.Health"} <= names
        # Unauthenticated business calls are refused: only probes are open.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await directory_pb2_grpc.DirectoryServiceStub(channel).ListBranches(
                directory_pb2.ListBranchesRequest()
            )
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        await running.stop(grace=1)
        with pytest.raises(grpc.aio.AioRpcError):
            await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)


async def test_an_empty_directory_starts_with_the_configured_bootstrap_admin(
    tmp_path: Path,
) -> None:
    port = free_port()
    settings = attendance_app.load_settings(
        data_dir=tmp_path, policies_dir=POLICIES, bootstrap_admin="root-1"
    )
    running = await attendance_app.start(settings, port=port)
    channels = ServiceChannels(
        {"attendance": f"127.0.0.1:{port}"}, running.runtime.internal_secret, 5
    )
    try:
        stub = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
        with acting_as(Principal.system("tests")):
            resolved = await stub.ResolvePrincipal(
                directory_pb2.ResolvePrincipalRequest(employee_id="root-1")
            )
        assert list(resolved.principal.roles) == ["ADMIN"]
        assert resolved.status == directory_pb2.EMPLOYEE_STATUS_ACTIVE
    finally:
        await channels.close()
        await running.stop()


@pytest.mark.parametrize("uvloop", [True, False], ids=["uvloop", "asyncio"])
async def test_a_service_serves_on_the_event_loop_its_setting_names(
    tmp_path: Path, uvloop: bool
) -> None:
    """A service's process runs on uvloop unless SALESGUARD_UVLOOP=false, and grpc.aio
    serves on either: the signed principal reaches the servicer, a call without one is
    refused, and the server stops gracefully (the service runs in a thread, on its own loop,
    as ``salesguard serve`` runs it)."""
    port = free_port()
    settings = attendance_app.load_settings(
        data_dir=tmp_path, policies_dir=POLICIES, bootstrap_admin="root-1", uvloop=uvloop
    )
    served: dict[str, Any] = {}
    started = threading.Event()

    async def serve() -> None:
        running = await attendance_app.start(settings, port=port)
        served["loop"] = type(asyncio.get_running_loop()).__module__
        served["stop"] = stopping = asyncio.Event()
        served["thread_loop"] = asyncio.get_running_loop()
        started.set()
        await stopping.wait()
        await running.stop(grace=1)

    thread = threading.Thread(target=eventloop.run, args=(serve(),), kwargs={"uvloop": uvloop})
    thread.start()
    try:
        assert await asyncio.to_thread(started.wait, 30)
        assert served["loop"].startswith("uvloop") is uvloop
        channels = ServiceChannels(
            {"attendance": f"127.0.0.1:{port}"},
            settings.internal_secret.get_secret_value().encode(),
            5,
        )
        try:
            stub = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
            for _ in range(3):
                with acting_as(Principal.system("tests")):
                    resolved = await stub.ResolvePrincipal(
                        directory_pb2.ResolvePrincipalRequest(employee_id="root-1")
                    )
                assert list(resolved.principal.roles) == ["ADMIN"]
        finally:
            await channels.close()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await directory_pb2_grpc.DirectoryServiceStub(channel).ListBranches(
                    directory_pb2.ListBranchesRequest()
                )
            assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        if "stop" in served:
            served["thread_loop"].call_soon_threadsafe(served["stop"].set)
        await asyncio.to_thread(thread.join, 30)
    assert not thread.is_alive()


def test_the_gateway_serves_on_the_loop_the_setting_names() -> None:
    assert eventloop.uvicorn_loop(True) == "uvloop"  # uvloop is installed here
    assert eventloop.uvicorn_loop(False) == "asyncio"


def test_salesguard_token_prints_a_dev_token_for_the_employee() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "salesguard.cli", "token", "e-42"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    claims = jwt.decode(printed, DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "e-42"
    assert claims["exp"] > claims["iat"]
    refused = subprocess.run(
        [sys.executable, "-m", "salesguard.cli", "token", "e-42"],
        capture_output=True,
        text=True,
        env={"SALESGUARD_ENVIRONMENT": "production", "PATH": "/usr/bin"},
    )
    assert refused.returncode != 0


async def healthcheck(component: str, env: dict[str, str]) -> int:
    """Exit code of `salesguard healthcheck COMPONENT`, the images' HEALTHCHECK (run without
    blocking this loop, which serves the process it probes)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "salesguard.cli",
        "healthcheck",
        component,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await process.wait()


async def test_healthcheck_exits_zero_only_while_a_service_serves(tmp_path: Path) -> None:
    port = free_port()
    env = {"SALESGUARD_GRPC_PORT": str(port), "SALESGUARD_DATA_DIR": str(tmp_path)}
    assert await healthcheck("attendance", env) != 0  # nothing listens yet
    settings = attendance_app.load_settings(data_dir=tmp_path, policies_dir=POLICIES)
    running = await attendance_app.start(settings, port=port)
    try:
        assert await healthcheck("attendance", env) == 0
    finally:
        await running.stop(grace=1)
    assert await healthcheck("attendance", env) != 0


async def test_healthcheck_of_the_gateway_asks_its_http_port(tmp_path: Path) -> None:
    from salesguard_gateway.app import create_app
    from salesguard_gateway.serving import uvicorn_config
    from salesguard_gateway.settings import GatewaySettings

    port = free_port()
    env = {"SALESGUARD_GATEWAY_PORT": str(port), "SALESGUARD_DATA_DIR": str(tmp_path)}
    assert await healthcheck("gateway", env) != 0
    app = create_app(GatewaySettings(data_dir=tmp_path, gateway_port=port))
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 (uvicorn has no started event)
                await asyncio.sleep(0.05)
        assert await healthcheck("gateway", env) == 0
    finally:
        server.should_exit = True
        await serving


async def test_calls_spread_over_every_address_and_survive_connection_ageing(
    tmp_path: Path,
) -> None:
    """Two attendance processes behind one target, as a headless Service's pods are: calls
    reach both (each knows only its own bootstrap admin), and keep working while the
    servers retire connections older than a second."""
    ports = [free_port(), free_port()]
    running = []
    for number, port in enumerate(ports, start=1):
        settings = attendance_app.load_settings(
            data_dir=tmp_path / str(number),
            policies_dir=POLICIES,
            bootstrap_admin=f"root-{number}",
            grpc_max_connection_age_seconds=1,
            grpc_max_connection_age_grace_seconds=1,
        )
        running.append(await attendance_app.start(settings, port=port))
    target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)
    channels = ServiceChannels({"attendance": target}, running[0].runtime.internal_secret, 5)
    try:
        stub = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
        answered: list[str] = []
        deadline = asyncio.get_running_loop().time() + 2.5  # past two connection ages
        with acting_as(Principal.system("tests")):
            # At least 2.5 s and at least 60 calls: a loaded machine makes fewer calls in the
            # time, and the count is what shows calls keep working, not the rate.
            while asyncio.get_running_loop().time() < deadline or len(answered) < 60:
                try:
                    await stub.ResolvePrincipal(
                        directory_pb2.ResolvePrincipalRequest(employee_id="root-1")
                    )
                    answered.append("first")
                except ServiceError as error:
                    answered.append("second" if error.code is ErrorCode.NOT_FOUND else str(error))
                await asyncio.sleep(0.02)
        assert set(answered) == {"first", "second"}, set(answered)  # and no failed call
    finally:
        await channels.close()
        for service in running:
            await service.stop(grace=1)
