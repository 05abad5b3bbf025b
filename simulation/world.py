"""The simulated company and everything its people do, planned from a seed.

Nothing here talks to a service: :func:`plan_world` returns a :class:`World` whose
``events`` say, day by day, who checks in where, who calls whom, which orders are placed,
paid and shipped, and which registrations are attempted. :mod:`simulation.drive` plays
them. Every random choice comes from one ``random.Random(seed)`` drawn in a fixed order,
so a seed and a scale always give the same company, the same noise and the same schemes.

Simulated day 0 is ``start``; the last day is ``start + days - 1``. Schemes start after
``warmup_days``, once every customer has an ordering rhythm the detectors can read.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from salesguard import geo
from simulation.company import (
    BackOrdered,
    Branch,
    CallLog,
    Claim,
    ContactsRead,
    Customer,
    Departure,
    DuplicateAttempt,
    Event,
    FollowUp,
    Injected,
    OrderPlaced,
    PaymentMade,
    Registration,
    Rep,
    Scale,
    Scheme,
    Shipped,
    Visit,
    World,
)
from tests.support.geo import offset

# Two time zones: Shanghai (UTC+8) and Ürümqi (UTC+6, Xinjiang's local time).
CITIES = (
    ("sh", "Shanghai", "Asia/Shanghai", (31.2304, 121.4737)),
    ("ur", "Urumqi", "Asia/Urumqi", (43.8256, 87.6168)),
)
# Half the side of the square a branch's customers lie in (about 16 km).
SPREAD_DEG = 0.15
# Farther than this from every customer: an unregistered site, whatever the jitter.
PRIVATE_SITE_MIN_M = 2_000.0
# Honest noise, at rates a field team sees: customers whose parent company pays their
# invoices, reps who change phones during the run or forget photos for a working week,
# and photographed visits redone minutes later with the photo retaken from the same spot.
PARENT_PAYS_SHARE = 0.1
PHONE_CHANGE_SHARE = 0.1
FORGETFUL_WEEK_SHARE = 0.1
RETAKE_SHARE = 0.03
# A rep who takes the customer list when they leave has a book worth taking: at least this
# many customers, whatever the scale gives the others (BULK_CONTACT_ACCESS needs 10 in an
# hour; a smaller book can be read whole without a signal, see EXPORT_BEFORE_LEAVING).
LEAVER_BOOK = 12
# Honest departures: this share of the honest reps (at least one) leave during the run, a
# few of them handing their customers to the pool rather than to a colleague; and honest
# reps look a customer's number up before calling them, about one call in two.
DEPARTURE_SHARE = 0.1
TO_POOL_SHARE = 0.3
READ_BEFORE_CALL_SHARE = 0.5
# Honest reps away (leave, sick) for a few working days: this share of them (at least one),
# a teammate covering one of their customers a day on a visit the manager plans.
AWAY_SHARE = 0.3
AWAY_DAYS = (2, 4)
# Honest reps open the field app's customer list (which shows no contact fields) on about
# one working morning in three.
LIST_OPEN_SHARE = 0.3
# Honest chain shops: in each branch this many customers of honest reps trade under the
# company name of another customer a kilometre or more away (SIMILAR_CUSTOMER's distance
# rule must tell them from a second record of one shop).
CHAIN_SHOPS_PER_BRANCH = 2
CHAIN_SHOP_MIN_M = 1_000.0


def week_end(today: date) -> date:
    """The run's end: the latest Monday up to ``today``. The simulated days then end on a
    Sunday whatever day it runs, so a seed plans the same weeks (shifted by whole weeks),
    and they lie in the past, as the services require of visits and payments."""
    return today - timedelta(days=today.weekday())


def plan_world(seed: int, scale: Scale, end: date) -> World:
    """The company and its ``scale.days`` days, the last one the day before ``end``."""
    rng = random.Random(seed)
    # The noise added after the first schemes draws from a stream of its own, so that it
    # left every event a seed planned before as it was.
    noise = random.Random(f"{seed}-noise")
    prefix = f"sim{seed}"
    start = end - timedelta(days=scale.days)
    branches = [
        Branch(
            f"{prefix}-{code}", name, zone, centre, f"{prefix}-{code}-team", f"{prefix}-{code}-mgr"
        )
        for code, name, zone, centre in CITIES
    ]
    reps = [
        Rep(f"{b.hr_id}-rep{n}", f"{b.name} rep {n}", b, f"{b.hr_id}-rep{n}-phone")
        for b in branches
        for n in range(scale.reps_per_branch)
    ]
    phones = _phone_numbers(rng)
    customers = [
        _customer(rng, rep, n, next(phones)) for rep in reps for n in range(scale.customers_per_rep)
    ]
    customers = [
        replace(c, parent=f"{c.owner.branch.name} Holdings {n}")
        if noise.random() < PARENT_PAYS_SHARE
        else c
        for n, c in enumerate(customers)
    ]
    world = World(
        seed=seed,
        scale=scale,
        start=start,
        prefix=prefix,
        hq=f"{prefix}-hq",
        hr=f"{prefix}-hr",
        finance=f"{prefix}-finance",
        branches=branches,
        reps=reps,
        customers=customers,
        schemes=[],
    )
    world.schemes = _inject(rng, world, phones)
    _chain_shops(world)
    _grow_leaver_books(world, phones)
    _plan_days(rng, noise, world)
    _relabel_orders(world)
    _plan_departures_and_contact_reads(world)
    _shadow_records(world)
    _plan_covers(world)
    return world


def _phone_numbers(rng: random.Random) -> Iterator[str]:
    """Distinct mobile numbers, as people type them."""
    seen: set[str] = set()
    while True:
        digits = f"{rng.randrange(10**8):08d}"
        if digits not in seen:
            seen.add(digits)
            yield f"+86 139 {digits[:4]} {digits[4:]}"


def _customer(rng: random.Random, rep: Rep, n: int, phone: str) -> Customer:
    lat, lng = rep.branch.centre
    key = f"{rep.hr_id}-c{n}"
    return Customer(
        key=key,
        owner=rep,
        name=f"{rep.branch.name} shop {key[-6:]}",
        company=f"{rep.branch.name} Trading {key}",
        phone=phone,
        location=(
            lat + rng.uniform(-SPREAD_DEG, SPREAD_DEG),
            lng + rng.uniform(-SPREAD_DEG, SPREAD_DEG),
        ),
        source=rng.choice(("WEBSITE", "EXHIBITION", "REFERRAL", "PERSONAL")),
        registered_days_before=rng.randrange(30, 200),
        interval_days=rng.choice((7, 10, 14, 14, 21, 28)),
    )


def _inject(rng: random.Random, world: World, phones: Iterator[str]) -> list[Injected]:
    scale = world.scale
    chosen = rng.sample(world.reps, len(Scheme) * scale.schemers_per_scheme)
    injected = []
    for index, rep in enumerate(chosen):
        scheme = list(Scheme)[index % len(Scheme)]
        start_day = scale.warmup_days + rng.randrange(0, 5)
        own = [c for c in world.customers if c.owner == rep]
        if scheme is Scheme.PRIVATE_VISITS:
            injected.append(
                Injected(
                    scheme, rep, start_day, site=_private_site(rng, world, rep), phone=next(phones)
                )
            )
        elif scheme is Scheme.COMPETITOR:
            # A customer who orders weekly: three orders make a rhythm within the warm-up,
            # so the detector has something to miss when they stop.
            target = replace(own[0], interval_days=7)
            world.customers[world.customers.index(own[0])] = target
            injected.append(Injected(scheme, rep, start_day, customer=target))
        elif scheme is Scheme.PERSONAL_RELABEL:
            _give_company_customer(world, own)
            injected.append(Injected(scheme, rep, start_day))
        elif scheme is Scheme.COLLUDING_MANAGER:  # the rep is the branch manager's accomplice
            injected.append(Injected(scheme, rep, start_day, employee=rep.branch.manager))
        else:
            injected.append(Injected(scheme, rep, start_day))
    return injected


def _give_company_customer(world: World, own: list[Customer]) -> None:
    """PERSONAL_RELABEL needs a company-channel customer to relabel: a rep whose book the
    draw made all PERSONAL has their first customer registered from the website instead."""
    if all(c.source == "PERSONAL" for c in own):
        world.customers[world.customers.index(own[0])] = replace(own[0], source="WEBSITE")


def _relabel_orders(world: World) -> None:
    """PERSONAL_RELABEL: from the start day, the schemer's orders for company-channel
    customers claim the personal channel (honest orders claim the registered one)."""
    for scheme in world.schemes:
        if scheme.scheme is not Scheme.PERSONAL_RELABEL:
            continue
        for d in range(scheme.start_day, world.scale.days):
            world.events[d] = [
                replace(event, source_claim="PERSONAL")
                if isinstance(event, OrderPlaced)
                and event.rep == scheme.rep
                and event.customer.source != "PERSONAL"
                else event
                for event in world.events[d]
            ]


def _private_site(rng: random.Random, world: World, rep: Rep) -> tuple[float, float]:
    """A place in the rep's city far from every registered customer; in a city too full
    for one, just outside the customers' square (5 km beyond its northern edge)."""
    lat, lng = rep.branch.centre
    for _ in range(1_000):
        site = (
            lat + rng.uniform(-SPREAD_DEG, SPREAD_DEG),
            lng + rng.uniform(-SPREAD_DEG, SPREAD_DEG),
        )
        if all(geo.haversine_m(*site, *c.location) > PRIVATE_SITE_MIN_M for c in world.customers):
            return site
    return lat + SPREAD_DEG + 0.045, lng + rng.uniform(-SPREAD_DEG, SPREAD_DEG)


