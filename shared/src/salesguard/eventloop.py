"""The event loop a serving process runs on: uvloop when the setting asks for it
(``Settings.uvloop``, on by default) and the platform has it, else asyncio's own; and its
heap settled before it serves (:func:`settle_heap`).

grpc.aio drives its completion queue from a poller thread that wakes the loop through a
socket, which works on any asyncio loop; uvloop makes each wake-up, task switch and socket
operation cheaper (the services' gRPC calls, the gateway's HTTP and its calls to them).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
from collections.abc import Coroutine
from typing import Any, Literal

# Allocations (less deallocations) between two collections of the youngest generation:
# Python's default, 700, collected about ten times per customers(first: 50).
GC_YOUNG_THRESHOLD = 5000


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


def settle_heap() -> None:
    """Once a serving process is built, before it serves: what exists now (modules, the
    schema or servicers, their caches) lives as long as the process, so the collector is
    told to leave it alone (``gc.freeze``) instead of walking it on every full collection,
    and the youngest generation is collected less often. In the gateway these took the
    collector's share of a customers(first: 50) request from ~0.27 ms of CPU to ~0.03 ms.
    Garbage is collected as before, only on a larger allocation budget."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)
