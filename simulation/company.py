"""The simulated company's parts and what its people do: the schemes and their telling
alerts, the scale, branches, reps, customers, the injected schemes, the events of a day
and the :class:`World` that holds them. :mod:`simulation.world` plans one from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Scheme(StrEnum):
    """The diversion schemes injected into the company (issue 17)."""

    # Private visits to a customer nobody registered: check-ins at an unregistered site
    # without photos, and long calls to a number that is no customer's.
    PRIVATE_VISITS = "private_visits"
    # A regular customer moved to a competitor: the orders stop, the visits go on.
    COMPETITOR = "competitor"
    # Fake deals for commission: approved orders that are never paid nor shipped.
    FAKE_DEALS = "fake_deals"
    # Faked visits: check-ins from elsewhere, the location spoofed onto a customer's shop
    # (a mock-GPS app, which the device now and then gives away) and an old photo of the
    # shop sent again.
    FAKE_VISITS = "fake_visits"
    # A company-channel customer relabelled PERSONAL for the 8 % rate: a rep cannot change
    # the registered source (C4), so the rep's orders for company-channel customers claim
    # the personal channel instead.
    PERSONAL_RELABEL = "personal_relabel"
    # Taking the customer list before resigning: in the weeks before they leave, the rep
    # reads the unmasked contacts of their whole book (the customer list with phones, in
    # the evening), and then HR sets them LEFT, handing the book to a colleague (C6).
    EXPORT_BEFORE_LEAVING = "export_before_leaving"
    # A branch manager approving a colluding rep's fake deals: the rep places orders never
    # paid nor shipped, and the manager goes on approving the rep's orders after the
    # fake-deal alerts (an honest manager holds them). The schemer is the manager.
    COLLUDING_MANAGER = "colluding_manager"
    # A second record of a colleague's customer: the rep registers the colleague's shop
    # again (another buyer, the shop's switchboard number, the company written a little
    # differently, at the same address), so C3 lets it through, and from then on the
    # shop's orders, and their commission, are the rep's on that record.
    SHADOW_RECORD = "shadow_record"


# The alert kinds that count as catching each scheme: the signals a scheme leaves.
RELEVANT_KINDS: dict[Scheme, frozenset[str]] = {
    Scheme.PRIVATE_VISITS: frozenset(
        {
            "UNREGISTERED_SITE_REPEATED",
            "ABNORMAL_CALL_PATTERN",
            "PHOTO_MISSING_STREAK",
            "UNLINKED_CUSTOMER_SITE",
        }
    ),
    Scheme.COMPETITOR: frozenset({"DIVERSION_RISK"}),
    Scheme.FAKE_DEALS: frozenset({"FAKE_DEAL_SUSPECTED", "SHIPMENT_OVERDUE"}),
    Scheme.FAKE_VISITS: frozenset({"PHOTO_REUSED", "MOCK_LOCATION", "IMPOSSIBLE_TRAVEL"}),
    Scheme.PERSONAL_RELABEL: frozenset({"SOURCE_CONFLICT"}),
    Scheme.EXPORT_BEFORE_LEAVING: frozenset({"BULK_CONTACT_ACCESS", "EXPORT_WITHOUT_APPROVAL"}),
    Scheme.COLLUDING_MANAGER: frozenset({"APPROVAL_DESPITE_WARNING"}),
    Scheme.SHADOW_RECORD: frozenset({"SIMILAR_CUSTOMER", "DIVERSION_RISK"}),
}


@dataclass(frozen=True)
class Scale:
    """How big a company and how long a run; the defaults run in a few minutes."""

    reps_per_branch: int = 10
    customers_per_rep: int = 5
    days: int = 70
    warmup_days: int = 35
    # Reps per scheme (each scheme on its own reps).
    schemers_per_scheme: int = 1
    # Payment terms of every order, in days.
    payment_terms_days: int = 14
    # Customers each rep checks in at on a working day (1 to 3).
    visits_per_day: int = 2

    def __post_init__(self) -> None:
        if self.reps_per_branch * 2 <= len(Scheme) * self.schemers_per_scheme:
            raise ValueError(
                "not enough reps for the schemes and an honest rep: raise reps_per_branch"
            )
        if not 21 <= self.warmup_days < self.days:
            raise ValueError("warmup_days must be at least 21 and less than days")
        if self.customers_per_rep < 2:
            raise ValueError("customers_per_rep must be at least 2")
        if not 1 <= self.visits_per_day <= min(3, self.customers_per_rep):
            raise ValueError("visits_per_day must be 1 to 3, and no more than customers_per_rep")


@dataclass(frozen=True)
class Branch:
    hr_id: str
    name: str
    time_zone: str
    centre: tuple[float, float]
    team: str
    manager: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class Rep:
    hr_id: str
    name: str
    branch: Branch
    device: str


@dataclass(frozen=True)
class Customer:
    key: str
    owner: Rep
    name: str
    company: str
    phone: str
    location: tuple[float, float]
    source: str
    # Registered this many days before day 0 (backdated by the driver, see drive.py).
    registered_days_before: int
    # The ordering rhythm the detectors should learn.
    interval_days: int
    # A parent company that pays this customer's invoices under its own name, or None.
    parent: str | None = None

    @property
    def payer(self) -> str:
        return self.parent or self.company


@dataclass(frozen=True)
class Injected:
    """One scheme on one rep from one day; ``customer`` is the one it concerns, if any."""

    scheme: Scheme
    rep: Rep
    start_day: int
    customer: Customer | None = None
    # PRIVATE_VISITS: the unregistered customer's site and phone.
    site: tuple[float, float] | None = None
    phone: str | None = None
    # The schemer counted when it is not the rep (COLLUDING_MANAGER: the rep's branch
    # manager, whose accomplice the rep is), by HR key.
    employee: str | None = None

    @property
    def schemer(self) -> str:
        """The HR key of the employee the scheme is counted on (caught or missed)."""
        return self.employee or self.rep.hr_id

    @property
    def involved(self) -> frozenset[str]:
        """Everyone in the scheme: the schemer and the rep (an accomplice, when not the
        schemer); none of them is honest."""
        return frozenset({self.schemer, self.rep.hr_id})


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    rep: Rep
    at: datetime
    point: tuple[float, float]
    accuracy_m: float
    customer: Customer | None
    # The photo's scene (a number the driver draws it from), or None for no photo; a
    # faked visit sends an earlier visit's scene again.
    photo: int | None
    mock_location: bool = False
    # The photo is taken again moments later from the same spot (the first check-in was
    # redone): a new picture, within the perceptual hash's match distance of the first.
    retake: bool = False
    # The phone checked in from, when not the rep's first one (after a phone change).
    device: str | None = None
    # Covering an away colleague's customer (issue 17): the manager who plans this visit
    # for the rep, and the plan's window; the driver plans it (planVisit) before the check-in.
    cover_plan: tuple[str, datetime, datetime] | None = None


@dataclass(frozen=True)
class CallLog:
    rep: Rep
    at: datetime
    number: str
    seconds: int


@dataclass(frozen=True)
class OrderPlaced:
    key: str
    rep: Rep
    customer: Customer
    at: datetime
    total: int
    due: date
    # The source channel the order claims; None: the customer's registered one.
    source_claim: str | None = None


@dataclass(frozen=True)
class PaymentMade:
    order_key: str
    customer: Customer
    at: datetime
    amount: int

    @property
    def payer(self) -> str:
        return self.customer.payer


@dataclass(frozen=True)
class Shipped:
    order_key: str
    rep: Rep
    at: datetime


@dataclass(frozen=True)
class BackOrdered:
    """Finance records that an order's goods cannot ship yet, promised for
    ``promised`` (the day the warehouse expects them, a day or two optimistic at times)."""

    order_key: str
    rep: Rep
    at: datetime
    promised: date


@dataclass(frozen=True)
class FollowUp:
    """A follow-up the rep records on a customer (a long call worth noting)."""

    rep: Rep
    at: datetime
    customer: Customer


@dataclass(frozen=True)
class DuplicateAttempt:
    """An honest rep registers a customer a colleague registered already (a shop's second
    buyer called them): refused, and raised for a manager to decide."""

    rep: Rep
    at: datetime
    existing: Customer


@dataclass(frozen=True)
class ContactsRead:
    """A rep, in the field app, opens the customer list (``listing``; it shows no contact
    fields) and reads the phone and address of ``customers``, one at a time: an honest rep
    one before calling them, a leaver their whole book."""

    rep: Rep
    at: datetime
    customers: tuple[Customer, ...]
    listing: bool = False


@dataclass(frozen=True)
class Departure:
    """HR sets the rep LEFT (C6): their customers go to ``successor``, or to the branch's
    pool when None."""

    rep: Rep
    at: datetime
    successor: Rep | None


@dataclass(frozen=True)
class Claim:
    """A rep takes a customer from their branch's pool (C11): one a leaver left there."""

    rep: Rep
    at: datetime
    customer: Customer