def _jitter(rng: random.Random, point: tuple[float, float], metres: float) -> tuple[float, float]:
    return offset(point, metres, bearing=rng.uniform(0, 360))


def _local(day: date, rep: Rep, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=rep.branch.zone)


def _working(day: date) -> bool:
    return day.weekday() < 5


def _plan_days(rng: random.Random, noise: random.Random, world: World) -> None:
    """Every event of every day, honest noise and schemes alike, in one pass per day."""
    scale = world.scale
    # The day each rep who changes phones starts using the new one, and the first day of
    # each forgetful rep's week without photos.
    new_phone = {
        rep: noise.randrange(1, scale.days)
        for rep in world.reps
        if noise.random() < PHONE_CHANGE_SHARE
    }
    no_photos_from = {
        rep: noise.randrange(0, scale.days - 7)
        for rep in world.reps
        if noise.random() < FORGETFUL_WEEK_SHARE
    }
    events: dict[int, list[Event]] = {d: [] for d in range(scale.days)}

    def add(day_index: int, event: Event) -> None:
        if 0 <= day_index < scale.days:  # what would happen after the run is not played
            events[day_index].append(event)

    by_rep = {rep: [c for c in world.customers if c.owner == rep] for rep in world.reps}
    schemes = {s.rep: s for s in world.schemes}
    # The next order day of each customer; the competitor's target starts early and
    # often, so that its rhythm is plain before the scheme begins.
    next_order = {
        c: (
            rng.randrange(0, 4)
            if any(s.customer == c for s in world.schemes)
            else rng.randrange(0, c.interval_days)
        )
        for c in world.customers
    }
    next_fake: dict[Rep, int] = {}
    photos = _Photos()
    orders = 0
    for d in range(scale.days):
        day = world.day(d)
        if not _working(day):
            continue
        for rep in world.reps:
            scheme = schemes.get(rep)
            active = scheme is not None and d >= scheme.start_day
            own = by_rep[rep]
            # Orders of customers whose turn it is (weekends push them to Monday).
            for customer in own:
                if next_order[customer] > d:
                    continue
                next_order[customer] = d + max(3, customer.interval_days + rng.randint(-2, 2))
                if active and scheme is not None and scheme.customer == customer:
                    continue  # ordering from the competitor now
                orders += 1
                _honest_order(rng, world, add, f"o{orders}", rep, customer, d)
            if (
                active
                and scheme is not None
                and scheme.scheme is Scheme.FAKE_DEALS
                and d >= next_fake.setdefault(rep, scheme.start_day)
            ):
                next_fake[rep] = d + rng.randint(5, 9)
                orders += 1
                placed = OrderPlaced(
                    f"o{orders}",
                    rep,
                    rng.choice(own),
                    _local(day, rep, 17, rng.randrange(60)),
                    rng.randrange(200, 600) * 100,
                    day + timedelta(days=scale.payment_terms_days),
                )
                add(d, placed)  # and nothing more: never paid, never shipped
            if active and scheme is not None and scheme.scheme is Scheme.COLLUDING_MANAGER:
                _colluding_order(rng, world, add, scheme, own, d, next_fake)
            # Field visits: two of one's own customers a day, with GPS jitter and photos.
            visited = rng.sample(own, scale.visits_per_day)
            if active and scheme is not None and scheme.scheme is Scheme.COMPETITOR:
                assert scheme.customer is not None
                if rng.random() < 0.4:  # still dropping by the customer who left
                    visited[-1] = scheme.customer
            device = f"{rep.device}-new" if d >= new_phone.get(rep, scale.days) else None
            forgets = 0 <= d - no_photos_from.get(rep, -7) < 7
            for hour, customer in zip((10, 14, 16), visited, strict=False):
                at = _local(day, rep, hour, rng.randrange(50))
                if (
                    active
                    and scheme is not None
                    and scheme.scheme is Scheme.FAKE_VISITS
                    and rng.random() < 0.5
                    and (earlier := photos.first(rep, customer)) is not None
                ):
                    add(d, replace(_faked_visit(rng, rep, at, customer, earlier), device=device))
                    continue
                visit = replace(_visit(rng, rep, at, customer, photos, forgets), device=device)
                add(d, visit)
                if visit.photo is not None and noise.random() < RETAKE_SHARE:
                    add(d, _redone(noise, visit))
            # The private customer: a photo-less check-in at their site, and a long call.
            if active and scheme is not None and scheme.scheme is Scheme.PRIVATE_VISITS:
                assert scheme.site is not None and scheme.phone is not None
                if rng.random() < 0.6:
                    at = _local(day, rep, 12, rng.randrange(40))
                    add(
                        d,
                        Visit(
                            rep,
                            at,
                            _jitter(rng, scheme.site, rng.uniform(0, 30)),
                            15.0,
                            None,
                            None,
                        ),
                    )
                if rng.random() < 0.8:
                    at = _local(day, rep, 19, rng.randrange(50))
                    add(d, CallLog(rep, at, scheme.phone, rng.randrange(1200, 3600)))
            # Calls to one's own customers; now and then an honest long one, which the rep
            # mostly notes as a follow-up (and sometimes forgets to).
            for _ in range(rng.randint(1, 2)):
                customer = rng.choice(own)
                at = _local(day, rep, 16, rng.randrange(30))
                if rng.random() < 0.02:
                    seconds = rng.randrange(1200, 2000)
                    if rng.random() < 0.6:
                        add(d, FollowUp(rep, at + timedelta(seconds=seconds + 300), customer))
                else:
                    seconds = rng.randrange(60, 400)
                add(d, CallLog(rep, at, customer.phone, seconds))
            # Now and then a shop's second buyer calls: the rep registers a colleague's
            # customer again, honestly.
            if rng.random() < 0.015:
                colleagues = [
                    c for c in world.customers if c.owner.branch == rep.branch and c.owner != rep
                ]
                add(d, DuplicateAttempt(rep, _local(day, rep, 11, 0), rng.choice(colleagues)))
    world.events = {d: sorted(day_events, key=_moment) for d, day_events in events.items()}


