"""What gateways and services know of the people directory (attendance), kept true by a watch.

SPEC §2: a change of an employee's status, roles, team or branch takes effect on
their next request, and nothing new is ever owned by an employee who is not active.
So a cache of the directory (the gateway's principals, a service's employees) is
trusted only while a :class:`DirectoryWatch` is live: one ``WatchDirectoryChanges``
stream per process, fed by the directory's change feed (a trigger on employees and
branches; PostgreSQL NOTIFY or SQLite polling, :mod:`salesguard.feeds`), so every
process — any number of gateway replicas and service pods — drops an entry as soon
as the change that makes it stale commits. While the watch is not live (not yet
open, broken, silent beyond its heartbeats, or just reopened) the cache is neither
read nor filled: each request asks the directory, and fails closed when it is down.

Writes check for themselves, in the service that stores the data: before a service
makes an employee the owner of something or credits them with it,
:meth:`DirectoryClient.require_active` (or the attendance service's own read) finds
them active — through the same watched cache, so the check costs no call while the
watch is live and an entry it holds has not changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from salesguard.asynctasks import cancel_and_wait
from salesguard.errors import Forbidden, InvalidInput, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc

log = logging.getLogger(__name__)

# The directory's NOTIFY channel (PostgreSQL), named by its migration's trigger.
CHANGES_CHANNEL = "salesguard_directory"
# The directory sends a heartbeat after this much quiet on a watch...
HEARTBEAT_SECONDS = 5.0
# ...and a watcher that hears nothing for this many heartbeats treats the watch as lost
# (a connection that died without a word).
SILENT_HEARTBEATS = 3
RECONNECT_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
EMPLOYEE = "employee"
BRANCH = "branch"

V = TypeVar("V")
_D = TypeVar("_D")


@dataclass(frozen=True, slots=True)
class DirectoryChanges:
    """What one watch message says changed."""

    employee_ids: frozenset[str]
    branch_ids: frozenset[str]


def changes_message(subjects: Iterable[str]) -> directory_pb2.WatchDirectoryChangesResponse:
    """The watch message for the change feed's subjects ("employee:<id>", "branch:<id>")."""
    employees: set[str] = set()
    branches: set[str] = set()
    for subject in subjects:
        kind, _, subject_id = subject.partition(":")
        (branches if kind == BRANCH else employees).add(subject_id)
    return directory_pb2.WatchDirectoryChangesResponse(
        employee_ids=sorted(employees), branch_ids=sorted(branches)
    )


def not_active(employee_id: str, field: str | None) -> ServiceError:
    """The refusal of a write that would give ``employee_id`` data while they are not active:
    FORBIDDEN for the employee acting themselves (``field`` None), else VALIDATION on ``field``."""
    if field is None:
        return Forbidden(f"employee {employee_id} is not active")
    return InvalidInput(field, f"{employee_id} is not an active employee")


