"""Registration: validate, refuse duplicates, insert, flag a late registration.

The decisions are :mod:`salesguard_customers.rules.registration` and
:mod:`salesguard_customers.rules.duplicates`; this module gathers their facts under
the identity and owner locks, in one transaction, and persists what they decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.alerts import AlertDraft, raise_alert
from salesguard.db import lock_keys, new_id, utcnow
from salesguard.errors import ErrorCode, InvalidInput, ServiceError
from salesguard.idempotency import IdempotentWrites
from salesguard.masking import mask_name, mask_value
from salesguard.phones import normalise_phone
from salesguard.policy import PolicyClient
from salesguard.principal import Principal, current_principal
from salesguard.writes import past_moment
from salesguard_api.customers.v1 import customers_pb2 as pb
from salesguard_customers import SERVICE_NAME, audit, lookups, shared_contacts
from salesguard_customers.contacts import CONTACT_FIELDS, Contact, ContactVault, normalise_email
from salesguard_customers.models import Alert, Customer, IdempotencyKey
from salesguard_customers.registry import SOURCES, Owner, Registry
from salesguard_customers.rules import duplicates as duplicate_rules
from salesguard_customers.rules import registration as rules
from salesguard_customers.rules.duplicates import identity_key

# The SQL predicate of each duplicate criterion, by the criterion's name.
_CRITERION_COLUMNS = {
    duplicate_rules.PHONE: Customer.phone_index,
    duplicate_rules.EMAIL: Customer.email_index,
    duplicate_rules.NAME_COMPANY: Customer.identity_key,
}


@dataclass(frozen=True)
class Registration:
    """A registration request, validated and normalised."""

    name: str
    company: str
    phone: str
    email: str
    address: str
    location: tuple[float, float] | None
    source: str
    source_detail: str
    first_contact_at: datetime


@dataclass(frozen=True)
class ExistingCustomer:
    """What a duplicate error tells about the customer already registered."""

    id: str
    code: str
    owner_id: str | None
    branch_id: str | None


@dataclass(frozen=True)
class DuplicateCheck:
    """What the duplicate check found: the first existing match, if any, and the
    criteria it ignored because their values are shared."""

    existing: Customer | None = None
    matched_on: str = ""
    value_key: str = ""
    ignored: tuple[str, ...] = ()


class DuplicateFound(Exception):
    def __init__(self, check: DuplicateCheck, shown_value: str) -> None:
        super().__init__(check.matched_on)
        existing = check.existing
        assert existing is not None
        # Plain values: the session that loaded the row rolls back before they are used.
        self.existing = ExistingCustomer(
            existing.id, existing.code, existing.owner_id, existing.branch_id
        )
        self.matched_on = check.matched_on
        self.value_key = check.value_key
        self.shown_value = shown_value


async def lock_identities(
    session: AsyncSession,
    phone: str,
    email: str,
    name: str,
    company: str,
    *,
    located: bool = False,
) -> None:
    """Serialise registrations of the same identity so two racing requests cannot both insert.
    A ``located`` registration also takes its company's key (``SIMILAR_CUSTOMER``
    compares exactly that key): of two records of one shop registered at the same moment,
    the second's similarity query runs after the first has committed, and sees it."""
    company_key = duplicate_rules.company_key(company) if located else ""
    await lock_keys(
        session,
        f"p:{phone}" if phone else "",
        f"e:{email}" if email else "",
        f"n:{identity_key(name, company)}",
        f"c:{company_key}" if company_key else "",
    )


async def find_duplicate(
    session: AsyncSession,
    vault: ContactVault,
    phone: str,
    email: str,
    identity: str,
    *,
    exclude_id: str | None = None,
) -> DuplicateCheck:
    """The first customer matching a blocking criterion; shared values ignored."""
    criteria = duplicate_rules.duplicate_criteria(
        vault.phone_index(phone) if phone else "",
        vault.email_index(email) if email else "",
        identity,
    )
    shared = await shared_contacts.shared_values(
        session, [(criterion.name, criterion.value_key) for criterion in criteria]
    )
    check = duplicate_rules.blocking_criteria(criteria, shared)
    for criterion in check.blocking:
        query = select(Customer).where(_CRITERION_COLUMNS[criterion.name] == criterion.value_key)
        if exclude_id is not None:
            query = query.where(Customer.id != exclude_id)
        existing = (await session.scalars(query.order_by(Customer.number).limit(1))).first()
        if existing is not None:
            return DuplicateCheck(existing, criterion.name, criterion.value_key, check.ignored)
    return DuplicateCheck(ignored=check.ignored)