def _moment(event: Event) -> datetime:
    return event.at


class _Photos:
    """The photos taken, numbered in the order they are planned (the driver draws each
    number's scene), and each rep's first of each customer: what a faked visit sends again."""

    def __init__(self) -> None:
        self._taken = 0
        self._first: dict[tuple[Rep, Customer], int] = {}

    def shot(self, rep: Rep, customer: Customer) -> int:
        self._taken += 1
        self._first.setdefault((rep, customer), self._taken)
        return self._taken

    def first(self, rep: Rep, customer: Customer) -> int | None:
        return self._first.get((rep, customer))


def _visit(
    rng: random.Random,
    rep: Rep,
    at: datetime,
    customer: Customer,
    photos: _Photos,
    forgets: bool = False,
) -> Visit:
    """An honest visit: GPS a few dozen metres off, indoors now and then far worse; the
    odd forgotten photo, and none at all in a forgetful week."""
    if rng.random() < 0.06:  # indoors: a poor fix, sometimes beyond the geofence
        metres, accuracy = rng.uniform(150, 450), rng.uniform(60, 200)
    else:
        metres, accuracy = abs(rng.gauss(0, 25)), rng.uniform(8, 30)
    point = _jitter(rng, customer.location, metres)
    takes_photo = rng.random() > 0.03 and not forgets
    photo = photos.shot(rep, customer) if takes_photo else None
    return Visit(rep, at, point, accuracy, customer, photo)