@dataclass(frozen=True)
class Registration:
    """A rep registers a new customer during the run (SHADOW_RECORD's second record)."""

    rep: Rep
    at: datetime
    customer: Customer


Event = (
    Visit
    | CallLog
    | FollowUp
    | OrderPlaced
    | PaymentMade
    | Shipped
    | BackOrdered
    | DuplicateAttempt
    | ContactsRead
    | Departure
    | Claim
    | Registration
)


@dataclass
class World:
    seed: int
    scale: Scale
    start: date
    prefix: str
    hq: str
    hr: str
    finance: str
    branches: list[Branch]
    reps: list[Rep]
    customers: list[Customer]
    schemes: list[Injected]
    # Day index → that day's events, in time order.
    events: dict[int, list[Event]] = field(default_factory=dict)
    # The reps who leave during the run (HR key → the day they leave, their last day
    # employed being the day before), schemers and honest alike.
    departures: dict[str, int] = field(default_factory=dict)

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def scheme_of(self, rep: Rep) -> Injected | None:
        return next((s for s in self.schemes if s.rep == rep), None)

    def colluding(self, manager: str) -> bool:
        """Whether ``manager`` (an HR key) approves a colluding rep's fake deals."""
        return any(
            s.employee == manager for s in self.schemes if s.scheme is Scheme.COLLUDING_MANAGER
        )
