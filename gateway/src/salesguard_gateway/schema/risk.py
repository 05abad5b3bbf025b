"""How an employee's alerts add up: ``employeeRisk`` and ``riskRanking``.

Each alert source summarises its standing alerts per employee and kind in one
query (``SummarizeAlerts``, scoped by the caller's ``risk.read`` decision) and
hands on the risk model from policy data it computed the decay with; the
gateway asks every source at once, one call each, and scores with
:mod:`salesguard.risk`. A source that fails costs only its signals: the profile
is computed from the others, next to an UNAVAILABLE error naming the source.
Reps are refused (every source answers FORBIDDEN); a manager asking for another
branch's ranking is refused by the policy too (the branch is the resource). Nobody
scores themselves, and a branch manager does not score another manager: the
sources refuse such an employee (FORBIDDEN, not a misleading score of 0) and leave
them out of rankings.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from google.protobuf.timestamp_pb2 import Timestamp

from salesguard import risk, validation
from salesguard.batching import chunks
from salesguard.errors import InvalidInput, NotFound, ServiceError
from salesguard.validation import text
from salesguard_api.common.v1 import common_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.alerts import Alert, alert_from_proto, ask_alert_sources
from salesguard_gateway.schema.codes import AlertKind, code_of
from salesguard_gateway.schema.common import described, first_size, selects
from salesguard_gateway.schema.nodes import GlobalID, raw_id
from salesguard_gateway.schema.people import EMPLOYEE, load_employee

EVIDENCE = frozenset({"evidence"})
EMPLOYEE_FIELD = frozenset({"employee"})


def _retrieved(future: asyncio.Future[Any]) -> None:
    """A primed load's outcome is read by its field; should the request end first, it is
    retrieved here all the same (no "exception was never retrieved")."""
    if not future.cancelled():
        future.exception()


@strawberry.enum(description="Bands of the score; their limits are policy data (thresholds.risk).")
class RiskLevel(Enum):
    LOW = strawberry.enum_value(
        "LOW", description="A score below the medium band's limit (default 4)."
    )
    MEDIUM = strawberry.enum_value(
        "MEDIUM", description="A score from the medium band's limit (default 4) up to the high one."
    )
    HIGH = strawberry.enum_value(
        "HIGH", description="A score from the high band's limit (default 10) upwards."
    )


@strawberry.type(description="One kind of alert in a risk profile, over every source.")
class RiskSignal:
    kind: AlertKind | None = strawberry.field(
        description="Null only for a kind newer than the gateway (it logs a warning)."
    )
    count: int = strawberry.field(description="Standing alerts of the kind in the lookback window.")
    open_count: int = strawberry.field(
        description="Of those, not yet decided (OPEN, ACKNOWLEDGED)."
    )
    last_detected_at: datetime | None = strawberry.field(
        description="When the newest standing alert of the kind was detected."
    )
    weight: float = strawberry.field(description="What one fresh alert of the kind adds.")
    contribution: float = strawberry.field(
        description=(
            "Its part of the score: weight × Σ 0.5^(age / half-life) over the alerts (half-life "
            "policy data, default 30 days)."
        )
    )


@strawberry.type(
    description=(
        "How an employee's standing alerts add up: DISMISSED alerts and alerts RESOLVED as "
        "CLEARED do not count; CONFIRMED ones do."
    )
)
class EmployeeRisk:
    score: float = strawberry.field(
        description=(
            "The sum of the signals' contributions: 0 without standing alerts, higher the more, "
            "the weightier and the fresher they are."
        )
    )
    level: RiskLevel = strawberry.field(description="The band the score falls in.")
    signals: list[RiskSignal] = strawberry.field(description="Largest contribution first.")
    evidence: list[Alert] = strawberry.field(
        description="The alerts that weigh most now, largest contribution first."
    )
    as_of: datetime | None = strawberry.field(description="The time the ages were measured from.")
    employee_id: strawberry.Private[str]

    employee = EMPLOYEE.field(
        "employee_id", "Null when the caller may not see the employee in the directory."
    )


def employee_risk_from(
    profile: risk.RiskProfile, as_of: datetime | None, language: str
) -> EmployeeRisk:
    return EmployeeRisk(
        score=profile.score,
        level=RiskLevel(profile.level.value),
        signals=[
            RiskSignal(
                kind=code_of(AlertKind, signal.kind),
                count=signal.count,
                open_count=signal.open_count,
                last_detected_at=signal.last_detected_at,
                weight=signal.weight,
                contribution=signal.contribution,
            )
            for signal in profile.signals
        ],
        evidence=[alert_from_proto(item.alert, language) for item in profile.evidence],
        as_of=as_of,
        employee_id=profile.employee_id,
    )


class Summaries:
    """Every source's summaries, and the model and time they were computed with."""

    def __init__(self, answers: dict[str, common_pb2.SummarizeAlertsResponse]) -> None:
        self.answers = answers
        self.items = [summary for answer in answers.values() for summary in answer.summaries]
        first = next(iter(answers.values()), None)
        # Every source reads the same policy data; None when no source answered.
        self.model = risk.RiskModel.from_proto(first.risk_model) if first is not None else None
        self.as_of = first.as_of.ToDatetime(tzinfo=UTC) if first is not None else None