def _redone(noise: random.Random, visit: Visit) -> Visit:
    """The same visit checked in again minutes later (the app lost the first, or the photo
    was blurred), a step away, with the photo retaken from the same spot."""
    return replace(
        visit,
        at=visit.at + timedelta(minutes=noise.randint(3, 12)),
        point=_jitter(noise, visit.point, noise.uniform(0, 10)),
        retake=True,
    )


def _faked_visit(
    rng: random.Random, rep: Rep, at: datetime, customer: Customer, earlier_photo: int
) -> Visit:
    """A check-in made elsewhere: the spoofed fix sits on the shop with a precision no
    phone indoors has, the photo is an earlier one of the shop, and one time in four the
    device reports the mock location."""
    point = _jitter(rng, customer.location, rng.uniform(0, 3))
    return Visit(rep, at, point, 5.0, customer, earlier_photo, mock_location=rng.random() < 0.25)


def _colluding_order(
    rng: random.Random,
    world: World,
    add: Callable[[int, Event], None],
    scheme: Injected,
    own: list[Customer],
    d: int,
    next_fake: dict[Rep, int],
) -> None:
    """COLLUDING_MANAGER: the accomplice's fake deal every three to six days (their
    manager approves whatever they submit), never paid, never shipped."""
    rep = scheme.rep
    if d < next_fake.setdefault(rep, scheme.start_day):
        return
    next_fake[rep] = d + rng.randint(3, 6)
    day = world.day(d)
    placed = OrderPlaced(
        f"{rep.hr_id}-fake{d}",
        rep,
        rng.choice(own),
        _local(day, rep, 17, rng.randrange(60)),
        rng.randrange(200, 600) * 100,
        day + timedelta(days=world.scale.payment_terms_days),
    )
    add(d, placed)


