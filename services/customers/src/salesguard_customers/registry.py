"""The customer registry: registration, reads, changes, follow-ups and reassignment (C1–C8, C10).

Every operation asks the policy engine once, turns the decision into a SQL
filter over the rows, and masks each row with the narrowest grant that covers
it before anything leaves the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from salesguard import validation
from salesguard.alerts import AlertDraft, raise_alert
from salesguard.common.v1 import common_pb2
from salesguard.customers.v1 import customers_pb2 as pb
from salesguard.db import lock_keys, new_id, utcnow
from salesguard.directory import DirectoryClient
from salesguard.errors import ErrorCode, Forbidden, InvalidInput, NotFound, ServiceError
from salesguard.idempotency import run_idempotent
from salesguard.masking import mask_name, mask_value
from salesguard.pagination import (
    count_if_asked,
    keyset_page,
    keyset_query,
)
from salesguard.phones import looks_like_phone, normalise_phone
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.principal import Principal, current_principal
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_customers import SERVICE_NAME, audit, shared_contacts
from salesguard_customers.access import record_contact_reads
from salesguard_customers.contacts import (
    CONTACT_FIELDS,
    Contact,
    ContactVault,
    identity_key,
    normalise_email,
)
from salesguard_customers.models import Alert, Customer, FollowUp, IdempotencyKey
from salesguard_customers.settings import CustomersSettings

DEFAULT_LATE_REGISTRATION_SECONDS = 24 * 3600
SCOPE = ScopeColumns(owner=Customer.owner_id, team=Customer.team_id, branch=Customer.branch_id)

SOURCES = validation.enum_names(pb.SourceChannel, "SOURCE_CHANNEL_")
STATUSES = validation.enum_names(pb.CustomerStatus, "CUSTOMER_STATUS_")
FOLLOW_UP_KINDS = validation.enum_names(pb.FollowUpKind, "FOLLOW_UP_KIND_")


@dataclass(frozen=True)
class Owner:
    id: str
    team_id: str | None
    branch_id: str | None

    def resource(self) -> dict[str, Any]:
        return {"owner_id": self.id, "team_id": self.team_id, "branch_id": self.branch_id}


def owner_lock_key(employee_id: str) -> str:
    """The lock taken for an employee before customers become theirs and before their
    departure hands theirs over (C6): the two go one at a time (see Registry.fence_owner)."""
    return f"owner:{employee_id}"


def customer_resource(customer: Customer, **extra: Any) -> dict[str, Any]:
    return {
        "owner_id": customer.owner_id,
        "team_id": customer.team_id,
        "branch_id": customer.branch_id,
        **extra,
    }


def row_masks(decision: Decision, customer: Customer) -> frozenset[str]:
    """The fields to mask on a row: the narrowest covering grant's, or every contact field
    when no grant covers it (SQL scope filters keep such rows out; this is the backstop)."""
    masks = decision.masks_for(customer.owner_id, customer.team_id, customer.branch_id)
    return frozenset(CONTACT_FIELDS) if masks is None else masks


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
    criteria it ignored because their values are shared (C12)."""

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


