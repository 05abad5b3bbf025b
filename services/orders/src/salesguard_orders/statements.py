"""Bank statement imports: a CSV from the object store, applied whole or not at all.

The file is one the caller uploaded for this purpose (CreateUpload, STATEMENT).
It is read once, at most ``statement_max_bytes``, and parsed row by row: each
row is validated by the payments module's :func:`payment_from_fields` (the
rules RecordPayment applies), a bank reference may appear once per file, and
valid rows go to the database in chunks of multi-row ``INSERT … ON CONFLICT
(bank_reference) DO NOTHING RETURNING`` inside one transaction. A bank
reference already stored (the same line in an earlier statement) counts as a
duplicate and is not written again. Any rejected row rolls the whole file back
and the answer lists every rejected row with its line, field and reason.

An import is recorded (StatementImport) under its key: importing the same key
again answers with the first import's counts and writes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.db import lock_keys, new_id, utcnow
from salesguard.errors import InvalidInput, NotFound
from salesguard.principal import current_principal
from salesguard_api.orders.v1 import payments_pb2 as pb
from salesguard_orders.matching import Touched
from salesguard_orders.models import StatementImport, Upload
from salesguard_orders.ordering import OrdersPart
from salesguard_orders.payment_fields import payment_from_fields
from salesguard_orders.payments import insert_payments

log = logging.getLogger(__name__)
ACTION = "payments.import"
COLUMNS = (
    "bank_reference",
    "paid_at",
    "amount",
    "currency",
    "payer_name",
    "payer_account",
    "reference_text",
)
# Rows per multi-row INSERT (7 … 21 parameters a row: well inside both databases' limits).
CHUNK = 1000
# Rejections listed in one answer; a file wrong on every line gets a summary after these.
MAX_LISTED = 10_000


@dataclass
class Outcome:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[pb.RejectedRow] = field(default_factory=list)
    unlisted: int = 0
    # The payments this import wrote (not its duplicates): what it reconciles.
    inserted: set[str] = field(default_factory=set)

    def reject(self, line: int, field_name: str, reason: str) -> None:
        if len(self.rejected) < MAX_LISTED:
            self.rejected.append(pb.RejectedRow(line=line, field=field_name, reason=reason))
        else:
            self.unlisted += 1

    def response(self, *, applied: bool) -> pb.ImportPaymentsResponse:
        rejected = list(self.rejected)
        if self.unlisted:
            rejected.append(
                pb.RejectedRow(line=0, field="", reason=f"{self.unlisted} more rows rejected")
            )
        return pb.ImportPaymentsResponse(
            applied=applied,
            accepted=self.accepted if applied else 0,
            duplicates=self.duplicates if applied else 0,
            rejected=rejected,
            rows=self.rows,
        )


class _Rejected(Exception):
    """Rolls the import's transaction back; carries the answer."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__("statement rejected")
        self.outcome = outcome


def csv_rows(data: bytes) -> Iterator[tuple[int, list[str] | None, str]]:
    """(line, cells, error) per row, decoded as it goes: UTF-8, a BOM tolerated.

    ``line`` is where the row starts (the header is line 1); ``cells`` is None
    when the file cannot be read on from there, ``error`` then says why.
    """
    handle = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(handle, strict=True)
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            yield line, None, "the file is not UTF-8 text"
            return
        except csv.Error as error:
            yield line, None, f"the CSV cannot be read on: {error}"
            return
        yield line, cells, ""
        line = reader.line_num + 1


