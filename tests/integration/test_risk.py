"""G4: employeeRisk and riskRanking through GraphQL, over the four real services.

Alerts come from a real detector where one is cheap to trigger (a late registration:
customers, C2); the others are stored in the owning service's own database with the
helper every detector raises with, so a test can date them (the decay is about age).
Scores follow the policy data (thresholds.risk): a half-life of 30 days and weights
DIVERSION_RISK 5, MOCK_LOCATION 3, LATE_REGISTRATION 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_gateway.settings import GatewaySettings
from tests.conftest import SuiteFactory
from tests.harness import GraphQLResult, Suite, employee_id, global_id
from tests.org import Org, make_org, register
from tests.support.alerts import stored_alert

PROFILE = """query($id: ID!) {
  employeeRisk(employeeId: $id) {
    employee { id name } score level asOf
    signals { kind count openCount lastDetectedAt weight contribution }
    evidence { id kind source title detectedAt }
  }
}"""
RANKING = """query($branch: ID, $first: Int) {
  riskRanking(branchId: $branch, first: $first) {
    employee { id name } score level evidence { id kind }
  }
}"""
SCORES = """query($branch: ID) { riskRanking(branchId: $branch) { employee { id } score } }"""
HALF_LIFE = timedelta(days=30)


def rpc_calls(result: GraphQLResult) -> dict[str, int]:
    return dict(result.body.get("extensions", {}).get("rpcCalls", {}))


@dataclass(frozen=True)
class Branch:
    org: Org
    # junior: a diversion pattern (orders), a mocked location (attendance), a late
    # registration (customers). senior: one fresh diversion pattern. junior_b: the same,
    # two half-lives old. junior_mate: one late registration, one dismissed alert and one
    # resolved as cleared.
    dismissed_id: str
    cleared_id: str


async def decide(
    suite: Suite, alert_id: str, status: str, as_: str, resolution: str | None = None
) -> None:
    decided = await suite.gql(
        """mutation($id: ID!, $status: AlertStatus!, $resolution: AlertResolution) {
             updateAlert(input: {id: $id, status: $status, resolution: $resolution}) {
               alert { status } } }""",
        {"id": global_id("Alert", alert_id), "status": status, "resolution": resolution},
        as_=as_,
    )
    assert decided.ok()["updateAlert"]["alert"]["status"] == status


@pytest.fixture(scope="module")
async def branch(suite: Suite) -> Branch:
    org = await make_org(suite)
    await register(suite, org.junior, hours_since_contact=30)
    await register(suite, org.junior_mate, hours_since_contact=30)
    await stored_alert(
        suite, "orders", "DIVERSION_RISK", employee_id=org.junior, branch_id=org.branch
    )
    await stored_alert(
        suite, "attendance", "MOCK_LOCATION", employee_id=org.junior, branch_id=org.branch
    )
    await stored_alert(
        suite, "orders", "DIVERSION_RISK", employee_id=org.senior, branch_id=org.branch
    )
    old = datetime.now(UTC) - 2 * HALF_LIFE
    await stored_alert(
        suite,
        "orders",
        "DIVERSION_RISK",
        employee_id=org.junior_b,
        detected_at=old,
        branch_id=org.branch,
    )
    # False alarms, dismissed or cleared by the manager: they must not count.
    dismissed = await stored_alert(
        suite, "orders", "FAKE_DEAL_SUSPECTED", employee_id=org.junior_mate, branch_id=org.branch
    )
    await decide(suite, dismissed, "DISMISSED", org.manager)
    cleared = await stored_alert(
        suite, "attendance", "PHOTO_REUSED", employee_id=org.junior_mate, branch_id=org.branch
    )
    await decide(suite, cleared, "RESOLVED", org.manager, "CLEARED")
    return Branch(org, dismissed, cleared)


async def profile_of(suite: Suite, employee: str, as_: str) -> dict[str, Any]:
    """The risk profile of ``employee`` (their HR key)."""
    variables = {"id": employee_id(employee)}
    return dict((await suite.gql(PROFILE, variables, as_=as_)).ok()["employeeRisk"])


async def test_several_kinds_across_services_outweigh_one_minor_alert(
    suite: Suite, branch: Branch
) -> None:
    org = branch.org
    heavy = await profile_of(suite, org.junior, org.manager)
    minor = await profile_of(suite, org.junior_mate, org.manager)
    assert heavy["employee"]["id"] == employee_id(org.junior)
    assert heavy["score"] == pytest.approx(5 + 3 + 1, rel=1e-3)
    assert heavy["level"] == "MEDIUM"
    assert [signal["kind"] for signal in heavy["signals"]] == [
        "DIVERSION_RISK",
        "MOCK_LOCATION",
        "LATE_REGISTRATION",
    ]
    diversion = heavy["signals"][0]
    assert (diversion["count"], diversion["openCount"], diversion["weight"]) == (1, 1, 5)
    assert diversion["contribution"] == pytest.approx(5, rel=1e-3)
    # The evidence: the alerts themselves, from every source, weightiest first.
    assert [(item["kind"], item["source"]) for item in heavy["evidence"]] == [
        ("DIVERSION_RISK", "orders"),
        ("MOCK_LOCATION", "attendance"),
        ("LATE_REGISTRATION", "customers"),
    ]
    assert heavy["evidence"][0]["title"] == "Regular customer gone quiet"

    # The dismissed and the cleared alert count for nothing: one late registration is left.
    assert [signal["kind"] for signal in minor["signals"]] == ["LATE_REGISTRATION"]
    assert minor["score"] == pytest.approx(1, rel=1e-3)
    assert minor["level"] == "LOW"
    evidence = {item["id"] for item in minor["evidence"]}
    assert not evidence & {
        global_id("Alert", branch.dismissed_id),
        global_id("Alert", branch.cleared_id),
    }
    assert heavy["score"] > minor["score"]


async def test_an_old_alert_weighs_less_than_a_fresh_one(suite: Suite, branch: Branch) -> None:
    org = branch.org
    fresh = await profile_of(suite, org.senior, org.hr)
    old = await profile_of(suite, org.junior_b, org.hr)
    assert [s["kind"] for s in fresh["signals"]] == [s["kind"] for s in old["signals"]]
    # Two half-lives: a quarter of the weight.
    assert old["score"] == pytest.approx(fresh["score"] / 4, rel=1e-3)
    assert (fresh["level"], old["level"]) == ("MEDIUM", "LOW")


async def test_the_ranking_orders_the_branch_by_score(suite: Suite, branch: Branch) -> None:
    org = branch.org
    expected = [employee_id(e) for e in (org.junior, org.senior, org.junior_b, org.junior_mate)]
    # A manager ranks their own branch by default; HR names it.
    for caller, branch_id in ((org.manager, None), (org.hr, global_id("Branch", org.branch))):
        result = await suite.gql(RANKING, {"branch": branch_id}, as_=caller)
        ranking = result.ok()["riskRanking"]
        assert [entry["employee"]["id"] for entry in ranking] == expected
        scores = [entry["score"] for entry in ranking]
        assert scores == sorted(scores, reverse=True)
        assert ranking[0]["evidence"][0]["kind"] == "DIVERSION_RISK"
    top = await suite.gql(RANKING, {"branch": None, "first": 2}, as_=org.manager)
    assert [entry["employee"]["id"] for entry in top.ok()["riskRanking"]] == expected[:2]
    # Asking for evidence re-reads the ranked employees only: same order, same scores.
    plain = (await suite.gql(SCORES, {"branch": None}, as_=org.manager)).ok()["riskRanking"]
    assert [entry["employee"]["id"] for entry in plain] == expected
    # Up to the decay between the two requests (30-day half-life): 1e-6 is under four
    # seconds of it, which a busy machine took; 1e-4 is six minutes. A signal missing or
    # counted twice moves a score by its whole weight.
    assert [entry["score"] for entry in plain] == pytest.approx(scores, rel=1e-4)


async def test_one_call_per_source_for_a_ranking(suite: Suite, branch: Branch) -> None:
    # One per alert source (customers, attendance, orders unless configured otherwise).
    sources = GatewaySettings().alert_sources
    scores = await suite.gql(SCORES, {"branch": None}, as_=branch.org.manager)
    scores.ok()
    assert rpc_calls(scores)["/salesguard.common.v1.AlertsService/SummarizeAlerts"] == len(sources)
    # With evidence, one more per source, for the ranked employees only.
    result = await suite.gql(RANKING, {"branch": None}, as_=branch.org.manager)
    result.ok()
    calls = rpc_calls(result)
    assert calls["/salesguard.common.v1.AlertsService/SummarizeAlerts"] == 2 * len(sources)
    # Every ranked employee's name in one batch.
    assert calls["/salesguard.attendance.v1.DirectoryService/BatchGetEmployees"] == 1
    assert not any("ListAlerts" in method for method in calls)


async def summarize_directly(
    suite: Suite, source: str, as_: Principal, **fields: Any
) -> common_pb2.SummarizeAlertsResponse:
    """One source's SummarizeAlerts, asked directly as ``as_``."""
    running = suite.running[source]
    channels = ServiceChannels({source: running.address}, running.runtime.internal_secret, 10)
    try:
        stub = common_pb2_grpc.AlertsServiceStub(channels.channel(source))
        with acting_as(as_):
            answer: common_pb2.SummarizeAlertsResponse = await stub.SummarizeAlerts(
                common_pb2.SummarizeAlertsRequest(**fields)
            )
        return answer
    finally:
        await channels.close()