async def raise_similar_alerts(
    session: AsyncSession,
    policy: PolicyClient,
    principal: Principal,
    owner_id: str,
    customer: Customer,
) -> bool:
    """``SIMILAR_CUSTOMER`` (:func:`.rules.duplicates.similar_customers`) on a record as it
    now stands, registered or just edited to another company or place: an alert on
    ``principal`` for each active customer of another owner than ``owner_id`` within the
    radius whose company matches; True when one matched. One query
    (:func:`.lookups.similar_nearby`, which the diversion job's lookup asks too). The
    caller holds the company's key (:func:`lock_identities` with ``located``)."""
    if customer.lat is None or customer.lng is None:
        return False
    threshold = duplicate_rules.SimilarThreshold.from_policy(
        await policy.threshold("similar_customer")
    )
    matches = await lookups.similar_nearby(
        session,
        customer_id=customer.id,
        company=customer.company,
        owner_id=owner_id,
        location=(customer.lat, customer.lng),
        threshold=threshold,
    )
    for existing in matches:
        await raise_alert(
            session,
            Alert,
            AlertDraft(
                kind=duplicate_rules.SIMILAR_ALERT,
                dedupe_key=duplicate_rules.similar_dedupe_key(existing.id, principal.id),
                employee_id=principal.id,
                customer_id=customer.id,
                branch_id=customer.branch_id,
                evidence=duplicate_rules.similar_evidence(
                    customer.code,
                    existing,
                    registrant_id=principal.id,
                    new_owner_id=owner_id,
                    radius_m=threshold.radius_m,
                ),
            ),
            source=SERVICE_NAME,
        )
    return bool(matches)


