"""Changes to registered customers: their fields (a source change needs a reason) and
reassignment to a new owner.

Each change is authorised on what it names, checked against the rules
(:mod:`salesguard_customers.rules`), applied in one transaction and audited with
its before and after.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from salesguard import validation
from salesguard.db import utcnow
from salesguard.errors import ErrorCode, Forbidden, InvalidInput, NotFound, ServiceError
from salesguard.phones import normalise_phone
from salesguard.policy import scope_filter
from salesguard.principal import current_principal
from salesguard.reads import one_by_id
from salesguard_api.customers.v1 import customers_pb2 as pb
from salesguard_customers import audit
from salesguard_customers.contacts import CONTACT_FIELDS, normalise_email
from salesguard_customers.models import Customer
from salesguard_customers.registration import (
    find_duplicate,
    lock_identities,
    raise_similar_alerts,
)
from salesguard_customers.registry import (
    SCOPE,
    SOURCES,
    Owner,
    Registry,
    customer_resource,
    row_masks,
)
from salesguard_customers.rules import ownership
from salesguard_customers.rules import registration as rules
from salesguard_customers.rules.duplicates import identity_key


class CustomerChanges:
    """``UpdateCustomer``, ``ReassignCustomers`` and ``SyncOwner``."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.db = registry.db
        self.policy = registry.policy
        self.settings = registry.settings
        self.vault = registry.vault

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
            changes["name"] = validation.text(
                "name", request.name, required=True, max_length=validation.NAME_LENGTH
            )
        if request.HasField("company"):
            changes["company"] = validation.text(
                "company", request.company, max_length=validation.NAME_LENGTH
            )
        if request.HasField("phone"):
            phone = validation.text("phone", request.phone, max_length=validation.PHONE_LENGTH)
            changes["phone"] = (
                normalise_phone(phone, self.settings.default_phone_region) if phone else ""
            )
        if request.HasField("email"):
            email = validation.text("email", request.email, max_length=validation.EMAIL_LENGTH)
            changes["email"] = normalise_email(email) if email else ""
        if request.HasField("address"):
            changes["address"] = validation.text(
                "address", request.address, max_length=validation.MAX_TEXT
            )
        if request.HasField("location"):
            changes["location"] = validation.geo_point("location", request.location)
        if request.source != pb.SOURCE_CHANNEL_UNSPECIFIED:
            changes["source"] = validation.enum_value("source", request.source, SOURCES)
        if request.HasField("source_detail"):
            changes["source_detail"] = validation.text(
                "source_detail", request.source_detail, max_length=validation.MAX_TEXT
            )
        return changes

    async def update(self, request: pb.UpdateCustomerRequest) -> pb.Customer:
        principal = current_principal()
        read = await self.registry.read_decision(principal)
        async with self.db.transaction() as session:
            row = await one_by_id(
                session, Customer, request.id, scope_filter(read, SCOPE), noun="customer", lock=True
            )
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
            reason = validation.text("reason", request.reason, max_length=validation.REASON_LENGTH)
            if rules.source_change_lacks_reason(changes.keys(), reason):
                raise InvalidInput("reason", "changing the source needs a reason")
            current = self.vault.read(row, frozenset())
            # A record moved or renamed onto another owner's shop is what a registration
            # there would be (SIMILAR_CUSTOMER): the same lock on the company's key, the
            # same check once changed.
            relocated = bool({"company", "location"} & changes.keys())
            located = "location" in changes or row.lat is not None
            if {"phone", "email", "name", "company"} & changes.keys():
                name = changes.get("name", row.name)
                company = changes.get("company", row.company)
                phone = changes.get("phone", current.phone)
                email = changes.get("email", current.email)
                if not rules.has_contact(phone, email):
                    raise InvalidInput("phone", "a phone or an email is required")
                await lock_identities(
                    session, phone, email, name, company, located=relocated and located
                )
                duplicate = await find_duplicate(
                    session,
                    self.vault,
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
            elif relocated:  # the location alone
                await lock_identities(session, "", "", row.name, row.company, located=located)
            before = self.registry.audit_view(row)
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
            if relocated and row.owner_id is not None:
                await raise_similar_alerts(session, self.policy, principal, row.owner_id, row)
            after = self.registry.audit_view(row)
            changed = sorted(changes)
            await audit.record(
                session,
                audit.AuditEntry(
                    actor_id=principal.id,
                    action=rules.change_action(changes.keys()),
                    customer_ids=[row.id],
                    fields=changed,
                    before={k: before[k] for k in changed},
                    after={k: after[k] for k in changed},
                    reason=reason,
                    branch_id=row.branch_id,
                ),
            )
        masks = row_masks(read, row)
        return self.registry.to_proto(row, self.vault.read(row, masks), masks)

    async def reassign(self, request: pb.ReassignCustomersRequest) -> list[pb.Customer]:
        principal = current_principal()
        decision = (await self.policy.decide(principal, "customers.reassign")).require(
            "customers.reassign"
        )

        async def may_receive(owner: Owner) -> None:
            if decision.covering_grant(owner.id, owner.team_id, owner.branch_id) is None:
                raise Forbidden(f"{owner.id} is outside your scope for reassignment")

        new_owner = await self.registry.authorised_owner(
            principal,
            validation.directory_id("new_owner_id", request.new_owner_id, required=True),
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
        reason = validation.text(
            "reason", request.reason, required=True, max_length=validation.REASON_LENGTH
        )
        async with self.db.transaction() as session:
            await self.registry.fence_owner(session, principal, new_owner.id, "new_owner_id")
            rows = list(
                (
                    await session.scalars(
                        select(Customer)
                        .where(Customer.id.in_(ids), scope_filter(decision, SCOPE))
                        .with_for_update()
                    )
                ).all()
            )
            missing = ownership.missing_customers(ids, {row.id for row in rows})
            if missing:
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
                # A new owner starts a fresh neglect clock; a pooled customer leaves the pool.
                row.owned_since, row.pooled_at = now, None
            branches = {row.branch_id for row in rows}
            branch_id = branches.pop() if len(branches) == 1 else None
            await audit.record(
                session,
                audit.reassignment(
                    principal.id, ids, {"owners": previous}, new_owner.id, reason, branch_id
                ),
            )
        read = await self.registry.read_decision(principal)
        messages, _, _ = self.registry.present(rows, read, include_contact=False)
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
