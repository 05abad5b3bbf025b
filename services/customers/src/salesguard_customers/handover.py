"""A leaving employee's customers, all handed over at once (:mod:`.rules.ownership`).

The people directory calls :meth:`Handover.hand_over` as the person who sets an
employee's status to LEFT. Every customer the employee still owns moves in one
transaction — to a successor (an active employee of the same branch) or to the
branch pool — audited with the reason ``departure`` and that person as the
actor. The UPDATE selects by owner, so a repeated call (a retry) finds nothing left
to move and writes no audit entry.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.db import Database, lock_keys, utcnow
from salesguard.directory import DirectoryClient
from salesguard.errors import InvalidInput
from salesguard.grpc_server import ServicerContext as Context
from salesguard.policy import Decision, PolicyClient, scope_filter
from salesguard.principal import current_principal
from salesguard_api.attendance.v1 import directory_pb2
from salesguard_api.customers.v1 import handover_pb2 as pb
from salesguard_api.customers.v1 import handover_pb2_grpc
from salesguard_customers import audit
from salesguard_customers.models import Customer
from salesguard_customers.pool import move_to_pool
from salesguard_customers.registry import SCOPE, Owner
from salesguard_customers.rules import ownership
from salesguard_customers.rules.ownership import owner_lock_key

HANDOVER_ACTION = "customers.handover"
DEPARTURE = "departure"


class Handover:
    def __init__(self, db: Database, policy: PolicyClient, directory: DirectoryClient) -> None:
        self.db = db
        self.policy = policy
        self.directory = directory

    async def hand_over(self, request: pb.HandOverCustomersRequest) -> list[str]:
        """Move every customer of ``employee_id``; returns the IDs this call moved."""
        principal = current_principal()
        employee_id = validation.directory_id("employee_id", request.employee_id, required=True)
        destination = request.WhichOneof("destination")
        if destination is None or (destination == "to_pool" and not request.to_pool):
            raise InvalidInput(
                "successor_id", "name a successor or the branch pool to take the customers"
            )
        decision = (await self.policy.decide(principal, HANDOVER_ACTION)).require(HANDOVER_ACTION)
        if destination == "to_pool":
            async with self.db.transaction() as session:
                # After any registration, claim or reassignment to them in flight (fence_owner).
                await lock_keys(session, owner_lock_key(employee_id))
                owned = await self._owned(session, decision, employee_id)
                return await move_to_pool(session, owned, reason=DEPARTURE)
        successor = await self._successor(employee_id, request.successor_id)
        async with self.db.transaction() as session:
            await lock_keys(session, owner_lock_key(employee_id))
            return await self._reassign(session, decision, principal.id, employee_id, successor)

    async def _successor(self, employee_id: str, successor_id: str) -> Owner:
        """The successor as the directory has it now: active, in the leaver's branch."""
        successor_id = validation.directory_id("successor_id", successor_id, required=True)
        current: dict[str, directory_pb2.Employee] = {}
        if successor_id != employee_id:
            # Statuses and branches as they are now, not cached.
            current = await self.directory.current([employee_id, successor_id])
        people = {
            person.id: ownership.Person(
                person.id, person.status == directory_pb2.EMPLOYEE_STATUS_ACTIVE, person.branch_id
            )
            for person in current.values()
        }
        refusal = ownership.successor_refusal(employee_id, successor_id, people)
        if refusal is not None:
            raise InvalidInput("successor_id", refusal)
        successor = current[successor_id]
        return Owner(successor.id, successor.team_id or None, successor.branch_id or None)

    @staticmethod
    async def _owned(session: AsyncSession, decision: Decision, employee_id: str) -> list[str]:
        """The employee's customers, locked against a concurrent reassignment or claim."""
        rows = await session.scalars(
            select(Customer.id)
            .where(Customer.owner_id == employee_id, scope_filter(decision, SCOPE))
            .order_by(Customer.id)
            .with_for_update()
        )
        return list(rows.all())

    @staticmethod
    async def _reassign(
        session: AsyncSession,
        decision: Decision,
        actor_id: str,
        employee_id: str,
        successor: Owner,
    ) -> list[str]:
        """One UPDATE … RETURNING of the employee's customers, and one audit entry."""
        now = utcnow()
        result = await session.scalars(
            update(Customer)
            .where(Customer.owner_id == employee_id, scope_filter(decision, SCOPE))
            .values(
                owner_id=successor.id,
                team_id=successor.team_id,
                branch_id=successor.branch_id,
                owned_since=now,
                pooled_at=None,
                updated_at=now,
            )
            .returning(Customer.id)
            .execution_options(synchronize_session=False)
        )
        moved = sorted(result.all())
        if moved:
            await audit.record(
                session,
                audit.reassignment(
                    actor_id,
                    moved,
                    {"owner_id": employee_id},
                    successor.id,
                    DEPARTURE,
                    successor.branch_id,
                ),
            )
        return moved


class HandoverServicer(handover_pb2_grpc.HandoverServiceServicer):
    def __init__(self, handover: Handover) -> None:
        self._handover = handover

    async def HandOverCustomers(
        self, request: pb.HandOverCustomersRequest, context: Context
    ) -> pb.HandOverCustomersResponse:
        return pb.HandOverCustomersResponse(customer_ids=await self._handover.hand_over(request))