async def summarize(
    info: Info,
    request: common_pb2.SummarizeAlertsRequest,
    what: str = "risk signals",
    *,
    as_of: dict[str, Timestamp] | None = None,
) -> Summaries:
    """One SummarizeAlerts call per alert source, all at once; with ``as_of``, each source
    measures ages from its time there (a source not named there is not asked)."""
    stubs = info.context.clients.alerts

    def ask(source: str) -> Awaitable[common_pb2.SummarizeAlertsResponse]:
        if as_of is None:
            return stubs[source].SummarizeAlerts(request)
        if source not in as_of:
            return _nothing()
        asked = common_pb2.SummarizeAlertsRequest()
        asked.CopyFrom(request)
        asked.as_of.CopyFrom(as_of[source])
        return stubs[source].SummarizeAlerts(asked)

    return Summaries(await ask_alert_sources(info, what, ask))


async def _nothing() -> common_pb2.SummarizeAlertsResponse:
    return common_pb2.SummarizeAlertsResponse()


def _evidence_request(
    employee_ids: Sequence[str], groups: list[common_pb2.AlertGroup]
) -> common_pb2.SummarizeAlertsRequest:
    """The ask for these employees' heaviest alerts, in those of their groups that can hold
    their evidence."""
    wanted = set(employee_ids)
    return common_pb2.SummarizeAlertsRequest(
        employee_ids=employee_ids,
        include_recent=True,
        heaviest_only=True,
        heaviest_alerts_only=True,
        evidence_groups=[group for group in groups if group.employee_id in wanted],
    )


async def with_evidence(
    info: Info,
    ranked: dict[str, list[common_pb2.AlertKindSummary]],
    scored: Summaries,
    model: risk.RiskModel,
) -> None:
    """The ranked employees' heaviest alerts under their summaries, from each source that
    scored them and as of its time then: the evidence weighs as the scores did."""
    order = list(ranked)
    # A service takes a batch of employees per ask.
    batches = list(chunks(order, validation.MAX_BATCH))
    as_of = {source: answer.as_of for source, answer in scored.answers.items()}
    groups = risk.evidence_groups(ranked, model, list(as_of.values()))
    answers = await asyncio.gather(
        *(
            summarize(info, _evidence_request(ids, groups), "risk evidence", as_of=as_of)
            for ids in batches
        )
    )
    by_group = {
        (summary.employee_id, summary.kind): summary
        for summaries in ranked.values()
        for summary in summaries
    }
    for answer in answers:
        for reply in answer.answers.values():
            # A service older than heaviest_alerts_only answers with summaries instead.
            older = (recent for summary in reply.summaries for recent in summary.recent)
            for recent in itertools.chain(reply.heaviest, older):
                # An alert raised between the two asks has no summary: it is left out.
                summary = by_group.get((recent.alert.employee_id, recent.alert.kind))
                if summary is not None:
                    summary.recent.append(recent)


