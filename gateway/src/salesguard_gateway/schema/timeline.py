"""One employee's evidence in time order: ``employeeTimeline``.

Check-ins, calls (attendance), follow-ups, audit events (customers), orders,
approvals, payments, shipments (orders) and the alerts of every service about
the employee, newest first (the order ``alerts`` pages in). Like ``alerts``
(schema/alerts.py), the gateway asks every source (schema/timeline_sources.py) concurrently for one page each (one ``ListEmployeeTimeline`` per
service, one ``ListAlerts`` per alert source, filtered to the employee and the
range), merges them by time and hands out a composite cursor: per source, the
page token that resumes right after the last of its items already handed out.
Items at the same instant keep the order of the sources, then each
source's own order, so paging returns every item exactly once.

Each service decides with its own ``timeline.read`` decision (HR all, managers
their branch; nobody their own, branch managers no other manager's) what the
caller sees. A source that fails costs only its own
items: one error per failing service names it and the kinds that are missing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import strawberry
from graphql import GraphQLError

from salesguard import validation
from salesguard.errors import ErrorCode, InvalidInput, ServiceError
from salesguard.timeline import check_range
from salesguard_gateway.context import Info
from salesguard_gateway.errors import deferred_error, service_error_extensions
from salesguard_gateway.schema.arguments import AFTER, BEFORE, FIRST, LAST
from salesguard_gateway.schema.common import (
    Connection,
    Paging,
    described,
    selects,
)
from salesguard_gateway.schema.federation import MergePlan, SourcePage, merged
from salesguard_gateway.schema.nodes import GlobalID, raw_id
from salesguard_gateway.schema.timeline_items import TimelineItem, TimelineKind
from salesguard_gateway.schema.timeline_sources import (
    Ask,
    PendingItem,
    Source,
    timeline_sources,
)
from salesguard_gateway.schema.visits import PHOTO_URL_FIELDS

TimelineConnection = Connection[TimelineItem]


# --- the query ---------------------------------------------------------------------

# Photos' URLs are signed only when the query shows them.
_CHECK_IN_PHOTOS_PATH = ("edges", "node", "checkIn", "photos")
# Every item's ``day`` is in the time zone of the employee's branch.
_DAY = frozenset({"day"})
_NODE_PATH = ("edges", "node")
_CURSOR = frozenset({"cursor"})
_EDGES_PATH = ("edges",)


async def _read_the_employees_branch(info: Info, employee_id: str) -> str | Exception:
    """What every item's ``day`` reads (the employee, then their branch), read while the
    sources answer rather than after them, through the request's own loaders: the branch's
    ID ("" for an employee the caller may not see), or the error reading them raised."""
    loaders = info.context.loaders
    try:
        employee = await loaders.employees.load(employee_id)
        branch_id = employee.branch_id if employee is not None else ""
        if branch_id:
            await loaders.branch(branch_id)
    except Exception as error:  # every item's ``day`` reports it
        return error
    return branch_id


async def _set_days(info: Info, connection: TimelineConnection, branch: str | Exception) -> None:
    """Every item's ``day``: the day of its time in the employee's branch's time zone
    (``loaders.local_day``, the branch read already), or the error reading them raised."""
    local_day = info.context.loaders.local_day
    for edge in connection.edges:
        item = edge.node
        if isinstance(branch, Exception):
            item.local_day = branch
            continue
        try:
            item.local_day = await local_day(branch, item.at)
        except Exception as error:  # the item's ``day`` reports it
            item.local_day = error


async def employee_timeline(
    info: Info,
    employee_id: str,
    begins: datetime,
    ends: datetime,
    paging: Paging,
    kinds: list[TimelineKind] | None,
) -> TimelineConnection:
    context = info.context
    employee = validation.directory_id("employeeId", employee_id, required=True)
    check_range(begins, ends)
    wanted = frozenset(kinds) if kinds else frozenset(TimelineKind)
    sources = [
        source
        for source in timeline_sources(tuple(context.clients.alerts))
        if source.kinds & wanted
    ]
    plan = MergePlan.of(paging, paging.request(info), (source.key for source in sources))
    include_photo_urls = selects(info, PHOTO_URL_FIELDS, _CHECK_IN_PHOTOS_PATH)
    days = (
        asyncio.ensure_future(_read_the_employees_branch(info, employee))
        if selects(info, _DAY, _NODE_PATH)
        else None
    )

    async def ask(source: Source) -> SourcePage[PendingItem]:
        if not plan.asks(source.key):
            return plan.nothing()
        answer = await source.fetch(
            info,
            Ask(
                employee_id=employee,
                begins=begins,
                ends=ends,
                kinds=wanted,
                page=plan.request(source.key),
                include_photo_urls=include_photo_urls,
            ),
        )
        return plan.answered(source.key, answer)

    answers = await asyncio.gather(*(ask(source) for source in sources), return_exceptions=True)
    branch = await days if days is not None else None
    pages: dict[str, SourcePage[PendingItem]] = {}
    failures: dict[str, list[tuple[Source, ServiceError]]] = {}
    for source, answer in zip(sources, answers, strict=True):
        if isinstance(answer, ServiceError):
            failures.setdefault(source.service, []).append((source, answer))
        elif isinstance(answer, BaseException):
            raise answer
        else:
            pages[source.key] = answer
    _raise_for_the_request(pages, failures, "before" if paging.backward else "after")
    for service, failed in failures.items():
        context.deferred_errors.append(_missing(info, service, failed, wanted))

    connection = merged(pages, plan, _made, edge_cursors=selects(info, _CURSOR, _EDGES_PATH))
    if branch is not None:
        await _set_days(info, connection, branch)
    return connection


def _made(pending: PendingItem) -> TimelineItem:
    return pending()


def _raise_for_the_request(
    pages: dict[str, SourcePage[PendingItem]],
    failures: dict[str, list[tuple[Source, ServiceError]]],
    cursor_field: str,
) -> None:
    """One error, not a page of them: VALIDATION for a cursor a source refuses; FORBIDDEN
    when a timeline service refuses the caller (alerts alone are not a timeline), or when
    every source does."""
    errors = [pair for failed in failures.values() for pair in failed]
    for _, error in errors:
        if error.code is ErrorCode.VALIDATION:
            # The gateway checked every other argument: a source refused its page token.
            raise InvalidInput(cursor_field, f"the cursor is malformed ({error.message})")
    refusals = [(source, error) for source, error in errors if error.code is ErrorCode.FORBIDDEN]
    for source, error in refusals:
        if TimelineKind.ALERT not in source.kinds:
            raise error
    if refusals and not pages:
        raise refusals[0][1]


def _missing(
    info: Info,
    service: str,
    failed: list[tuple[Source, ServiceError]],
    wanted: frozenset[TimelineKind],
) -> GraphQLError:
    """One error for a failing service: its code, the service and the kinds left out."""
    # A kind's name is its GraphQL value (its Python value is typed as the described value).
    missing = sorted({kind.name for source, _ in failed for kind in source.kinds & wanted})
    first_error = failed[0][1]
    return deferred_error(
        f"timeline items from {service} are missing ({', '.join(missing)}): {first_error.message}",
        info.path.as_list(),
        {**service_error_extensions(first_error), "source": service, "kinds": missing},
    )


@strawberry.type
class TimelineQuery:
    @described(
        "One employee's evidence in [from, to), newest first: check-ins, follow-ups, calls, "
        "orders, approvals they decided, payments and shipments of their orders, audit "
        "events with them as actor and alerts about them. HR sees anyone's, a manager "
        "their branch's; nobody their own, and a branch manager no other manager's (theirs "
        "is for HR and headquarters): FORBIDDEN. At most 92 days. A service that is down "
        "leaves its kinds out, with an UNAVAILABLE error naming the source and kinds."
    )
    async def employee_timeline(
        self,
        info: Info,
        employee_id: Annotated[
            GlobalID, strawberry.argument(description="The employee whose evidence it is.")
        ],
        from_: Annotated[
            datetime,
            strawberry.argument(name="from", description="The range's start (included)."),
        ],
        to: Annotated[
            datetime,
            strawberry.argument(
                description="The range's end (excluded): after from, at most 92 days later."
            ),
        ],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
        kinds: Annotated[
            list[TimelineKind] | None,
            strawberry.argument(description="Only items of these kinds; omit for every kind."),
        ] = None,
        last: Annotated[int | None, strawberry.argument(description=LAST)] = None,
        before: Annotated[str | None, strawberry.argument(description=BEFORE)] = None,
    ) -> TimelineConnection | None:
        return await employee_timeline(
            info,
            raw_id(employee_id, "Employee", "employeeId"),
            from_,
            to,
            Paging.of(first, after, last, before),
            kinds,
        )
