"""The event loop a serving process runs on: uvloop when the setting asks for it
(``Settings.uvloop``, on by default) and the platform has it, else asyncio's own.

grpc.aio drives its completion queue from a poller thread that wakes the loop through a
socket, which works on any asyncio loop; uvloop makes each wake-up, task switch and socket
operation cheaper (the services' gRPC calls, the gateway's HTTP and its calls to them).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Coroutine
from typing import Any, Literal


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def run(main: Coroutine[Any, Any, None], *, uvloop: bool) -> None:
    """Run ``main`` to completion on a new loop: uvloop's if ``uvloop`` and available."""
    if uvloop and uvloop_available():
        import uvloop as _uvloop  # optional: not on every platform

        _uvloop.run(main)
    else:
        asyncio.run(main)


def uvicorn_loop(uvloop: bool) -> Literal["uvloop", "asyncio"]:
    """uvicorn's ``loop`` setting for the same choice (its "auto" would take uvloop
    whenever installed, whatever the setting says)."""
    return "uvloop" if uvloop and uvloop_available() else "asyncio"