async def test_columns_and_heaviest_alerts_say_what_summaries_say(
    suite: Suite, branch: Branch
) -> None:
    """What a ranking asks for (the groups as columns, then the shown employees' heaviest
    alerts as of the first answer) is what the summaries say, measured at the same time."""
    org = branch.org
    hr = Principal(org.hr, ("HR",), None, org.hq, hq=True)
    for source in ("orders", "attendance"):
        columns = await summarize_directly(suite, source, hr, branch_id=org.branch, as_columns=True)
        assert not columns.summaries and not columns.heaviest
        as_of = columns.as_of
        plain = await summarize_directly(suite, source, hr, branch_id=org.branch, as_of=as_of)
        assert plain.as_of == as_of and plain.summaries
        groups = columns.columns
        assert sorted(
            zip(
                groups.employee_ids,
                groups.kinds,
                groups.counts,
                groups.open_counts,
                groups.last_detected_micros,
                groups.decayed_counts,
                strict=True,
            )
        ) == [
            (
                summary.employee_id,
                summary.kind,
                summary.count,
                summary.open_count,
                summary.last_detected_at.ToMicroseconds(),
                summary.decayed_count,
            )
            for summary in plain.summaries
        ]
        employees = sorted(set(groups.employee_ids))
        heaviest = await summarize_directly(
            suite,
            source,
            hr,
            employee_ids=employees,
            include_recent=True,
            heaviest_only=True,
            heaviest_alerts_only=True,
            as_of=as_of,
        )
        detailed = await summarize_directly(
            suite,
            source,
            hr,
            employee_ids=employees,
            include_recent=True,
            heaviest_only=True,
            as_of=as_of,
        )
        assert not heaviest.summaries
        assert list(heaviest.heaviest) == [
            recent for summary in detailed.summaries for recent in summary.recent
        ]
        assert heaviest.heaviest
        # Named groups: those groups' heaviest alerts only.
        first = heaviest.heaviest[0].alert
        group = common_pb2.AlertGroup(employee_id=first.employee_id, kind=first.kind)
        only = await summarize_directly(
            suite,
            source,
            hr,
            employee_ids=employees,
            include_recent=True,
            heaviest_only=True,
            heaviest_alerts_only=True,
            as_of=as_of,
            evidence_groups=[group],
        )
        assert list(only.heaviest) == [
            recent
            for recent in heaviest.heaviest
            if (recent.alert.employee_id, recent.alert.kind) == (group.employee_id, group.kind)
        ]


