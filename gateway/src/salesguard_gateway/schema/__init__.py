"""One GraphQL schema over all services (G1), merged from one module per domain.

``schema`` (default limits) is what ``strawberry export-schema`` prints into
``gateway/schema.graphql``; the app builds its own with the configured limits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types.execution import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from salesguard_gateway.cost import query_cost_factory
from salesguard_gateway.errors import TypedErrors, log_unexpected
from salesguard_gateway.execution import fast_execution_context
from salesguard_gateway.limits import input_limits_factory, limit_rules
from salesguard_gateway.schema.alerts import AlertsMutation, AlertsQuery
from salesguard_gateway.schema.alerts_sharing import SharedAlertEvents
from salesguard_gateway.schema.alerts_subscription import AlertsSubscription
from salesguard_gateway.schema.audit import AuditQuery
from salesguard_gateway.schema.commissions import CommissionsQuery
from salesguard_gateway.schema.commissions_mutations import CommissionsMutation
from salesguard_gateway.schema.common import SCALARS
from salesguard_gateway.schema.customers import CustomersQuery
from salesguard_gateway.schema.customers_mutations import CustomersMutation
from salesguard_gateway.schema.exports import ExportsMutation, ExportsQuery
from salesguard_gateway.schema.node_query import NodeQuery
from salesguard_gateway.schema.orders import OrdersQuery
from salesguard_gateway.schema.orders_mutations import OrdersMutation
from salesguard_gateway.schema.payments import PaymentsQuery
from salesguard_gateway.schema.people import PeopleMutation, PeopleQuery
from salesguard_gateway.schema.pool import PoolMutation, PoolQuery
from salesguard_gateway.schema.risk import RiskQuery
from salesguard_gateway.schema.timeline import TimelineQuery
from salesguard_gateway.schema.timeline_items import TIMELINE_ITEM_TYPES
from salesguard_gateway.schema.visits import VisitsQuery
from salesguard_gateway.schema.visits_mutations import VisitsMutation
from salesguard_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


# One root type per operation, merged from the domain modules' (a class per domain).
@strawberry.type(
    description=(
        "What a client can read. Every field answers within the caller's grants (SPEC §2): "
        "outside them an object is NOT_FOUND (or null) and a list leaves it out; a field the "
        "caller's role may not read at all is FORBIDDEN."
    )
)
class Query(
    NodeQuery,
    PeopleQuery,
    CustomersQuery,
    PoolQuery,
    ExportsQuery,
    AuditQuery,
    AlertsQuery,
    RiskQuery,
    VisitsQuery,
    OrdersQuery,
    PaymentsQuery,
    CommissionsQuery,
    TimelineQuery,
):
    pass


@strawberry.type(
    description=(
        "What a client can change. Each mutation checks the caller's grants (FORBIDDEN "
        "otherwise), writes in one transaction, and where its input takes an idempotencyKey "
        "a retry with the same key answers the first result."
    )
)
class Mutation(
    PeopleMutation,
    CustomersMutation,
    PoolMutation,
    ExportsMutation,
    VisitsMutation,
    OrdersMutation,
    CommissionsMutation,
    AlertsMutation,
):
    pass


@strawberry.type(
    description="What a client can watch, over graphql-transport-ws at the GraphQL endpoint."
)
class Subscription(AlertsSubscription):
    pass


# Distinct query texts kept parsed and validated (bounded: a public endpoint).
DOCUMENT_CACHE_SIZE = 512


# The limits whose settings have other names (SALESGUARD_MAX_QUERY_DEPTH, ...).
_SETTING_NAMES = {"max_depth": "max_query_depth", "introspection": "introspection_enabled"}


@dataclass(frozen=True)
class SchemaLimits:
    """What one request may ask for (checked in limits.py); the values are the gateway's
    settings."""

    max_depth: int
    max_aliases: int
    max_tokens: int
    max_page_size: int
    max_string_length: int
    introspection: bool
    default_page_size: int
    max_query_cost: int

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> SchemaLimits:
        """Each limit is the setting of the same name, but for those the settings name
        otherwise (``_SETTING_NAMES``)."""
        return cls(
            **{
                limit.name: getattr(settings, _SETTING_NAMES.get(limit.name, limit.name))
                for limit in fields(cls)
            }
        )

    @classmethod
    def defaults(cls) -> SchemaLimits:
        """The limits of the settings' defaults (the environment is not read)."""
        return cls.from_settings(GatewaySettings.model_construct())


class GatewaySchema(strawberry.Schema):
    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        # Subscriptions run over the websocket (``subscribe``) only. strawberry would let a
        # POST run one as a query, which answers null for the non-null alertRaised; refused
        # here, strawberry answers 400 ("subscriptions are not allowed when using POST").
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed - {OperationType.SUBSCRIPTION},
            operation_extensions,
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected failures are the client's business; only bugs are logged (with traceback).
        log_unexpected(errors)


def build_schema(
    limits: SchemaLimits | None = None,
    *,
    observers: Sequence[Callable[[], SchemaExtension]] = (),
) -> GatewaySchema:
    """The schema with ``limits``; ``observers`` are extensions that only watch (telemetry)."""
    limits = limits or SchemaLimits.defaults()
    # Built once: ValidationCache keys on the rule classes, so they must not change per request.
    rules = limit_rules(limits.max_depth, limits.max_aliases)
    extensions: list[Callable[[], SchemaExtension]] = [
        # First in, last out: it sees the final errors of every other extension.
        TypedErrors,
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: AddValidationRules(list(rules)),
    ]
    if not limits.introspection:
        extensions.append(DisableIntrospection)
    extensions += [
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
        input_limits_factory(limits.max_page_size, limits.max_string_length),
        query_cost_factory(limits.max_query_cost, limits.default_page_size),
        *observers,
    ]
    built = GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=TIMELINE_ITEM_TYPES,
        extensions=extensions,
        config=StrawberryConfig(
            scalar_map=SCALARS, disable_field_suggestions=not limits.introspection
        ),
    )
    fast_execution_context(built)
    # alertRaised events of the alert's own fields executed once for all their subscribers.
    built.execution_context_class = type(
        "GatewayExecutionContext", (SharedAlertEvents, built.execution_context_class), {}
    )
    return built


schema = build_schema()
