"""Who holds a role, from the people directory: the policy client's :class:`SubjectRoles`.

A grant may leave the cases about holders of some roles to their superiors
(``hidden_subject_roles``: a branch manager does not read another manager's
alerts). Rows carry the employee they are about, not that employee's roles, so
the service asks the directory (attendance, as itself) once for the holders and
filters on their IDs. Managers are few; the answer is cached for at most
``SALESGUARD_SUBJECT_ROLES_CACHE_SECONDS`` and, while the process's directory watch
is live (:mod:`salesguard.directory`), only until the next change to the directory,
so a promotion reaches the filters on the next request. Without a live watch the
age bound alone applies: a new manager's peers read for that long what they read a
moment before, and a demotion hides a case for that long, never shows one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from salesguard.errors import ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_api.common.v1 import common_pb2

log = logging.getLogger(__name__)


class DirectorySubjectRoles:
    """The holders of roles, listed from the directory and cached per set of roles."""

    def __init__(
        self, channels: ServiceChannels, caller: str, *, ttl_seconds: float, page_size: int = 0
    ):
        self._channels = channels
        # Holders listed per call: the settings' max_page_size (0: the directory's default).
        self._page_size = page_size
        self._caller = Principal.system(caller)
        self._ttl = ttl_seconds
        # roles -> (fetched at, the directory watch's generation then, holders)
        self._cache: dict[frozenset[str], tuple[float, int | None, frozenset[str]]] = {}
        self._lock = asyncio.Lock()
        self._generation: Callable[[], int | None] = lambda: None

    def follow(self, generation: Callable[[], int | None]) -> None:
        """Drop cached holders on every directory change: ``generation`` is the directory
        watch's generation while it is live, None while it is not."""
        self._generation = generation

    def _current(self, cached: tuple[float, int | None, frozenset[str]]) -> bool:
        fetched_at, generation, _ = cached
        if time.monotonic() - fetched_at >= self._ttl:
            return False
        # Fetched without a live watch: the age bound alone; with one: until it changes.
        return generation is None or generation == self._generation()

    async def holders(self, roles: frozenset[str]) -> frozenset[str]:
        async with self._lock:  # concurrent requests share one lookup
            cached = self._cache.get(roles)
            if cached is not None and self._current(cached):
                return cached[2]
            generation = self._generation()
            try:
                found = await self._list(roles)
            except ServiceError:
                if cached is None:
                    raise  # nothing known: the request fails closed
                # The directory down costs no other service its answers: the last list
                # stands (a new holder's case stays as visible as it was a moment before).
                log.warning("the directory is unreachable; using the last role holders")
                return cached[2]
            self._cache[roles] = (time.monotonic(), generation, found)
            return found

    async def _list(self, roles: frozenset[str]) -> frozenset[str]:
        # A role the directory does not know (SYSTEM) has no holders.
        known = [
            directory_pb2.Role.Value(f"ROLE_{role}")
            for role in sorted(roles)
            if f"ROLE_{role}" in directory_pb2.Role.DESCRIPTOR.values_by_name
        ]
        if not known:
            return frozenset()
        stub = directory_pb2_grpc.DirectoryServiceStub(self._channels.channel("attendance"))
        found: set[str] = set()
        token = ""
        with acting_as(self._caller):
            while True:
                response = await stub.ListEmployees(
                    directory_pb2.ListEmployeesRequest(
                        filter=directory_pb2.EmployeeFilter(roles=known),
                        page=common_pb2.PageRequest(page_size=self._page_size, page_token=token),
                    )
                )
                found.update(employee.id for employee in response.employees)
                if not response.page_info.has_next_page:
                    return frozenset(found)
                token = response.page_info.next_page_token
