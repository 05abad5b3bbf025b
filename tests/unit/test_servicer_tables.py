"""A service's servicer is a table of handlers (``Servicer.answering``): the table must
cover the proto's RPCs exactly, so a service never starts with an RPC left UNIMPLEMENTED
or a handler nothing calls, and each handler answers its RPC, streaming ones included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from salesguard.grpc_server import Servicer, respond
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc, downloads_pb2, downloads_pb2_grpc


async def _chunks(request: downloads_pb2.DownloadRequest) -> AsyncIterator[Any]:
    yield downloads_pb2.DownloadResponse(chunk=request.token.encode())
    yield downloads_pb2.DownloadResponse(chunk=b"!")


async def _unused(request: Any) -> Any:
    raise AssertionError("not called")


def test_a_table_missing_an_rpc_or_naming_one_the_proto_lacks_is_refused() -> None:
    alerts = common_pb2_grpc.AlertsServiceServicer
    with pytest.raises(TypeError, match=r"no handler for \['ListAlerts'") as missing:
        Servicer.answering(
            alerts,
            UpdateAlert=_unused,
            StreamAlertTargets=_unused,
            SummarizeAlerts=_unused,
            WatchAlerts=_unused,
        )
    assert "no RPC for []" in str(missing.value)
    with pytest.raises(TypeError, match=r"no RPC for \['Dowload'\]"):
        Servicer.answering(
            downloads_pb2_grpc.DownloadsServiceServicer, Download=_unused, Dowload=_unused
        )


async def test_each_handler_answers_its_rpc_and_a_streaming_one_streams() -> None:
    downloads = Servicer.answering(downloads_pb2_grpc.DownloadsServiceServicer, Download=_chunks)
    assert downloads.full_name == "salesguard.common.v1.DownloadsService"
    sent = [
        message.chunk
        async for message in downloads.servicer.Download(
            downloads_pb2.DownloadRequest(token="abc"), None
        )
    ]
    assert sent == [b"abc", b"!"]

    async def summaries(request: common_pb2.SummarizeAlertsRequest) -> list[Any]:
        return [common_pb2.AlertKindSummary(employee_id=e) for e in request.employee_ids]

    summarize = respond(common_pb2.SummarizeAlertsResponse, summaries=summaries)
    answered = await summarize(common_pb2.SummarizeAlertsRequest(employee_ids=["e1", "e2"]))
    assert [s.employee_id for s in answered.summaries] == ["e1", "e2"]