def _honest_order(
    rng: random.Random,
    world: World,
    add: Callable[[int, Event], None],
    key: str,
    rep: Rep,
    customer: Customer,
    d: int,
) -> None:
    """An order, shipped within days and paid: mostly on time, some late, some in two
    parts; a few late ones are shipped late too (back-ordered), so they look unpaid and
    unshipped past their due date — honest noise for the fake-deal detector."""
    terms = world.scale.payment_terms_days
    day = world.day(d)
    total = rng.randrange(10, 200) * 100
    add(
        d,
        OrderPlaced(
            key,
            rep,
            customer,
            _local(day, rep, 15, rng.randrange(60)),
            total,
            day + timedelta(days=terms),
        ),
    )
    roll = rng.random()
    ship_after = rng.randint(1, 3)
    if roll < 0.78:
        payments = [(rng.randint(2, terms), total)]
    elif roll < 0.92:
        late = terms + rng.randint(2, 15)
        payments = [(late, total)]
        if rng.random() < 0.1:  # back-ordered: shipped only after the due date
            # The manager records it on the day it would have shipped, with the day the
            # warehouse promises (at times a day or two before the parcel really leaves).
            # Drawn from a stream of the order's own: the seed's other events stay as
            # they were before back-orders were recorded.
            promise = random.Random(f"{world.seed}-back-order-{key}")
            promised = world.day(d + late - 1 - promise.randint(0, 2))
            at = _local(world.day(d + ship_after), rep, 10, promise.randrange(60))
            add(d + ship_after, BackOrdered(key, rep, at, promised))
            ship_after = late - 1
    else:
        half = total // 2
        payments = [(terms - 2, half), (terms + rng.randint(3, 10), total - half)]
    ship_day = world.day(d + ship_after)
    add(d + ship_after, Shipped(key, rep, _local(ship_day, rep, 9, rng.randrange(60))))
    for after, amount in payments:
        pay_day = world.day(d + after)
        add(
            d + after,
            PaymentMade(key, customer, _local(pay_day, rep, 11, rng.randrange(60)), amount),
        )


# -- leaving, and reading contacts (EXPORT_BEFORE_LEAVING and its honest noise) --------------


def _grow_leaver_books(world: World, phones: Iterator[str]) -> None:
    """Each leaver's book grown to :data:`LEAVER_BOOK` customers, registered before the run
    like the rest (a stream of its own, so the other customers stay as the seed made them)."""
    rng = random.Random(f"{world.seed}-leaver-book")
    for injected in world.schemes:
        if injected.scheme is not Scheme.EXPORT_BEFORE_LEAVING:
            continue
        rep = injected.rep
        for n in range(world.scale.customers_per_rep, LEAVER_BOOK):
            world.customers.append(_customer(rng, rep, n, next(phones)))