async def test_bad_summary_requests_are_validation(suite: Suite, branch: Branch) -> None:
    org = branch.org
    hr = Principal(org.hr, ("HR",), None, org.hq, hq=True)
    long_ago = to_timestamp(datetime.now(UTC) - timedelta(minutes=6))
    for fields, field in (
        ({"as_columns": True, "include_recent": True}, "as_columns"),
        ({"heaviest_alerts_only": True, "include_recent": True}, "heaviest_alerts_only"),
        ({"as_of": long_ago}, "as_of"),
        ({"evidence_groups": [common_pb2.AlertGroup(employee_id=org.junior)]}, "evidence_groups"),
    ):
        with pytest.raises(ServiceError) as refused:
            await summarize_directly(suite, "orders", hr, branch_id=org.branch, **fields)
        assert refused.value.code is ErrorCode.VALIDATION
        assert refused.value.field == field
    # A group of an employee the request does not name.
    with pytest.raises(ServiceError) as refused:
        await summarize_directly(
            suite,
            "orders",
            hr,
            employee_ids=[org.junior],
            include_recent=True,
            heaviest_only=True,
            heaviest_alerts_only=True,
            evidence_groups=[common_pb2.AlertGroup(employee_id=org.senior, kind="DIVERSION_RISK")],
        )
    assert refused.value.field == "evidence_groups"


async def test_reps_and_finance_are_refused(suite: Suite, branch: Branch) -> None:
    org = branch.org
    for caller in (org.junior_mate, org.senior, org.finance):
        refused = await suite.gql(PROFILE, {"id": employee_id(org.junior)}, as_=caller)
        assert refused.codes == ["FORBIDDEN"]
        assert (refused.data or {}).get("employeeRisk") is None
        assert "DIVERSION_RISK" not in str(refused.body)
        ranked = await suite.gql(SCORES, {"branch": None}, as_=caller)
        assert ranked.codes == ["FORBIDDEN"]
        assert (ranked.data or {}).get("riskRanking") is None
        assert org.junior not in str(ranked.body)
        assert employee_id(org.junior) not in str(ranked.body)
    # Not even their own profile: a score tells a rep how close they are to being noticed.
    own = await suite.gql(PROFILE, {"id": employee_id(org.junior)}, as_=org.junior)
    assert own.codes == ["FORBIDDEN"]