class DirectoryWatch:
    """One ``WatchDirectoryChanges`` stream, reopened whenever it ends.

    ``live`` once the stream's first message arrived: from then on every committed
    change reaches ``on_change``. ``on_reset`` runs whenever the watch goes live and
    whenever it is lost, so a cache starts over. ``generation`` grows with every change
    and every reset: an answer fetched while it stayed the same is still current.
    """

    def __init__(
        self,
        stub: Callable[[], directory_pb2_grpc.DirectoryServiceAsyncStub],
        caller: Principal,
        *,
        on_change: Callable[[DirectoryChanges], None],
        on_reset: Callable[[], None],
    ) -> None:
        self._stub = stub
        self._caller = caller
        self._on_change = on_change
        self._on_reset = on_reset
        self._task: asyncio.Task[None] | None = None
        self._live = False
        self.generation = 0

    @property
    def live(self) -> bool:
        return self._live

    def start(self) -> None:
        """Open the watch (once; it then keeps itself open until closed)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="directory-watch")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self._lost()

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._follow()
                log.info("the directory ended its watch; watching again")
            except ServiceError as error:
                log.warning("the directory watch is lost (%s); retrying", error.message)
            except TimeoutError:
                log.warning("the directory watch fell silent; reopening it")
            except Exception:  # whatever it was, the watch must come back
                log.warning("the directory watch failed; retrying", exc_info=True)
            if self._live:
                attempt = 0
            self._lost()
            await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
            attempt += 1

    async def _follow(self) -> None:
        with acting_as(self._caller):
            call = self._stub().WatchDirectoryChanges(directory_pb2.WatchDirectoryChangesRequest())
            try:
                silence = HEARTBEAT_SECONDS * SILENT_HEARTBEATS
                responses = aiter(call)
                while True:
                    async with asyncio.timeout(silence):
                        message = await anext(responses)
                    if message.watching:
                        if message.heartbeat_seconds > 0:
                            silence = message.heartbeat_seconds * SILENT_HEARTBEATS
                        self._went_live()
                    elif message.employee_ids or message.branch_ids:
                        self.generation += 1
                        self._on_change(
                            DirectoryChanges(
                                frozenset(message.employee_ids), frozenset(message.branch_ids)
                            )
                        )
            except StopAsyncIteration:
                return
            finally:
                call.cancel()

    def _went_live(self) -> None:
        # What was cached before may have changed meanwhile: start over, then trust.
        self.generation += 1
        self._on_reset()
        self._live = True

    def _lost(self) -> None:
        self._live = False
        self.generation += 1
        self._on_reset()


class DirectoryCache(Generic[V]):
    """What the directory said about employees, by employee ID, trusted only while its
    :class:`DirectoryWatch` is live (see the module's docstring) and for ``ttl_seconds``
    at most. Use: ``snapshot()``, ask the directory, ``put(..., snapshot)``."""

    def __init__(
        self,
        stub: Callable[[], directory_pb2_grpc.DirectoryServiceAsyncStub],
        caller: Principal,
        *,
        ttl_seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        # The generation of each employee's latest change, and of the latest reset or branch
        # change (which reach everyone): see unchanged_since.
        self._changed_at: dict[str, int] = {}
        self._reset_at = 0
        self.watch = DirectoryWatch(stub, caller, on_change=self._changed, on_reset=self.clear)

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, employee_id: str, default: _D) -> V | _D:
        """The cached answer, or ``default`` when there is none to trust."""
        if not self.enabled:
            return default
        self.watch.start()
        if not self.watch.live:
            return default
        entry = self._entries.get(employee_id)
        if entry is None or entry[0] <= self._clock():
            return default
        return entry[1]

    def snapshot(self) -> int | None:
        """Taken before asking the directory; None when an answer must not be cached."""
        if not self.enabled:
            return None
        self.watch.start()
        return self.watch.generation if self.watch.live else None

    def put(self, employee_id: str, value: V, snapshot: int | None) -> None:
        """Cache an answer asked after ``snapshot``, unless something changed since."""
        if snapshot is None or not self.watch.live or self.watch.generation != snapshot:
            return
        self._entries[employee_id] = (self._clock() + self._ttl, value)
        self._entries.move_to_end(employee_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def unchanged_since(self, employee_id: str, snapshot: int | None) -> bool:
        """Whether what the directory said of ``employee_id`` after ``snapshot`` still holds:
        the watch stayed live since and reported no change of theirs (nor of any branch).
        Unlike ``get``, not bounded by ``ttl_seconds``: for one who asks again and again
        about the same employee (a subscription before each event), with nothing changed."""
        return (
            snapshot is not None
            and self.watch.live
            and self._reset_at <= snapshot
            and self._changed_at.get(employee_id, -1) <= snapshot
        )

    def forget(self, employee_id: str) -> None:
        self._entries.pop(employee_id, None)

    def clear(self) -> None:
        self._entries.clear()
        self._changed_at.clear()
        self._reset_at = self.watch.generation

    def _changed(self, changes: DirectoryChanges) -> None:
        if changes.branch_ids:
            # A branch's change (headquarters) reaches its principals; branches change rarely.
            self.clear()
            return
        for employee_id in changes.employee_ids:
            self.forget(employee_id)
            self._changed_at[employee_id] = self.watch.generation
        if len(self._changed_at) > self._max_entries:
            self.clear()  # bounded: everyone is asked about again

    async def close(self) -> None:
        await self.watch.close()


class DirectoryClient:
    """The directory for other services, asked as the service itself (``Principal.system``).

    Reads (an owner's team and branch, a name to mask in an error) may come from the
    watched cache; :meth:`require_active` and :meth:`current` never do.
    """

    def __init__(
        self, channels: ServiceChannels, caller: str, *, ttl_seconds: float = 30.0
    ) -> None:
        self._stub = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
        self._caller = Principal.system(caller)
        self._cache: DirectoryCache[directory_pb2.Employee | None] = DirectoryCache(
            lambda: self._stub, self._caller, ttl_seconds=ttl_seconds
        )

    async def employees(self, ids: Iterable[str]) -> dict[str, directory_pb2.Employee]:
        """The employees among ``ids`` that exist, by ID (cached while the watch is live)."""
        found: dict[str, directory_pb2.Employee] = {}
        missing: list[str] = []
        unknown = object()
        for employee_id in set(ids):
            cached = self._cache.get(employee_id, unknown)
            if cached is unknown:
                missing.append(employee_id)
            elif isinstance(cached, directory_pb2.Employee):
                found[employee_id] = cached
        if missing:
            snapshot = self._cache.snapshot()
            fetched = await self.current(missing)
            for employee_id in missing:
                employee = fetched.get(employee_id)
                self._cache.put(employee_id, employee, snapshot)
                if employee is not None:
                    found[employee_id] = employee
        return found

    async def employee(self, employee_id: str) -> directory_pb2.Employee | None:
        return (await self.employees([employee_id])).get(employee_id)

    async def current(self, ids: Iterable[str]) -> dict[str, directory_pb2.Employee]:
        """The employees among ``ids`` as the directory has them now (never cached)."""
        with acting_as(self._caller):
            response = await self._stub.BatchGetEmployees(
                directory_pb2.BatchGetEmployeesRequest(ids=sorted(set(ids)))
            )
        return {employee.id: employee for employee in response.employees}

    async def require_active(
        self, employee_id: str, *, field: str | None = None, fresh: bool = False
    ) -> directory_pb2.Employee:
        """The employee, if active: what a write checks before it makes an employee the owner
        of something or credits them with it (from the watched cache, see the module; from
        the directory itself with ``fresh``, for a check made under a lock that a departure
        takes too, where a change still on its way through the watch must not be missed).

        Refused as FORBIDDEN when the employee acts for themselves (``field`` None), as a
        VALIDATION error on ``field`` when someone names them. A directory that cannot be
        asked fails the write (UNAVAILABLE), never lets it through.
        """
        if fresh:
            employee = (await self.current([employee_id])).get(employee_id)
        else:
            employee = await self.employee(employee_id)
        if employee is None or employee.status != directory_pb2.EMPLOYEE_STATUS_ACTIVE:
            raise not_active(employee_id, field)
        return employee

    def generation(self) -> int | None:
        """The directory watch's generation while it is live, None while it is not: what was
        read from the directory under one generation is current until it changes."""
        return self._cache.snapshot()

    def forget(self, employee_id: str) -> None:
        self._cache.forget(employee_id)

    async def close(self) -> None:
        await self._cache.close()
