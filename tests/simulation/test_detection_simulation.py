"""A tiny simulated company (twelve reps, eight of them each in one scheme) played
through the gateway on the embedded profile: every scheme must be caught by the product's
own detectors and jobs, so a detector or threshold change that stops catching one fails
here. The measurement's arithmetic is checked on its own, without a run.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

from simulation.company import CallLog, ContactsRead, Scale, Scheme, Visit
from simulation.drive import Observed, SeenAlert, simulate
from simulation.measure import auc, evaluate, table, top_share
from simulation.world import plan_world, week_end

# Twelve reps, two customers each (a leaver twelve), eight weeks: long enough for a weekly
# customer's silence (twice its interval) and a fake deal's payment terms (14 days) and the
# policy's grace (fake_deal.grace_days, 7) to run out after the schemes start on day 21 to
# 25. Seven schemes on their own reps and a colluding manager's accomplice leave four honest.
TINY = Scale(reps_per_branch=6, customers_per_rep=2, days=56, warmup_days=21, visits_per_day=1)
END = week_end(date.today())


def test_the_same_seed_plans_the_same_company() -> None:
    first, second = plan_world(5, TINY, END), plan_world(5, TINY, END)
    assert first.schemes == second.schemes and first.events == second.events
    assert {s.scheme for s in first.schemes} == set(Scheme)
    assert plan_world(6, TINY, END).events != first.events


async def test_a_tiny_company_s_schemes_are_all_caught(tmp_path: Path) -> None:
    world = plan_world(17, TINY, END)
    observed = await simulate(world, tmp_path)
    report = evaluate(world, observed)
    printed = table(world, observed, report)
    for row in report.rows:
        assert (row.schemers, row.caught) == (1, 1), printed
    # Each within a month of its start (the slowest, a fake deal, waits out its terms).
    assert max(report.overall.days) <= 30, printed
    assert printed.splitlines()[-1].startswith("detection: recall 1.00 days "), printed


def test_recall_days_false_alerts_and_ranking_are_counted_as_documented() -> None:
    world = plan_world(3, TINY, END)
    fake, competitor, private, colluding = (
        next(s for s in world.schemes if s.scheme is scheme)
        for scheme in (
            Scheme.FAKE_DEALS,
            Scheme.COMPETITOR,
            Scheme.PRIVATE_VISITS,
            Scheme.COLLUDING_MANAGER,
        )
    )
    honest, *_unranked_honest = honest_reps = [r for r in world.reps if world.scheme_of(r) is None]
    honest_manager = next(b.manager for b in world.branches if b.manager != colluding.schemer)
    assert colluding.schemer == colluding.rep.branch.manager
    alerts = [
        # Caught 15 days after the start.
        SeenAlert("a1", "FAKE_DEAL_SUSPECTED", "HIGH", fake.rep.hr_id, fake.start_day + 15),
        # Before the start, and of an unrelated kind: neither catches the competitor scheme.
        SeenAlert("a2", "DIVERSION_RISK", "HIGH", competitor.rep.hr_id, competitor.start_day - 1),
        SeenAlert("a3", "LOCATION_MISMATCH", "MEDIUM", competitor.rep.hr_id, competitor.start_day),
        SeenAlert(
            "a4", "ABNORMAL_CALL_PATTERN", "MEDIUM", private.rep.hr_id, private.start_day + 4
        ),
        # On the honest rep: false, one HIGH and one MEDIUM.
        SeenAlert("a5", "UNLINKED_CUSTOMER_SITE", "HIGH", honest.hr_id, 3),
        SeenAlert("a6", "LOCATION_MISMATCH", "MEDIUM", honest.hr_id, 4),
        # The colluding manager is caught, on the manager; their accomplice's fake-deal
        # alert is no false alert, an honest manager's alert is one (HIGH).
        SeenAlert(
            "a7",
            "APPROVAL_DESPITE_WARNING",
            "HIGH",
            colluding.schemer,
            colluding.start_day + 25,
        ),
        SeenAlert("a8", "FAKE_DEAL_SUSPECTED", "HIGH", colluding.rep.hr_id, 40),
        SeenAlert("a9", "APPROVAL_DESPITE_WARNING", "HIGH", honest_manager, 41),
    ]
    scores = {fake.rep.hr_id: 9.0, private.rep.hr_id: 2.0, honest.hr_id: 3.0}
    all_begun = world.day(max(s.start_day for s in world.schemes))
    none_begun = world.day(min(s.start_day for s in world.schemes) - 1)
    month_ends = {none_begun: {honest.hr_id: 1.0}, all_begun: {fake.rep.hr_id: 1.0}}
    observed = Observed({a.id: a for a in alerts}, scores, month_ends)
    report = evaluate(world, observed)
    assert [(r.name, r.caught, r.days) for r in report.rows] == [
        ("private_visits", 1, [4]),
        ("competitor", 0, []),
        ("fake_deals", 1, [15]),
        ("fake_visits", 0, []),
        ("personal_relabel", 0, []),
        ("export_before_leaving", 0, []),
        ("colluding_manager", 1, [25]),
        ("shadow_record", 0, []),
    ]
    assert report.rows[1].missed == [competitor.rep.hr_id]
    assert (report.overall.recall, report.overall.median_days) == (3 / 8, 15.0)
    # Four honest reps, each counted while employed (the first leaves on day 35); the
    # managers are not counted in the rep-months.
    assert len(honest_reps) == 4
    assert [world.departures.get(r.hr_id) for r in honest_reps] == [35, None, None, None]
    rep_months = sum(world.departures.get(r.hr_id, 56) for r in honest_reps) / 30.44
    assert math.isclose(report.false_high, 2 * 100 / rep_months)
    assert math.isclose(report.false_by_severity["MEDIUM"], 100 / rep_months)
    # Schemers 9, 2 and six 0s (unranked, the manager among them) against the honest 3, 0,
    # 0 and 0 (unranked): of the 32 pairs, 9 wins four, 2 wins three, each 0 ties three
    # (half each): sixteen in 32. The accomplice rep is neither.
    assert math.isclose(report.auc, 16 / 32)
    # The top 10 % of twelve, rounded up, are two: the fake-deal schemer and the honest 3.
    assert report.top10 == 0.5
    # At a month's end only the schemes begun by then count: none, then all eight, where
    # 1 against the honest 0, 0, 0 and 0 wins four pairs and each of seven 0s ties four:
    # eighteen in 32.
    assert math.isnan(report.month_end_auc[none_begun])
    assert math.isclose(report.month_end_auc[all_begun], 18 / 32)
    assert auc([1.0], [1.0]) == 0.5
    assert top_share({"a": 1.0, "b": 1.0, "c": 0.0}, {"b"}, fraction=0.5) == 0.5


def test_an_away_rep_s_customers_are_covered_on_visits_their_manager_plans() -> None:
    world = plan_world(17, TINY, END)
    honest = [r for r in world.reps if world.scheme_of(r) is None]
    covers = [(d, e) for d, events in world.events.items() for e in events if isinstance(e, Visit)]
    covers = [(d, e) for d, e in covers if e.cover_plan is not None]
    assert covers
    for d, visit in covers:
        assert visit.customer is not None and visit.cover_plan is not None
        manager, start, end = visit.cover_plan
        # A teammate covers a colleague's customer, on a plan of the branch manager that
        # holds the check-in's time.
        assert visit.rep != visit.customer.owner
        assert visit.rep.branch == visit.customer.owner.branch
        assert manager == visit.rep.branch.manager and start <= visit.at <= end
        # An honest rep is away: no visit, call or contact read of theirs that day (their
        # orders stay: customers order on their own).
        assert any(
            not any(
                isinstance(e, Visit | CallLog | ContactsRead) and e.rep == rep
                for e in world.events[d]
            )
            for rep in honest
        ), d