async def test_another_branch_stays_out_of_sight(suite: Suite, branch: Branch) -> None:
    org = branch.org
    ranked = await suite.gql(
        SCORES, {"branch": global_id("Branch", org.branch)}, as_=org.other_manager
    )
    assert ranked.codes == ["FORBIDDEN"]
    assert org.junior not in str(ranked.body)
    assert employee_id(org.junior) not in str(ranked.body)
    # Their own branch's ranking has none of this branch's employees.
    own = (await suite.gql(SCORES, {"branch": None}, as_=org.other_manager)).ok()
    assert own["riskRanking"] == []
    profile = await suite.gql(PROFILE, {"id": employee_id(org.junior)}, as_=org.other_manager)
    assert profile.codes == ["NOT_FOUND"]
    assert "DIVERSION_RISK" not in str(profile.body)


async def test_bad_arguments_are_validation(suite: Suite, branch: Branch) -> None:
    org = branch.org
    empty = await suite.gql(PROFILE, {"id": ""}, as_=org.hr)
    assert empty.codes == ["VALIDATION"] and empty.errors[0]["extensions"]["field"] == "employeeId"
    too_many = await suite.gql(RANKING, {"branch": None, "first": 1000}, as_=org.manager)
    assert too_many.codes == ["VALIDATION"]
    assert too_many.errors[0]["extensions"]["field"] == "first"


async def test_a_source_that_is_down_costs_only_its_signals(
    full_suite_factory: SuiteFactory,
) -> None:
    suite = await full_suite_factory()
    org = await make_org(suite)
    await register(suite, org.junior, hours_since_contact=30)
    await stored_alert(
        suite, "orders", "DIVERSION_RISK", employee_id=org.junior, branch_id=org.branch
    )
    # The manager's roles are cached by the gateway before anything stops.
    assert (await profile_of(suite, org.junior, org.manager))["score"] == pytest.approx(6, 1e-3)
    await suite.running["orders"].stop()
    result = await suite.gql(PROFILE, {"id": employee_id(org.junior)}, as_=org.manager)
    assert result.status == 200
    profile = result.data["employeeRisk"]
    assert [signal["kind"] for signal in profile["signals"]] == ["LATE_REGISTRATION"]
    assert profile["score"] == pytest.approx(1, rel=1e-3)
    assert result.codes == ["UNAVAILABLE"]
    assert result.errors[0]["extensions"]["source"] == "orders"
    assert "risk signals from orders are missing" in result.errors[0]["message"]
    ranking = await suite.gql(SCORES, {"branch": None}, as_=org.manager)
    assert [entry["employee"]["id"] for entry in ranking.data["riskRanking"]] == [
        employee_id(org.junior)
    ]
    assert ranking.codes == ["UNAVAILABLE"]


async def test_the_embedded_profile_scores_alike(embedded_suite: Suite) -> None:
    """SQLite computes the decay in its query too (exp and epoch seconds)."""
    suite = embedded_suite
    org = await make_org(suite)
    old = datetime.now(UTC) - HALF_LIFE
    await stored_alert(
        suite, "orders", "DIVERSION_RISK", employee_id=org.junior, branch_id=org.branch
    )
    await stored_alert(
        suite,
        "orders",
        "DIVERSION_RISK",
        employee_id=org.senior,
        detected_at=old,
        branch_id=org.branch,
    )
    ranking = (
        await suite.gql(SCORES, {"branch": global_id("Branch", org.branch)}, as_=org.hr)
    ).ok()["riskRanking"]
    assert [entry["employee"]["id"] for entry in ranking] == [
        employee_id(org.junior),
        employee_id(org.senior),
    ]
    assert ranking[0]["score"] == pytest.approx(5, rel=1e-3)
    assert ranking[1]["score"] == pytest.approx(2.5, rel=1e-3)
    # The evidence too (each employee's heaviest alerts, ranked in SQLite's query).
    detailed = (
        await suite.gql(RANKING, {"branch": global_id("Branch", org.branch)}, as_=org.hr)
    ).ok()["riskRanking"]
    assert [[item["kind"] for item in entry["evidence"]] for entry in detailed] == [
        ["DIVERSION_RISK"],
        ["DIVERSION_RISK"],
    ]