class Registrar:
    """``RegisterCustomer``."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.db = registry.db
        # Registration responses carry contact details: stored encrypted.
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey, cipher=registry.vault.cipher)
        self.policy = registry.policy
        self.settings = registry.settings
        self.vault = registry.vault

    def _validate(self, request: pb.RegisterCustomerRequest) -> Registration:
        region = self.settings.default_phone_region
        name = validation.text(
            "name", request.name, required=True, max_length=validation.NAME_LENGTH
        )
        company = validation.text("company", request.company, max_length=validation.NAME_LENGTH)
        phone_raw = validation.text("phone", request.phone, max_length=validation.PHONE_LENGTH)
        email_raw = validation.text("email", request.email, max_length=validation.EMAIL_LENGTH)
        if not rules.has_contact(phone_raw, email_raw):
            raise InvalidInput("phone", "a phone or an email is required")
        location = (
            validation.geo_point("location", request.location)
            if request.HasField("location")
            else None
        )
        first_contact_at = past_moment(
            "first_contact_at",
            request.first_contact_at,
            skew_seconds=self.settings.clock_skew_seconds,
        )
        return Registration(
            name=name,
            company=company,
            phone=normalise_phone(phone_raw, region) if phone_raw else "",
            email=normalise_email(email_raw) if email_raw else "",
            address=validation.text("address", request.address, max_length=validation.MAX_TEXT),
            location=location,
            source=validation.enum_value("source", request.source, SOURCES),
            source_detail=validation.text(
                "source_detail", request.source_detail, max_length=validation.MAX_TEXT
            ),
            first_contact_at=first_contact_at,
        )

    async def register(self, request: pb.RegisterCustomerRequest) -> pb.RegisterCustomerResponse:
        principal = current_principal()

        async def may_register_for(owner: Owner) -> None:
            (await self.policy.decide(principal, "customers.register", owner.resource())).require(
                "customers.register"
            )

        owner = await self.registry.authorised_owner(principal, request.owner_id, may_register_for)
        registration = self._validate(request)

        async def insert(session: AsyncSession) -> pb.RegisterCustomerResponse:
            return await self._insert(session, principal, owner, registration)

        try:
            return await self.idempotent.run(
                principal.id, request, pb.RegisterCustomerResponse, insert
            )
        except DuplicateFound as duplicate:
            raise await self._duplicate_claim(principal, duplicate) from None

    async def _insert(
        self, session: AsyncSession, principal: Principal, owner: Owner, registration: Registration
    ) -> pb.RegisterCustomerResponse:
        await lock_identities(
            session,
            registration.phone,
            registration.email,
            registration.name,
            registration.company,
            located=registration.location is not None,
        )
        await self.registry.fence_owner(session, principal, owner.id, "owner_id")
        identity = identity_key(registration.name, registration.company)
        duplicate = await find_duplicate(
            session, self.vault, registration.phone, registration.email, identity
        )
        if duplicate.existing is not None:
            raise DuplicateFound(duplicate, self._shown_value(registration, duplicate.matched_on))
        now = utcnow()
        customer = Customer(
            id=new_id(),
            name=registration.name,
            company=registration.company,
            identity_key=identity,
            source=registration.source,
            source_detail=registration.source_detail,
            owner_id=owner.id,
            team_id=owner.team_id,
            branch_id=owner.branch_id,
            status="ACTIVE",
            first_contact_at=registration.first_contact_at,
            registered_at=now,
            registered_by=principal.id,
            updated_at=now,
            owned_since=now,
        )
        customer.place(registration.location)
        for field in CONTACT_FIELDS:
            self.vault.store(customer, field, getattr(registration, field))
        session.add(customer)
        await session.flush()
        warnings = []
        limit = rules.late_registration_limit(await self.policy.threshold("late_registration"))
        late = rules.late_registration(registration.first_contact_at, now, limit)
        if late is not None:
            await raise_alert(
                session,
                Alert,
                AlertDraft(
                    kind=rules.LATE_REGISTRATION,
                    dedupe_key=f"{rules.LATE_REGISTRATION}:{customer.id}",
                    employee_id=owner.id,
                    customer_id=customer.id,
                    branch_id=owner.branch_id,
                    evidence=late.evidence(
                        customer_code=customer.code,
                        first_contact_at=registration.first_contact_at,
                        registered_at=now,
                        registered_by=principal.id,
                    ),
                ),
                source=SERVICE_NAME,
            )
            warnings.append(rules.LATE_REGISTRATION)
        if duplicate.ignored:
            warnings.append(duplicate_rules.SHARED_ALERT)
        if await raise_similar_alerts(session, self.policy, principal, owner.id, customer):
            warnings.append(duplicate_rules.SIMILAR_ALERT)
        await audit.record(
            session,
            audit.AuditEntry(
                actor_id=principal.id,
                action="customer.register",
                customer_ids=[customer.id],
                fields=[
                    f
                    for f in (
                        "name",
                        "company",
                        *CONTACT_FIELDS,
                        "location",
                        "source",
                        "source_detail",
                    )
                    if self._given(registration, f)
                ],
                after=self.registry.audit_view(customer),
                branch_id=customer.branch_id,
            ),
        )
        contact = Contact(registration.phone, registration.email, registration.address)
        return pb.RegisterCustomerResponse(
            customer=self.registry.to_proto(customer, contact, frozenset()),
            warnings=warnings,
            shared_criteria=duplicate.ignored,
        )

    @staticmethod
    def _given(registration: Registration, field: str) -> bool:
        value = getattr(registration, field)
        return value is not None and value != ""

    @staticmethod
    def _shown_value(registration: Registration, criterion: str) -> str:
        """The matched value as an alert may show it: contact values masked."""
        if criterion in CONTACT_FIELDS:
            return mask_value(criterion, getattr(registration, criterion))
        return f"{registration.name} / {registration.company}"

    async def _duplicate_claim(
        self, principal: Principal, duplicate: DuplicateFound
    ) -> ServiceError:
        """Raise the claim alert for a manager and build the caller's error."""
        existing = duplicate.existing
        threshold = await shared_contacts.shared_threshold(self.policy)
        async with self.db.transaction() as session:
            await raise_alert(
                session,
                Alert,
                AlertDraft(
                    kind=duplicate_rules.CLAIM_ALERT,
                    dedupe_key=duplicate_rules.claim_dedupe_key(
                        existing.id, principal.id, duplicate.matched_on
                    ),
                    employee_id=principal.id,
                    customer_id=existing.id,
                    branch_id=existing.branch_id,
                    evidence=duplicate_rules.claim_evidence(
                        existing.code, duplicate.matched_on, principal.id, existing.owner_id
                    ),
                ),
                source=SERVICE_NAME,
            )
            # Enough different reps refused on one value make it a shared one.
            await shared_contacts.record_blocked_attempt(
                session,
                shared_contacts.BlockedAttempt(
                    criterion=duplicate.matched_on,
                    value_key=duplicate.value_key,
                    shown_value=duplicate.shown_value,
                    employee_id=principal.id,
                    employee_branch_id=principal.branch_id,
                    existing_id=existing.id,
                    existing_code=existing.code,
                    existing_owner_id=existing.owner_id,
                    existing_branch_id=existing.branch_id,
                ),
                threshold,
                utcnow(),
            )
        owner_name = "—"
        if existing.owner_id:
            owner = await self.registry.directory.employee(existing.owner_id)
            owner_name = mask_name(
                owner.name if owner is not None and owner.name else existing.owner_id
            )
        return ServiceError(
            f"customer {existing.code} is already registered (matched on {duplicate.matched_on}); owner {owner_name}",
            code=ErrorCode.DUPLICATE_CUSTOMER,
            details={
                "existing_code": existing.code,
                "owner": owner_name,
                "matched_on": duplicate.matched_on,
            },
        )
