"""The audit trail (customers ``AuditService``, C7): append-only and hash-chained."""

from __future__ import annotations

from datetime import datetime

import strawberry

from salesguard_api.customers.v1 import audit_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.common import JSON, described
from salesguard_gateway.schema.conversions import (
    converted,
    from_timestamp,
    optional,
    struct_to_json,
    to_timestamp,
)
from salesguard_gateway.schema.nodes import GlobalID, Node, global_id, global_ids, raw_id
from salesguard_gateway.schema.people import EMPLOYEE
from salesguard_gateway.schema.resolvers import Listing, listed_both_ways


@strawberry.type(
    description="One entry of the customers service's audit trail (C7): a sensitive read, a "
    "change or an export, append-only and hash-chained. HR sees every entry, a manager "
    "those of their branch (a headquarters manager: all); nobody else."
)
class AuditEvent(Node):
    seq: int = strawberry.field(description="Position in the chain, from 1.")
    at: datetime | None = strawberry.field(description="When it happened.")
    action: str = strawberry.field(
        description='What happened, e.g. "customer.contact.read", "customer.update", '
        '"customer.export".'
    )
    customer_ids: list[strawberry.ID] = strawberry.field(
        description="The customers it concerns (their global IDs only)."
    )
    fields: list[str] = strawberry.field(
        description="The customer fields it read, changed or exported."
    )
    before: JSON | None = strawberry.field(
        description="Changed values before; contact fields masked."
    )
    after: JSON | None = strawberry.field(
        description="Changed values after; contact fields masked."
    )
    reason: str | None = strawberry.field(
        description="The reason the actor gave (an export's, a reassignment's); null if none."
    )
    trace_id: str | None = strawberry.field(
        description="The OpenTelemetry trace of the request that wrote it; null if none."
    )
    prev_hash: str = strawberry.field(description="The hash of the entry before it in the chain.")
    hash: str = strawberry.field(
        description="HMAC-SHA256 of prevHash and the entry with the key keyId names; "
        "plain SHA-256 for entries written before the chain was keyed (keyId null)."
    )
    key_id: str | None = strawberry.field(
        description="Fingerprint of the key the hash was made with (never the key itself)."
    )
    actor_id: strawberry.Private[str]

    actor = EMPLOYEE.field(
        "actor_id", "The employee who acted; null when the caller may not see them."
    )


def audit_event_from_proto(message: audit_pb2.AuditEvent) -> AuditEvent:
    return converted(
        AuditEvent,
        message,
        customer_ids=global_ids("Customer", message.customer_ids),
        before=JSON(struct_to_json(message.before)) if message.HasField("before") else None,
        after=JSON(struct_to_json(message.after)) if message.HasField("after") else None,
    )


@strawberry.input(description="Which audit entries to list; the conditions given all apply.")
class AuditEventFilter:
    actor_id: GlobalID | None = strawberry.field(
        default=None, description="Only entries by this employee."
    )
    customer_id: GlobalID | None = strawberry.field(
        default=None, description="Only entries concerning this customer."
    )
    actions: list[str] | None = strawberry.field(
        default=None, description="Only entries with one of these actions (exact names)."
    )
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Only entries at or after this moment."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Only entries before this moment."
    )

    def to_proto(self) -> audit_pb2.AuditEventFilter:
        return audit_pb2.AuditEventFilter(
            actor_id=raw_id(self.actor_id, "Employee", "filter.actorId"),
            customer_id=raw_id(self.customer_id, "Customer", "filter.customerId"),
            actions=list(self.actions or ()),
            to=to_timestamp(self.to),
            **{"from": to_timestamp(self.from_)},
        )


@strawberry.type(description="A range of audit entries by seq, both ends included.")
class AuditSeqRange:
    first_seq: int = strawberry.field(description="The first seq of the range.")
    last_seq: int = strawberry.field(description="The last seq of the range.")


@strawberry.type(
    description="The result of checking the whole audit chain: every entry's hash against "
    "its predecessor's, and the chain's head against the newest checkpoint in the object "
    "store."
)
class AuditChainVerification:
    intact: bool = strawberry.field(
        description="Whether every hash matches and no entry is missing."
    )
    checked_count: int = strawberry.field(description="How many entries were checked.")
    first_broken_seq: int | None = strawberry.field(
        description="The first entry whose hash does not match, when the chain is broken."
    )
    first_broken_id: strawberry.ID | None = strawberry.field(
        description="The ID of that entry, when the chain is broken."
    )
    problem: str | None = strawberry.field(
        description="What is wrong, in words; null when the chain is intact."
    )
    missing_range: AuditSeqRange | None = strawberry.field(
        description="Entries missing from the chain: a cut tail (a checkpoint outside the "
        "database names entries the database no longer holds), or a gap in the seqs just "
        "before firstBrokenSeq."
    )
    checkpoint_seq: int | None = strawberry.field(
        description="The newest checkpoint of the chain's head the chain was compared with."
    )
    checkpoint_at: datetime | None = strawberry.field(
        description="When that checkpoint was written to the object store."
    )
    unkeyed_count: int = strawberry.field(
        description="Entries hashed with plain SHA-256 before the chain was keyed."
    )


AUDIT_EVENTS = Listing(
    "audit",
    audit_pb2.ListAuditEventsRequest,
    "events",
    audit_event_from_proto,
    audit_pb2.AuditEventFilter,
)


@strawberry.type
class AuditQuery:
    audit_events = listed_both_ways(
        AuditEvent,
        AUDIT_EVENTS,
        AuditEventFilter,
        "Which entries to list.",
        "The audit trail (C7), newest first. HR sees every entry, a manager those of their "
        "branch (a headquarters manager: all); anyone else is FORBIDDEN.",
    )

    @described(
        "Checks that the audit trail is intact (nothing changed, removed or cut off); HR "
        "and admins, anyone else is FORBIDDEN."
    )
    async def verify_audit_chain(self, info: Info) -> AuditChainVerification | None:
        response = await info.context.clients.audit.VerifyAuditChain(
            audit_pb2.VerifyAuditChainRequest()
        )
        broken = not response.intact
        return AuditChainVerification(
            intact=response.intact,
            checked_count=response.checked_count,
            first_broken_seq=response.first_broken_seq if broken else None,
            first_broken_id=(
                global_id("AuditEvent", response.first_broken_id)
                if broken and response.first_broken_id
                else None
            ),
            problem=optional(response.problem),
            missing_range=(
                AuditSeqRange(first_seq=response.missing_from_seq, last_seq=response.missing_to_seq)
                if response.missing_from_seq
                else None
            ),
            checkpoint_seq=response.checkpoint_seq or None,
            checkpoint_at=from_timestamp(response.checkpoint_at),
            unkeyed_count=response.unkeyed_count,
        )