class Statements(OrdersPart):
    async def import_statement(
        self, request: pb.ImportPaymentsRequest
    ) -> pb.ImportPaymentsResponse:
        principal = current_principal()
        (await self.policy.decide(principal, ACTION)).require(ACTION)
        key = validation.text(
            "statement_key",
            request.statement_key,
            required=True,
            max_length=validation.OBJECT_KEY_LENGTH,
        )
        async with self.db.read() as session:
            upload = await session.get(Upload, key)
            earlier = await self._earlier(session, key)
        if upload is None or upload.purpose != "STATEMENT" or upload.employee_id != principal.id:
            raise NotFound(f"statement {key} is not one of your statement uploads")
        if earlier is not None:
            return earlier
        limit = self.settings.statement_max_bytes
        stored = await self.runtime.objects.read(key, max_bytes=limit)
        if stored is None:
            raise InvalidInput("statement_key", f"statement {key} has not been uploaded")
        if stored.truncated:
            raise InvalidInput("statement_key", f"the statement is larger than {limit} bytes")
        # Times without an offset are the importer's branch's local times.
        zone = await self.zones.zone(principal.branch_id)
        statement_id = new_id()
        try:
            async with self.db.transaction() as session:
                # One import at a time: two statements sharing bank references, inserted in
                # different orders, would each wait for the other's rows (a deadlock).
                await lock_keys(session, "payments:import")
                # Claimed first: a concurrent import of the same key waits on it, then fails.
                record = StatementImport(
                    id=statement_id,
                    statement_key=key,
                    sha256=hashlib.sha256(stored.data).hexdigest(),
                    rows=0,
                    accepted=0,
                    duplicates=0,
                    imported_by=principal.id,
                    imported_at=utcnow(),
                )
                session.add(record)
                await session.flush()
                outcome = await self._apply(session, stored.data, zone, principal.id, statement_id)
                if outcome.rejected or outcome.unlisted:
                    raise _Rejected(outcome)
                # Every payment written is matched and its order classified in this
                # transaction; one import holds off the other writers' reconciliation
                # rather than locking its groups and orders one by one.
                await self.reconciler.lock_all(session)
                figures = await self.reconciler.reconcile(
                    session,
                    Touched(payment_ids=frozenset(outcome.inserted)),
                    utcnow(),
                    holding_all=True,
                )
                record.rows, record.accepted, record.duplicates = (
                    outcome.rows,
                    outcome.accepted,
                    outcome.duplicates,
                )
        except _Rejected as rejected:
            log.info(
                "statement rejected",
                extra={"key": key, "rejected": len(rejected.outcome.rejected)},
            )
            return rejected.outcome.response(applied=False)
        except IntegrityError:
            async with self.db.read() as session:
                concurrent = await self._earlier(session, key)
            if concurrent is None:
                raise
            return concurrent
        log.info(
            "statement imported",
            extra={
                "key": key,
                "rows": outcome.rows,
                "accepted": outcome.accepted,
                "matched": sum(figures.matched.values()),
                "orders_changed": figures.classified,
            },
        )
        return outcome.response(applied=True)

    async def _earlier(self, session: AsyncSession, key: str) -> pb.ImportPaymentsResponse | None:
        row = await session.scalar(
            select(StatementImport).where(StatementImport.statement_key == key)
        )
        if row is None:
            return None
        return pb.ImportPaymentsResponse(
            applied=True, accepted=row.accepted, duplicates=row.duplicates, rows=row.rows
        )

    async def _apply(
        self,
        session: AsyncSession,
        data: bytes,
        zone: tzinfo,
        recorded_by: str,
        statement_id: str,
    ) -> Outcome:
        """Validate every row; insert the valid ones chunk by chunk while none is rejected."""
        outcome = Outcome()
        now = utcnow()
        currencies = self.settings.currency_rates_to_cny
        positions: dict[str, int] | None = None
        seen: dict[str, int] = {}
        chunk: list[dict[str, Any]] = []
        for line, cells, error in csv_rows(data):
            if cells is None:
                outcome.reject(line, "", error)
                break
            if positions is None:
                positions = self._header(line, cells, outcome)
                if positions is None:
                    break
                continue
            if not cells:
                continue  # a blank line
            outcome.rows += 1
            if len(cells) != len(COLUMNS):
                outcome.reject(line, "", f"expected {len(COLUMNS)} columns, found {len(cells)}")
                continue
            values = {name: cells[index] for name, index in positions.items()}
            try:
                fields = payment_from_fields(
                    bank_reference=values["bank_reference"],
                    amount=values["amount"],
                    currency=values["currency"],
                    paid_at=values["paid_at"],
                    currencies=currencies,
                    payer_name=values["payer_name"],
                    payer_account=values["payer_account"],
                    reference_text=values["reference_text"],
                    skew_seconds=self.settings.clock_skew_seconds,
                    zone=zone,
                    now=now,
                )
            except InvalidInput as invalid:
                outcome.reject(line, invalid.field or "", invalid.message)
                continue
            first = seen.setdefault(fields.bank_reference, line)
            if first != line:
                outcome.reject(
                    line,
                    "bank_reference",
                    f"bank reference {fields.bank_reference} repeats line {first}",
                )
                continue
            if outcome.rejected:
                continue  # nothing more is written; the rest is only checked
            chunk.append(
                fields.to_row(recorded_by=recorded_by, recorded_at=now, statement_id=statement_id)
            )
            if len(chunk) >= CHUNK:
                await self._insert(session, chunk, outcome)
                chunk = []
        if positions is None and not outcome.rejected:
            outcome.reject(1, "header", "the file is empty: a header line is required")
        if chunk and not outcome.rejected:
            await self._insert(session, chunk, outcome)
        return outcome

    @staticmethod
    def _header(line: int, cells: list[str], outcome: Outcome) -> dict[str, int] | None:
        names = [cell.strip().lower() for cell in cells]
        if sorted(names) != sorted(COLUMNS):
            outcome.reject(
                line,
                "header",
                f"the header must name the columns {','.join(COLUMNS)}; found {','.join(names)}",
            )
            return None
        return {name: names.index(name) for name in COLUMNS}

    @staticmethod
    async def _insert(session: AsyncSession, chunk: list[dict[str, Any]], outcome: Outcome) -> None:
        inserted = await insert_payments(session, chunk)
        outcome.inserted |= inserted
        outcome.accepted += len(inserted)
        outcome.duplicates += len(chunk) - len(inserted)