class Registry:
    def __init__(
        self, runtime: Runtime[CustomersSettings], vault: ContactVault, directory: DirectoryClient
    ) -> None:
        self.db = runtime.db
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.vault = vault
        self.directory = directory

    # -- presentation -------------------------------------------------------

    def to_proto(
        self, customer: Customer, contact: Contact | None, masked: frozenset[str]
    ) -> pb.Customer:
        message = pb.Customer(
            id=customer.id,
            code=customer.code,
            name=customer.name,
            company=customer.company,
            source=pb.SourceChannel.Value(f"SOURCE_CHANNEL_{customer.source}"),
            source_detail=customer.source_detail,
            owner_id=customer.owner_id or "",
            team_id=customer.team_id or "",
            branch_id=customer.branch_id or "",
            first_contact_at=to_timestamp(customer.first_contact_at),
            registered_at=to_timestamp(customer.registered_at),
            updated_at=to_timestamp(customer.updated_at),
            status=pb.CustomerStatus.Value(f"CUSTOMER_STATUS_{customer.status}"),
            masked_fields=sorted(masked & set(CONTACT_FIELDS)),
            pooled_at=to_timestamp(customer.pooled_at),
        )
        if contact is not None:
            message.phone, message.email, message.address = (
                contact.phone,
                contact.email,
                contact.address,
            )
        if customer.lat is not None and customer.lng is not None:
            message.location.CopyFrom(common_pb2.GeoPoint(lat=customer.lat, lng=customer.lng))
        return message

    def present(
        self, rows: Sequence[Customer], decision: Decision, include_contact: bool
    ) -> tuple[list[pb.Customer], list[Customer], set[str]]:
        """Protos masked per row, the rows whose contact fields went out unmasked, and which fields."""
        messages = []
        unmasked_rows = []
        unmasked_fields: set[str] = set()
        for row in rows:
            masks = row_masks(decision, row)
            contact = self.vault.read(row, masks) if include_contact else None
            messages.append(self.to_proto(row, contact, masks))
            if contact is not None:
                shown = {
                    field
                    for field in CONTACT_FIELDS
                    if field not in masks and getattr(contact, field)
                }
                if shown:
                    unmasked_rows.append(row)
                    unmasked_fields |= shown
        return messages, unmasked_rows, unmasked_fields

    async def present_recorded(
        self,
        principal: Principal,
        rows: Sequence[Customer],
        decision: Decision,
        include_contact: bool,
    ) -> list[pb.Customer]:
        """:meth:`present`, recording the contact fields that leave unmasked (C7, C8)."""
        messages, unmasked, fields = self.present(rows, decision, include_contact)
        await record_contact_reads(self.db, self.policy, principal, unmasked, sorted(fields))
        return messages

    async def read_decision(self, principal: Principal) -> Decision:
        return (await self.policy.decide(principal, "customers.read")).require("customers.read")

    # -- registration (C1–C4) -------------------------------------------------

    def _validate_registration(self, request: pb.RegisterCustomerRequest) -> Registration:
        region = self.settings.default_phone_region
        name = validation.text("name", request.name, required=True, max_length=200)
        company = validation.text("company", request.company, max_length=200)
        phone_raw = validation.text("phone", request.phone, max_length=40)
        email_raw = validation.text("email", request.email, max_length=254)
        if not phone_raw and not email_raw:
            raise InvalidInput("phone", "a phone or an email is required")
        location = (
            validation.geo_point("location", request.location)
            if request.HasField("location")
            else None
        )
        first_contact_at = from_timestamp(request.first_contact_at, "first_contact_at")
        if first_contact_at is None:
            raise InvalidInput("first_contact_at", "first_contact_at is required")
        if first_contact_at > utcnow() + timedelta(seconds=self.settings.clock_skew_seconds):
            raise InvalidInput("first_contact_at", "first_contact_at lies in the future")
        return Registration(
            name=name,
            company=company,
            phone=normalise_phone(phone_raw, region) if phone_raw else "",
            email=normalise_email(email_raw) if email_raw else "",
            address=validation.text("address", request.address, max_length=500),
            location=location,
            source=validation.enum_value("source", request.source, SOURCES),
            source_detail=validation.text("source_detail", request.source_detail, max_length=500),
            first_contact_at=first_contact_at,
        )

    async def _owner(self, principal: Principal, owner_id: str, field: str = "owner_id") -> Owner:
        """Who will own the customer (the caller unless named), active in the directory.

        Checked for the caller too, not only for someone named: nothing new is owned by an
        employee who is not active (SPEC §2, C6), even when a leaver's principal still
        reaches the service signed. The caller: FORBIDDEN; someone named: VALIDATION on
        ``field``.
        """
        owner_id = validation.text(field, owner_id, max_length=64) or principal.id
        themselves = owner_id == principal.id
        employee = await self.directory.require_active(
            owner_id, field=None if themselves else field
        )
        if themselves:
            return Owner(principal.id, principal.team_id, principal.branch_id)
        return Owner(employee.id, employee.team_id or None, employee.branch_id or None)

    async def _authorised_owner(
        self,
        principal: Principal,
        owner_id: str,
        authorise: Callable[[Owner], Awaitable[None]],
        field: str = "owner_id",
    ) -> Owner:
        """:meth:`_owner`, authorised first: ``authorise`` refuses (FORBIDDEN) an owner
        outside the caller's scope before :meth:`_owner`'s refusal of an unknown or
        inactive one is told, which is not the caller's to learn (issue 11 item 12)."""
        try:
            owner = await self._owner(principal, owner_id, field)
        except InvalidInput:
            # As far as the directory knows them: an unknown ID is in nobody's scope.
            known = await self.directory.employee(owner_id) if owner_id else None
            await authorise(
                Owner(
                    owner_id or principal.id,
                    (known.team_id or None) if known is not None else None,
                    (known.branch_id or None) if known is not None else None,
                )
            )
            raise
        await authorise(owner)
        return owner

    async def register(self, request: pb.RegisterCustomerRequest) -> pb.RegisterCustomerResponse:
        principal = current_principal()

        async def may_register_for(owner: Owner) -> None:
            (await self.policy.decide(principal, "customers.register", owner.resource())).require(
                "customers.register"
            )

        owner = await self._authorised_owner(principal, request.owner_id, may_register_for)
        registration = self._validate_registration(request)

        async def insert(session: AsyncSession) -> pb.RegisterCustomerResponse:
            return await self._insert(session, principal, owner, registration)

        try:
            return await run_idempotent(
                self.db,
                IdempotencyKey,
                actor_id=principal.id,
                operation="RegisterCustomer",
                key=request.idempotency_key,
                request=request,
                response_type=pb.RegisterCustomerResponse,
                work=insert,
                cipher=self.vault.cipher,
            )
        except DuplicateFound as duplicate:
            raise await self._duplicate_claim(principal, duplicate) from None

    async def _insert(
        self, session: AsyncSession, principal: Principal, owner: Owner, registration: Registration
    ) -> pb.RegisterCustomerResponse:
        await self._lock_identities(
            session, registration.phone, registration.email, registration.name, registration.company
        )
        await self.fence_owner(session, principal, owner.id, "owner_id")
        identity = identity_key(registration.name, registration.company)
        duplicate = await self._find_duplicate(
            session, registration.phone, registration.email, identity
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
        late_by = now - registration.first_contact_at
        limit = await self._late_registration_limit()
        if late_by > limit:
            await raise_alert(
                session,
                Alert,
                AlertDraft(
                    kind="LATE_REGISTRATION",
                    dedupe_key=f"LATE_REGISTRATION:{customer.id}",
                    employee_id=owner.id,
                    customer_id=customer.id,
                    branch_id=owner.branch_id,
                    evidence={
                        "customer_code": customer.code,
                        "hours_late": round(late_by.total_seconds() / 3600, 1),
                        "limit_hours": round(limit.total_seconds() / 3600, 1),
                        "first_contact_at": registration.first_contact_at.isoformat(),
                        "registered_at": now.isoformat(),
                        "registered_by": principal.id,
                    },
                ),
                source=SERVICE_NAME,
            )
            warnings.append("LATE_REGISTRATION")
        if duplicate.ignored:
            warnings.append(shared_contacts.KIND)
        await audit.append(
            session,
            [
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
                    after=self._audit_view(customer),
                    branch_id=customer.branch_id,
                )
            ],
        )
        contact = Contact(registration.phone, registration.email, registration.address)
        return pb.RegisterCustomerResponse(
            customer=self.to_proto(customer, contact, frozenset()),
            warnings=warnings,
            shared_criteria=duplicate.ignored,
        )

    async def _late_registration_limit(self) -> timedelta:
        """C2's limit, from policy data: the security team tunes alert thresholds."""
        late = await self.policy.threshold("late_registration")
        return timedelta(
            seconds=float(late.get("after_seconds", DEFAULT_LATE_REGISTRATION_SECONDS))
        )

    @staticmethod
    def _given(registration: Registration, field: str) -> bool:
        value = getattr(registration, field)
        return value is not None and value != ""

    def _audit_view(self, customer: Customer) -> dict[str, Any]:
        """A customer as the audit trail records it: contact fields masked, never plaintext."""
        contact = self.vault.masked(customer)
        return {
            "code": customer.code,
            "name": customer.name,
            "company": customer.company,
            "phone": contact.phone,
            "email": contact.email,
            "address": contact.address,
            "location": [customer.lat, customer.lng] if customer.lat is not None else None,
            "source": customer.source,
            "source_detail": customer.source_detail,
            "owner_id": customer.owner_id,
            "status": customer.status,
        }

    async def fence_owner(
        self, session: AsyncSession, principal: Principal, owner_id: str, field: str
    ) -> None:
        """Nothing new for an employee who is not active (C6), even one leaving right now.

        Under the owner's lock, which a departure's handover takes as well, the directory
        must still say ACTIVE. A departure committed after this check is followed by a
        handover that waits for this transaction and moves what it wrote. Shared: new
        customers of one owner do not wait for each other, only for a handover.
        """
        await lock_keys(session, owner_lock_key(owner_id), shared=True)
        await self.directory.require_active(
            owner_id, field=None if owner_id == principal.id else field, fresh=True
        )

    async def _lock_identities(
        self, session: AsyncSession, phone: str, email: str, name: str, company: str
    ) -> None:
        """Serialise registrations of the same identity so two racing requests cannot both insert."""
        await lock_keys(
            session,
            f"p:{phone}" if phone else "",
            f"e:{email}" if email else "",
            f"n:{identity_key(name, company)}",
        )

    async def _find_duplicate(
        self,
        session: AsyncSession,
        phone: str,
        email: str,
        identity: str,
        *,
        exclude_id: str | None = None,
    ) -> DuplicateCheck:
        """The first customer matching a criterion, skipping values shared too widely (C12)."""
        criteria: list[tuple[str, str, Any]] = []
        if phone:
            key = self.vault.phone_index(phone)
            criteria.append(("phone", key, Customer.phone_index == key))
        if email:
            key = self.vault.email_index(email)
            criteria.append(("email", key, Customer.email_index == key))
        criteria.append(("name+company", identity, Customer.identity_key == identity))
        shared = await shared_contacts.shared_values(
            session, [(matched_on, key) for matched_on, key, _ in criteria]
        )
        ignored = tuple(
            matched_on for matched_on, key, _ in criteria if (matched_on, key) in shared
        )
        for matched_on, key, condition in criteria:
            if matched_on in ignored:
                continue
            query = select(Customer).where(condition)
            if exclude_id is not None:
                query = query.where(Customer.id != exclude_id)
            existing = (await session.scalars(query.order_by(Customer.number).limit(1))).first()
            if existing is not None:
                return DuplicateCheck(existing, matched_on, key, ignored)
        return DuplicateCheck(ignored=ignored)

    def _shown_value(self, registration: Registration, criterion: str) -> str:
        """The matched value as an alert may show it: contact values masked."""
        if criterion in CONTACT_FIELDS:
            return mask_value(criterion, getattr(registration, criterion))
        return f"{registration.name} / {registration.company}"

    async def _duplicate_claim(
        self, principal: Principal, duplicate: DuplicateFound
    ) -> ServiceError:
        """Raise the claim alert for a manager (C3) and build the caller's error."""
        existing = duplicate.existing
        threshold = await shared_contacts.shared_threshold(self.policy)
        async with self.db.transaction() as session:
            await raise_alert(
                session,
                Alert,
                AlertDraft(
                    kind="DUPLICATE_CUSTOMER_CLAIM",
                    dedupe_key=f"DUPLICATE_CUSTOMER_CLAIM:{existing.id}:{principal.id}:{duplicate.matched_on}",
                    employee_id=principal.id,
                    customer_id=existing.id,
                    branch_id=existing.branch_id,
                    evidence={
                        "existing_code": existing.code,
                        "matched_on": duplicate.matched_on,
                        "claimant_id": principal.id,
                        "existing_owner_id": existing.owner_id,
                    },
                ),
                source=SERVICE_NAME,
            )
            # C12: enough different reps refused on one value make it a shared one.
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
            owner = await self.directory.employee(existing.owner_id)
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

    # -- reads ----------------------------------------------------------------

    async def _readable(self, principal: Principal, customer_id: str) -> Customer:
        """A customer the caller may read; NOT_FOUND, as for an absent one, otherwise."""
        read = await self.read_decision(principal)
        async with self.db.read() as session:
            row = await session.scalar(
                select(Customer).where(Customer.id == customer_id, scope_filter(read, SCOPE))
            )
        if row is None:
            raise NotFound(f"customer {customer_id} not found")
        return row

    async def get(self, request: pb.GetCustomerRequest) -> pb.Customer:
        principal = current_principal()
        decision = await self.read_decision(principal)
        async with self.db.read() as session:
            row = (
                await session.scalars(
                    select(Customer).where(Customer.id == request.id, scope_filter(decision, SCOPE))
                )
            ).first()
        if row is None:
            raise NotFound(f"customer {request.id} not found")
        messages = await self.present_recorded(principal, [row], decision, request.include_contact)
        return messages[0]

    async def batch_get(self, request: pb.BatchGetCustomersRequest) -> list[pb.Customer]:
        principal = current_principal()
        ids = list(dict.fromkeys(request.ids))
        if len(ids) > validation.MAX_BATCH:
            raise InvalidInput("ids", f"at most {validation.MAX_BATCH} IDs per call")
        decision = await self.read_decision(principal)
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(Customer).where(Customer.id.in_(ids), scope_filter(decision, SCOPE))
                )
            ).all()
        by_id = {row.id: row for row in rows}
        ordered = [by_id[i] for i in ids if i in by_id]
        return await self.present_recorded(principal, ordered, decision, request.include_contact)

    def filter_conditions(self, customer_filter: pb.CustomerFilter) -> list[Any]:
        conditions: list[Any] = []
        query_text = validation.text("filter.text", customer_filter.text, max_length=200)
        if query_text:
            conditions.append(self._text_condition(query_text))
        if customer_filter.owner_id:
            conditions.append(Customer.owner_id == customer_filter.owner_id)
        if customer_filter.sources:
            conditions.append(
                Customer.source.in_(
                    [
                        validation.enum_value("filter.sources", s, SOURCES)
                        for s in customer_filter.sources
                    ]
                )
            )
        if customer_filter.statuses:
            conditions.append(
                Customer.status.in_(
                    [
                        validation.enum_value("filter.statuses", s, STATUSES)
                        for s in customer_filter.statuses
                    ]
                )
            )
        registered_from = from_timestamp(customer_filter.registered_from, "registered_from")
        registered_to = from_timestamp(customer_filter.registered_to, "registered_to")
        if registered_from:
            conditions.append(Customer.registered_at >= registered_from)
        if registered_to:
            conditions.append(Customer.registered_at < registered_to)
        return conditions

    def _text_condition(self, query_text: str) -> Any:
        """A code, an exact phone or email (through the blind index), or part of a name or company."""
        code = query_text.upper()
        if code.startswith("C-") and code[2:].isdigit():
            return Customer.number == int(code[2:])
        if "@" in query_text:
            try:
                return Customer.email_index == self.vault.email_index(normalise_email(query_text))
            except InvalidInput:
                pass
        if looks_like_phone(query_text):
            try:
                return Customer.phone_index == self.vault.phone_index(
                    normalise_phone(query_text, self.settings.default_phone_region)
                )
            except InvalidInput:
                pass
        pattern = (
            "%"
            + query_text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        return or_(
            func.lower(Customer.name).like(pattern, escape="\\"),
            func.lower(Customer.company).like(pattern, escape="\\"),
        )

    async def list_customers(self, request: pb.ListCustomersRequest) -> pb.ListCustomersResponse:
        principal = current_principal()
        requested = validation.page_size(
            "page.page_size", request.page.page_size, self.settings.page_limits
        )
        decision = await self.read_decision(principal)
        conditions = [scope_filter(decision, SCOPE), *self.filter_conditions(request.filter)]
        messages, cursors, page_info = await self.customer_page(
            principal,
            decision,
            conditions,
            request.page,
            decision.page_size(requested),
            Customer.registered_at,
            include_contact=request.include_contact,
        )
        return pb.ListCustomersResponse(customers=messages, cursors=cursors, page_info=page_info)

    async def customer_page(
        self,
        principal: Principal,
        decision: Decision,
        conditions: Sequence[Any],
        page_request: common_pb2.PageRequest,
        size: int,
        sorted_by: InstrumentedAttribute[datetime | None],
        *,
        include_contact: bool,
    ) -> tuple[list[pb.Customer], list[str], common_pb2.PageInfo]:
        """One keyset page of the customers matching ``conditions`` by (``sorted_by``, number),
        presented under ``decision``; unmasked contact fields that leave are recorded (C7, C8)."""
        query = keyset_query(
            select(Customer).where(*conditions), page_request, size, sorted_by, Customer.number
        )
        async with self.db.read() as session:
            rows = list((await session.scalars(query)).all())
            total = await count_if_asked(
                page_request,
                session,
                select(func.count()).select_from(Customer).where(*conditions),
            )
        key = sorted_by.key
        page = keyset_page(rows, size, lambda row: (getattr(row, key), row.number))
        messages = await self.present_recorded(principal, page.rows, decision, include_contact)
        return messages, page.cursors, page.page_info(total)

    # -- changes ----------------------------------------------------------------

    @staticmethod
    def _fields_named(request: pb.UpdateCustomerRequest) -> list[str]:
        """The fields a change request names, whatever their values (what is authorised)."""
        fields = [
            field
            for field in ("name", "company", "phone", "email", "address", "location")
            if request.HasField(field)
        ]
        if request.source != pb.SOURCE_CHANNEL_UNSPECIFIED:
            fields.append("source")
        if request.HasField("source_detail"):
            fields.append("source_detail")
        return sorted(fields)

    def _changes(self, request: pb.UpdateCustomerRequest) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if request.HasField("name"):
            changes["name"] = validation.text("name", request.name, required=True, max_length=200)
        if request.HasField("company"):
            changes["company"] = validation.text("company", request.company, max_length=200)
        if request.HasField("phone"):
            phone = validation.text("phone", request.phone, max_length=40)
            changes["phone"] = (
                normalise_phone(phone, self.settings.default_phone_region) if phone else ""
            )
        if request.HasField("email"):
            email = validation.text("email", request.email, max_length=254)
            changes["email"] = normalise_email(email) if email else ""
        if request.HasField("address"):
            changes["address"] = validation.text("address", request.address, max_length=500)
        if request.HasField("location"):
            changes["location"] = validation.geo_point("location", request.location)
        if request.source != pb.SOURCE_CHANNEL_UNSPECIFIED:
            changes["source"] = validation.enum_value("source", request.source, SOURCES)
        if request.HasField("source_detail"):
            changes["source_detail"] = validation.text(
                "source_detail", request.source_detail, max_length=500
            )
        return changes

    async def update(self, request: pb.UpdateCustomerRequest) -> pb.Customer:
        principal = current_principal()
        read = await self.read_decision(principal)
        async with self.db.transaction() as session:
            row = (
                await session.scalars(
                    select(Customer)
                    .where(Customer.id == request.id, scope_filter(read, SCOPE))
                    .with_for_update()
                )
            ).first()
            if row is None:
                raise NotFound(f"customer {request.id} not found")
            # Authorised on the fields named, before any value is judged: a caller
            # outside the tier learns FORBIDDEN, never what their input lacks.
            decision = await self.policy.decide(
                principal,
                "customers.update",
                customer_resource(row, fields=self._fields_named(request)),
            )
            decision.require("customers.update")
            changes = self._changes(request)
            if not changes:
                raise InvalidInput("id", "the request changes nothing")
            reason = validation.text("reason", request.reason, max_length=1000)
            if ("source" in changes or "source_detail" in changes) and not reason:
                raise InvalidInput("reason", "changing the source needs a reason (C4)")
            current = self.vault.read(row, frozenset())
            if {"phone", "email", "name", "company"} & changes.keys():
                name = changes.get("name", row.name)
                company = changes.get("company", row.company)
                phone = changes.get("phone", current.phone)
                email = changes.get("email", current.email)
                if not phone and not email:
                    raise InvalidInput("phone", "a phone or an email is required")
                await self._lock_identities(session, phone, email, name, company)
                duplicate = await self._find_duplicate(
                    session,
                    phone if "phone" in changes else "",
                    email if "email" in changes else "",
                    identity_key(name, company),
                    exclude_id=row.id,
                )
                if duplicate.existing is not None:
                    raise ServiceError(
                        f"customer {duplicate.existing.code} already has this {duplicate.matched_on}",
                        code=ErrorCode.DUPLICATE_CUSTOMER,
                        details={
                            "existing_code": duplicate.existing.code,
                            "matched_on": duplicate.matched_on,
                        },
                    )
            before = self._audit_view(row)
            for field, value in changes.items():
                if field in CONTACT_FIELDS:
                    self.vault.store(row, field, value)
                elif field == "location":
                    row.place(value)
                else:
                    setattr(row, field, value)
            if {"name", "company"} & changes.keys():
                row.identity_key = identity_key(row.name, row.company)
            row.updated_at = utcnow()
            after = self._audit_view(row)
            changed = sorted(changes)
            await audit.append(
                session,
                [
                    audit.AuditEntry(
                        actor_id=principal.id,
                        action="customer.source.change"
                        if "source" in changes
                        else "customer.update",
                        customer_ids=[row.id],
                        fields=changed,
                        before={k: before[k] for k in changed},
                        after={k: after[k] for k in changed},
                        reason=reason,
                        branch_id=row.branch_id,
                    )
                ],
            )
        masks = row_masks(read, row)
        return self.to_proto(row, self.vault.read(row, masks), masks)

    # -- follow-ups (C5) ---------------------------------------------------------

    async def record_follow_up(
        self, request: pb.RecordFollowUpRequest
    ) -> pb.RecordFollowUpResponse:
        principal = current_principal()
        # Authorised first (a customer one may not read is absent, one read but not
        # followed up is FORBIDDEN), then the input validated.
        customer = await self._readable(principal, request.customer_id)
        decision = await self.policy.decide(
            principal, "customers.follow_up", customer_resource(customer)
        )
        if not decision.allow:
            raise Forbidden(
                "you may record follow-ups only on customers in your scope",
                details={"reasons": ",".join(decision.reasons)},
            )
        # The follow-up is credited to the caller: active in the directory (SPEC §2).
        await self.directory.require_active(principal.id)
        kind = validation.enum_value("kind", request.kind, FOLLOW_UP_KINDS)
        note = validation.text("note", request.note, max_length=validation.MAX_NOTE)
        at = from_timestamp(request.at, "at") or utcnow()
        if at > utcnow() + timedelta(seconds=self.settings.clock_skew_seconds):
            raise InvalidInput("at", "a follow-up cannot lie in the future")

        async def insert(session: AsyncSession) -> pb.RecordFollowUpResponse:
            follow_up = FollowUp(
                id=new_id(),
                customer_id=customer.id,
                employee_id=principal.id,
                kind=kind,
                at=at,
                note=note,
                recorded_at=utcnow(),
            )
            session.add(follow_up)
            await session.flush()
            return pb.RecordFollowUpResponse(follow_up=follow_up_to_proto(follow_up))

        return await run_idempotent(
            self.db,
            IdempotencyKey,
            actor_id=principal.id,
            operation="RecordFollowUp",
            key=request.idempotency_key,
            request=request,
            response_type=pb.RecordFollowUpResponse,
            work=insert,
        )

    async def list_follow_ups(self, request: pb.ListFollowUpsRequest) -> pb.ListFollowUpsResponse:
        principal = current_principal()
        requested = validation.page_size(
            "page.page_size", request.page.page_size, self.settings.page_limits
        )
        decision = await self.read_decision(principal)
        size = decision.page_size(requested)
        conditions: list[Any] = [scope_filter(decision, SCOPE)]
        if request.customer_id:
            conditions.append(FollowUp.customer_id == request.customer_id)
        if request.employee_id:
            conditions.append(FollowUp.employee_id == request.employee_id)
        start, end = (
            from_timestamp(getattr(request, "from"), "from"),
            from_timestamp(request.to, "to"),
        )
        if start:
            conditions.append(FollowUp.at >= start)
        if end:
            conditions.append(FollowUp.at < end)
        query = (
            select(FollowUp).join(Customer, Customer.id == FollowUp.customer_id).where(*conditions)
        )
        query = keyset_query(query, request.page, size, FollowUp.at, FollowUp.id)
        count_query = (
            select(func.count())
            .select_from(FollowUp)
            .join(Customer, Customer.id == FollowUp.customer_id)
            .where(*conditions)
        )
        async with self.db.read() as session:
            rows = list((await session.scalars(query)).all())
            total = await count_if_asked(request.page, session, count_query)
        page = keyset_page(rows, size, lambda row: (row.at, row.id))
        return pb.ListFollowUpsResponse(
            follow_ups=[follow_up_to_proto(row) for row in page.rows],
            cursors=page.cursors,
            page_info=page.page_info(total),
        )

    # -- reassignment (C6) -----------------------------------------------------------

    async def reassign(self, request: pb.ReassignCustomersRequest) -> list[pb.Customer]:
        principal = current_principal()
        decision = (await self.policy.decide(principal, "customers.reassign")).require(
            "customers.reassign"
        )

        async def may_receive(owner: Owner) -> None:
            if decision.covering_grant(owner.id, owner.team_id, owner.branch_id) is None:
                raise Forbidden(f"{owner.id} is outside your scope for reassignment")

        new_owner = await self._authorised_owner(
            principal,
            validation.text("new_owner_id", request.new_owner_id, required=True, max_length=64),
            may_receive,
            "new_owner_id",
        )
        ids = list(dict.fromkeys(request.customer_ids))
        if not ids:
            raise InvalidInput("customer_ids", "name at least one customer")
        if len(ids) > self.settings.reassign_max_customers:
            raise InvalidInput(
                "customer_ids",
                f"at most {self.settings.reassign_max_customers} customers per reassignment",
            )
        reason = validation.text("reason", request.reason, required=True, max_length=1000)
        async with self.db.transaction() as session:
            await self.fence_owner(session, principal, new_owner.id, "new_owner_id")
            rows = list(
                (
                    await session.scalars(
                        select(Customer)
                        .where(Customer.id.in_(ids), scope_filter(decision, SCOPE))
                        .with_for_update()
                    )
                ).all()
            )
            if len(rows) != len(ids):
                found = {row.id for row in rows}
                missing = [i for i in ids if i not in found]
                raise NotFound(
                    f"customers not found or not yours to reassign: {', '.join(missing[:10])}"
                )
            previous = {row.id: row.owner_id for row in rows}
            now = utcnow()
            for row in rows:
                row.owner_id, row.team_id, row.branch_id, row.updated_at = (
                    new_owner.id,
                    new_owner.team_id,
                    new_owner.branch_id,
                    now,
                )
                # A new owner starts a fresh neglect clock (C11); a pooled customer leaves the pool.
                row.owned_since, row.pooled_at = now, None
            branches = {row.branch_id for row in rows}
            await audit.append(
                session,
                [
                    audit.AuditEntry(
                        actor_id=principal.id,
                        action="customer.reassign",
                        customer_ids=ids,
                        fields=["owner_id"],
                        before={"owners": previous},
                        after={"owner_id": new_owner.id},
                        reason=reason,
                        branch_id=branches.pop() if len(branches) == 1 else None,
                    )
                ],
            )
        read = await self.read_decision(principal)
        messages, _, _ = self.present(rows, read, include_contact=False)
        return messages

    async def sync_owner(self, request: pb.SyncOwnerRequest) -> int:
        principal = current_principal()
        (await self.policy.decide(principal, "customers.owners.sync")).require(
            "customers.owners.sync"
        )
        async with self.db.transaction() as session:
            result = await session.execute(
                update(Customer)
                .where(Customer.owner_id == request.employee_id)
                .values(team_id=request.team_id or None, branch_id=request.branch_id or None)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]


def follow_up_to_proto(row: FollowUp) -> pb.FollowUp:
    return pb.FollowUp(
        id=row.id,
        customer_id=row.customer_id,
        employee_id=row.employee_id,
        kind=pb.FollowUpKind.Value(f"FOLLOW_UP_KIND_{row.kind}"),
        at=to_timestamp(row.at),
        note=row.note,
        recorded_at=to_timestamp(row.recorded_at),
    )