def _plan_departures_and_contact_reads(world: World) -> None:
    """Who leaves when, and what changes with it; honest contact reads before calls; the
    leavers' evenings reading their whole book.

    Each EXPORT_BEFORE_LEAVING rep reads their book's contacts on the scheme's first day
    and every few days after, and leaves two to three weeks after it began. Some honest
    reps leave too. From a rep's leaving day on, their customers are a colleague's of the
    same branch (who takes over their orders and calls and drops by one of them a day) or,
    with nobody to take them or now and then, sit in the pool (nobody orders for them
    then); the leaver does nothing more."""
    rng = random.Random(f"{world.seed}-departures")
    scale = world.scale
    schemes = {s.rep: s for s in world.schemes}
    honest = [r for r in world.reps if r not in schemes]
    leaving: dict[Rep, int] = {}
    # The leavers' last evenings: until they leave, or the run ends before they do.
    harvest_until: dict[Rep, int] = {}
    for injected in world.schemes:
        if injected.scheme is Scheme.EXPORT_BEFORE_LEAVING:
            leave_day = _working_day_from(world, injected.start_day + rng.randint(14, 21))
            harvest_until[injected.rep] = min(leave_day, scale.days)
            if leave_day < scale.days:
                leaving[injected.rep] = leave_day
    for rep in rng.sample(honest, max(1, round(DEPARTURE_SHARE * len(honest)))):
        leaving[rep] = _working_day_from(world, rng.randrange(7, scale.days - 7))
    successors: dict[Rep, Rep | None] = {}
    for rep in sorted(leaving, key=lambda r: r.hr_id):
        staying = [r for r in honest if r.branch == rep.branch and r not in leaving]
        pool = not staying or (rep in honest and rng.random() < TO_POOL_SHARE)
        successors[rep] = None if pool else rng.choice(staying)
    world.departures = {rep.hr_id: day for rep, day in leaving.items()}
    owner: dict[Customer, Rep | None] = {c: c.owner for c in world.customers}
    phones = {c.phone: c for c in world.customers}
    dropped_orders: set[str] = set()
    # A pooled customer a teammate claims, the day they do; the order that fell due
    # meanwhile, the claimer takes on that day (one per customer).
    claims: dict[Customer, int] = {}
    reordered: set[Customer] = set()

    def add(day_index: int, event: Event) -> None:
        if 0 <= day_index < scale.days:
            world.events[day_index].append(event)

    for d in range(scale.days):
        day = world.day(d)
        for rep, leave_day in leaving.items():
            if leave_day == d:
                at = _local(day, rep, 9, rng.randrange(30))
                world.events[d].append(Departure(rep, at, successors[rep]))
                staying = [r for r in honest if r.branch == rep.branch and r not in leaving]
                for c in world.customers:
                    if owner[c] != rep:
                        continue
                    owner[c] = successors[rep]
                    if successors[rep] is None and staying:
                        claimer = rng.choice(staying)
                        claim_day = _working_day_from(world, d + rng.randint(1, 3))
                        if claim_day < scale.days:
                            claims[c] = claim_day
                            at = _local(world.day(claim_day), claimer, 9, rng.randrange(30, 59))
                            add(claim_day, Claim(claimer, at, c))
        for event in world.events[d]:
            if isinstance(event, Claim):
                owner[event.customer] = event.rep
        kept: list[Event] = []
        inherited_visit: set[Rep] = set()
        for event in world.events[d]:
            if isinstance(event, (PaymentMade, Shipped, BackOrdered)):
                if event.order_key not in dropped_orders:
                    kept.append(event)
                continue
            if isinstance(event, (Departure, Claim)) or event.rep not in leaving:
                kept.append(event)
                continue
            if d < leaving[event.rep]:
                kept.append(event)
                continue
            customer = _customer_of(event, phones)
            taker = None if customer is None else owner[customer]
            if taker is None or isinstance(event, DuplicateAttempt):
                if isinstance(event, OrderPlaced):
                    dropped_orders.add(event.key)
                    if event.customer in claims and event.customer not in reordered:
                        reordered.add(event.customer)
                        claimer = next(
                            e.rep
                            for e in world.events[claims[event.customer]]
                            if isinstance(e, Claim) and e.customer == event.customer
                        )
                        key = f"{event.key}-claimed"
                        _honest_order(
                            rng, world, add, key, claimer, event.customer, claims[event.customer]
                        )
                continue
            if isinstance(event, Visit):
                # The new owner drops by one inherited customer a day, at noon.
                if taker in inherited_visit:
                    continue
                inherited_visit.add(taker)
                at = _local(day, taker, 12, rng.randrange(40))
                kept.append(replace(event, rep=taker, at=at, device=None, retake=False))
            else:
                kept.append(replace(event, rep=taker))
        # Honest reps look a customer's number up a few minutes before calling them.
        for event in list(kept):
            if (
                isinstance(event, CallLog)
                and (customer := phones.get(event.number)) is not None
                and owner[customer] == event.rep
                and rng.random() < READ_BEFORE_CALL_SHARE
            ):
                kept.append(ContactsRead(event.rep, event.at - timedelta(minutes=3), (customer,)))
        if _working(day):
            for rep in world.reps:
                if rep in leaving and d >= leaving[rep]:
                    continue
                if rng.random() < LIST_OPEN_SHARE:
                    at = _local(day, rep, 8, rng.randrange(50))
                    kept.append(ContactsRead(rep, at, (), listing=True))
        world.events[d] = kept
    for injected in world.schemes:
        if injected.scheme is not Scheme.EXPORT_BEFORE_LEAVING:
            continue
        rep = injected.rep
        d = injected.start_day
        while d < harvest_until[rep]:
            book = tuple(c for c in world.customers if c.owner == rep)
            at = _local(world.day(d), rep, 21, rng.randrange(50))
            world.events[d].append(ContactsRead(rep, at, book, listing=True))
            d += rng.randint(3, 6)
    world.events = {d: sorted(day_events, key=_moment) for d, day_events in world.events.items()}


