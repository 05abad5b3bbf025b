"""What every resolver gets: the caller, the language, the stubs and fresh DataLoaders.

A context is built per request, so loaders cache only within one request: two
requests never share an employee that one of them may not see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import strawberry
from graphql import GraphQLError
from strawberry.dataloader import DataLoader

from salesguard import validation
from salesguard.errors import Unauthenticated
from salesguard_api.attendance.v1 import directory_pb2
from salesguard_api.customers.v1 import customers_pb2
from salesguard_api.orders.v1 import orders_pb2
from salesguard_gateway.auth import Caller
from salesguard_gateway.clients import RpcCalls, ServiceClients
from salesguard_gateway.settings import GatewaySettings

V = TypeVar("V")

# The services' batch RPCs take at most MAX_BATCH IDs; a query linking more (say, a
# reconciliation page and its unmatched payments) costs one more call, not an error.
MAX_BATCH = validation.MAX_BATCH


def _by_id(
    fetch: Callable[[list[str]], Awaitable[Sequence[V]]], key: Callable[[V], str]
) -> Callable[[list[str]], Awaitable[list[V | None]]]:
    """A batch function answering None for IDs the service leaves out (unknown or out of scope)."""

    async def load(ids: list[str]) -> list[V | None]:
        found = {key(item): item for item in await fetch(ids)}
        return [found.get(item_id) for item_id in ids]

    return load


class Loaders:
    """Per-request DataLoaders over the services' batch RPCs, each made when first used (a
    subscription makes a set per event, and most events use one loader or none)."""

    def __init__(self, clients: ServiceClients) -> None:
        self._clients = clients
        self._branches: asyncio.Task[dict[str, directory_pb2.Branch]] | None = None
        self._teams: asyncio.Task[dict[str, directory_pb2.Team]] | None = None

    @cached_property
    def employees(self) -> DataLoader[str, directory_pb2.Employee | None]:
        return DataLoader(_by_id(self._fetch_employees, _message_id), max_batch_size=MAX_BATCH)

    @cached_property
    def customers(self) -> DataLoader[str, customers_pb2.Customer | None]:
        return DataLoader(_by_id(self._fetch_customers, _message_id), max_batch_size=MAX_BATCH)

    @cached_property
    def customers_with_contact(self) -> DataLoader[str, customers_pb2.Customer | None]:
        return DataLoader(
            _by_id(self._fetch_customers_with_contact, _message_id), max_batch_size=MAX_BATCH
        )

    @cached_property
    def orders(self) -> DataLoader[str, orders_pb2.Order | None]:
        return DataLoader(_by_id(self._fetch_orders, _message_id), max_batch_size=MAX_BATCH)

    async def _fetch_employees(self, ids: list[str]) -> Sequence[directory_pb2.Employee]:
        request = directory_pb2.BatchGetEmployeesRequest(ids=ids)
        return (await self._clients.directory.BatchGetEmployees(request)).employees

    async def _fetch_customers(
        self, ids: list[str], *, include_contact: bool = False
    ) -> Sequence[customers_pb2.Customer]:
        request = customers_pb2.BatchGetCustomersRequest(ids=ids, include_contact=include_contact)
        return (await self._clients.customers.BatchGetCustomers(request)).customers

    async def _fetch_customers_with_contact(
        self, ids: list[str]
    ) -> Sequence[customers_pb2.Customer]:
        return await self._fetch_customers(ids, include_contact=True)

    async def _fetch_orders(self, ids: list[str]) -> Sequence[orders_pb2.Order]:
        request = orders_pb2.BatchGetOrdersRequest(ids=ids)
        return (await self._clients.orders.BatchGetOrders(request)).orders

    # Branches and teams are few: one list call per request serves every lookup,
    # however many resolvers ask at once.
    async def branch(self, branch_id: str) -> directory_pb2.Branch | None:
        if self._branches is None:
            self._branches = asyncio.ensure_future(self._list_branches())
        return (await self._branches).get(branch_id)

    async def local_day(self, branch_id: str, moment: datetime | None) -> date | None:
        """The day ``moment`` falls on in the branch's time zone: a day a user reads is the
        branch's day, not UTC's (a 07:30 visit in Shanghai is on that morning's date)."""
        if moment is None:
            return None
        branch = await self.branch(branch_id) if branch_id else None
        try:
            zone = ZoneInfo(branch.time_zone) if branch and branch.time_zone else UTC
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
        return moment.astimezone(zone).date()

    async def team(self, team_id: str) -> directory_pb2.Team | None:
        if self._teams is None:
            self._teams = asyncio.ensure_future(self._list_teams())
        return (await self._teams).get(team_id)

    async def _list_branches(self) -> dict[str, directory_pb2.Branch]:
        response = await self._clients.directory.ListBranches(directory_pb2.ListBranchesRequest())
        return {branch.id: branch for branch in response.branches}

    async def _list_teams(self) -> dict[str, directory_pb2.Team]:
        response = await self._clients.directory.ListTeams(directory_pb2.ListTeamsRequest())
        return {team.id: team for team in response.teams}


def _message_id(
    message: directory_pb2.Employee | customers_pb2.Customer | orders_pb2.Order,
) -> str:
    return message.id


@dataclass
class GatewayContext:
    # None only on a WebSocket before its connection_init was authenticated.
    authenticated: Caller | None
    language: str
    clients: ServiceClients
    settings: GatewaySettings
    loaders: Loaders
    rpc_calls: RpcCalls
    # Errors reported next to data that was still returned (e.g. one alert source down).
    deferred_errors: list[GraphQLError] = field(default_factory=list)
    # WebSocket only: set by strawberry from connection_init.
    connection_params: dict[str, Any] | None = None
    handshake_authorization: str | None = None
    # WebSocket only: the connection's caller resolved again (Authenticator.recheck), so a
    # long-lived subscription does not outlive its subscriber's access.
    reauthenticate: Callable[[], Awaitable[Caller]] | None = None

    @property
    def caller(self) -> Caller:
        if self.authenticated is None:
            raise Unauthenticated("authentication required")
        return self.authenticated

    async def current_caller(self) -> Caller:
        """The caller as the directory has them now (AuthError when they may no longer act):
        on a WebSocket resolved again, elsewhere the request's own caller."""
        if self.reauthenticate is None:
            return self.caller
        return await self.reauthenticate()


Info = strawberry.Info[GatewayContext, None]