@strawberry.type
class RiskQuery:
    @described(
        "How an employee's standing alerts add up to a risk score (HR; managers for their "
        "branch). FORBIDDEN for reps, for one's own score and, for a branch manager, for "
        "another manager's (theirs is for HR and headquarters); NOT_FOUND for an employee "
        "the caller may not see."
    )
    async def employee_risk(
        self,
        info: Info,
        employee_id: Annotated[
            GlobalID, strawberry.argument(description="The employee to score (an Employee's ID).")
        ],
    ) -> EmployeeRisk | None:
        wanted = validation.directory_id(
            "employeeId", raw_id(employee_id, "Employee", "employeeId"), required=True
        )
        request = common_pb2.SummarizeAlertsRequest(
            employee_ids=[wanted],
            include_recent=selects(info, EVIDENCE),
            # The evidence only: the alerts that weigh most, not every kind's newest.
            heaviest_only=True,
        )
        summaries, employee = await asyncio.gather(
            summarize(info, request), load_employee(info, wanted), return_exceptions=True
        )
        if isinstance(summaries, BaseException):
            raise summaries  # FORBIDDEN first: a rep learns nothing, not even who exists
        if employee is None:
            raise NotFound(f"employee {wanted} not found")
        if isinstance(employee, BaseException) and not isinstance(employee, ServiceError):
            raise employee
        # The directory down (a ServiceError) fails only the employee field; the score stands.
        if summaries.model is None:
            return None  # no source answered: their errors say why
        profile = risk.profile(wanted, summaries.items, summaries.model)
        return employee_risk_from(profile, summaries.as_of, info.context.language)

    @described(
        "A branch's employees with standing alerts, highest risk first (HR any branch; a "
        "manager their own, the default). FORBIDDEN for reps and for another branch. The "
        "caller is never ranked, nor, for a branch manager, the branch's managers."
    )
    async def risk_ranking(
        self,
        info: Info,
        branch_id: Annotated[
            GlobalID | None,
            strawberry.argument(
                description="The branch to rank (a Branch's ID); the caller's own when omitted."
            ),
        ] = None,
        first: Annotated[
            int | None,
            strawberry.argument(
                description=(
                    "How many employees to return, highest risk first: 20 when omitted, at most "
                    "100 (the gateway's SALESGUARD_DEFAULT_PAGE_SIZE and SALESGUARD_MAX_PAGE_SIZE)."
                )
            ),
        ] = None,
    ) -> list[EmployeeRisk] | None:
        context = info.context
        size = first_size(first, info)
        branch = text(
            "branchId",
            raw_id(branch_id, "Branch", "branchId") or context.caller.principal.branch_id or "",
        )
        if not branch:
            raise InvalidInput("branchId", "branchId is required: the caller has no branch")
        summaries = await summarize(
            info, common_pb2.SummarizeAlertsRequest(branch_id=branch, as_columns=True)
        )
        model = summaries.model
        if model is None:
            return None
        columns = [risk.columns_of(answer) for answer in summaries.answers.values()]
        ranked = risk.top_summaries(columns, model, size)
        if ranked and selects(info, EVIDENCE):
            if selects(info, EMPLOYEE_FIELD):
                # Their names asked for now, in one batch, while their evidence is read.
                for employee in ranked:
                    loading = asyncio.ensure_future(context.loaders.employees.load(employee))
                    loading.add_done_callback(_retrieved)
            # Evidence only for the employees shown: a branch-wide ask would ship the recent
            # alerts of every employee and kind (megabytes for a large branch) to show `first`.
            await with_evidence(info, ranked, summaries, model)
        return [
            employee_risk_from(
                risk.profile(employee, items, model), summaries.as_of, context.language
            )
            for employee, items in ranked.items()
        ]