def _customer_of(event: Event, phones: dict[str, Customer]) -> Customer | None:
    """The customer an event of a rep concerns, if any (a call's by its number)."""
    if isinstance(event, CallLog):
        return phones.get(event.number)
    if isinstance(event, (Visit, FollowUp, OrderPlaced)):
        return event.customer
    return None


def _working_day_from(world: World, d: int) -> int:
    while not _working(world.day(d)):
        d += 1
    return d


# -- chain shops and second records (SHADOW_RECORD and its honest noise) ---------------------


def _chain_shops(world: World) -> None:
    """Honest chain shops: a few honest reps' customers renamed to another customer's
    company, a kilometre or more from it (a stream of its own; before the days are planned,
    so their orders and payments carry the name)."""
    rng = random.Random(f"{world.seed}-chains")
    in_schemes = {s.rep for s in world.schemes}
    for branch in world.branches:
        ours = [c for c in world.customers if c.owner.branch == branch]
        honest = [c for c in ours if c.owner not in in_schemes]
        for shop in rng.sample(honest, min(CHAIN_SHOPS_PER_BRANCH, len(honest))):
            shop = next(c for c in world.customers if c.key == shop.key)
            others = [
                c
                for c in ours
                if c.owner != shop.owner
                and geo.haversine_m(*c.location, *shop.location) >= CHAIN_SHOP_MIN_M
            ]
            if others:
                chain = rng.choice(others)
                renamed = replace(shop, company=chain.company)
                world.customers[world.customers.index(shop)] = renamed


def _shadow_records(world: World) -> None:
    """SHADOW_RECORD: on the scheme's first working day the rep registers a colleague's
    busiest customer again (another buyer's name, the shop's switchboard, the company
    with its legal form written out, a few metres from the shop), and from then on the
    shop's orders are the rep's on that record, paid and shipped as before; the colleague
    goes on visiting and calling the shop. The colleague is an honest rep of the branch
    who stays when there is one, else one who stays whose scheme places no fake orders,
    else one who leaves (the schemes' own target customers are never the shop)."""
    rng = random.Random(f"{world.seed}-shadow")
    involved = {s.rep: s.scheme for s in world.schemes}
    targets = {s.customer for s in world.schemes if s.customer is not None}
    for index, injected in enumerate(world.schemes):
        if injected.scheme is not Scheme.SHADOW_RECORD:
            continue
        rep = injected.rep
        mates = [r for r in world.reps if r.branch == rep.branch and r != rep]
        ranked = sorted(
            (
                r
                for r in mates
                if involved.get(r) not in (Scheme.FAKE_DEALS, Scheme.COLLUDING_MANAGER)
            ),
            key=lambda r: (r.hr_id in world.departures, r in involved, r.hr_id),
        )
        if not ranked:
            continue
        colleague = ranked[0]
        start = _working_day_from(world, injected.start_day)
        orders: dict[Customer, int] = {}
        for d in range(start, world.scale.days):
            for event in world.events[d]:
                if isinstance(event, OrderPlaced) and event.customer.owner == colleague:
                    orders[event.customer] = orders.get(event.customer, 0) + 1
        shops = [c for c in world.customers if c.owner == colleague and c not in targets]
        shop = max(shops, key=lambda c: (orders.get(c, 0), c.key))
        second = replace(
            shop,
            key=f"{shop.key}-second",
            owner=rep,
            name=f"{rep.branch.name} buyer of {shop.key}",
            company=f"{shop.company} Co., Ltd.",
            phone=f"+86 21 6{rng.randrange(10**7):07d}",
            location=_jitter(rng, shop.location, rng.uniform(5, 40)),
            registered_days_before=0,
        )
        at = _local(world.day(start), rep, 9, rng.randrange(40))
        moved: set[str] = set()
        for d in range(start, world.scale.days):
            day_events: list[Event] = []
            for event in world.events[d]:
                if isinstance(event, OrderPlaced) and event.customer == shop:
                    moved.add(event.key)
                    event = replace(event, rep=rep, customer=second, source_claim=None)
                elif isinstance(event, PaymentMade) and event.order_key in moved:
                    event = replace(event, customer=second)
                elif isinstance(event, (Shipped, BackOrdered)) and event.order_key in moved:
                    event = replace(event, rep=rep)
                day_events.append(event)
            world.events[d] = day_events
        world.events[start] = sorted(
            [*world.events[start], Registration(rep, at, second)], key=_moment
        )
        world.schemes[index] = replace(injected, customer=second)


# -- covering an away colleague's customers (honest noise) ---------------------------------


def _plan_covers(world: World) -> None:
    """Honest reps away for two to four working days: each day, their branch manager plans
    a teammate's visits to the customers they would have visited (11:00 to 13:30, two at
    most), and the teammate checks in there, linked, from 11:20 and from 12:45 (clear of
    their own visits' travel); the away rep's calls and contact reads of those days do not
    happen (their orders and what follows them stay: customers order on their own)."""
    rng = random.Random(f"{world.seed}-covers")
    scale = world.scale
    schemers = {s.rep for s in world.schemes}
    honest = [r for r in world.reps if r not in schemers]

    def teammates(rep: Rep, among: list[Rep]) -> list[Rep]:
        return [r for r in among if r.branch == rep.branch and r != rep]

    def last_employed(*reps: Rep) -> int:
        return min(world.departures.get(r.hr_id, scale.days) for r in reps) - 1

    # Away: honest reps with an honest teammate to cover them, when there are any (a
    # schemer's alerts count as no false alert, so a schemer covering would hide them).
    pool = [r for r in honest if teammates(r, honest)] or honest
    chosen = [r for r in pool if rng.random() < AWAY_SHARE]
    if not chosen and pool:
        chosen = [rng.choice(pool)]
    busy: set[tuple[Rep, int]] = set()
    for rep in chosen:
        mates = teammates(rep, honest) or teammates(rep, world.reps)
        if not mates:
            continue
        mate = rng.choice(mates)
        last = min(last_employed(rep, mate), scale.days - 1)
        if last - AWAY_DAYS[1] - 2 <= 7:
            continue
        d = _working_day_from(world, rng.randrange(7, last - AWAY_DAYS[1] - 2))
        length = rng.randint(*AWAY_DAYS)
        days: list[int] = []
        while len(days) < length and d <= last:
            if _working(world.day(d)):
                days.append(d)
            d += 1
        # Nobody away or covering twice on a day.
        if any((r, d) in busy for r in (rep, mate) for d in days):
            continue
        for d in days:
            busy.update({(rep, d), (mate, d)})
            _cover_day(rng, world, d, rep, mate)


def _cover_day(rng: random.Random, world: World, d: int, away: Rep, mate: Rep) -> None:
    day = world.day(d)
    kept: list[Event] = []
    slots = [_local(day, mate, 11, 20), _local(day, mate, 12, 45)]
    start, end = _local(day, mate, 11, 0), _local(day, mate, 13, 30)
    for event in world.events[d]:
        if isinstance(event, Visit) and event.rep == away:
            if slots and event.customer is not None and not event.retake:
                at = slots.pop(0) + timedelta(minutes=rng.randrange(20))
                covered = replace(
                    event,
                    rep=mate,
                    at=at,
                    device=None,
                    retake=False,
                    mock_location=False,
                    cover_plan=(away.branch.manager, start, end),
                )
                kept.append(covered)
            continue
        if isinstance(event, (CallLog, FollowUp, ContactsRead)) and event.rep == away:
            continue
        kept.append(event)
    world.events[d] = sorted(kept, key=_moment)
