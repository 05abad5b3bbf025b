"""Idempotent writes on the embedded database: replay, refusal of a reused key, key length,
and a request hashed only when a key makes it worth hashing."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

import salesguard.idempotency
from salesguard.db import Database
from salesguard.errors import ErrorCode, InvalidInput, ServiceError
from salesguard.idempotency import IdempotencyColumns, IdempotentWrites
from salesguard.validation import IDEMPOTENCY_KEY_LENGTH
from salesguard_api.orders.v1 import orders_pb2 as pb


class Base(DeclarativeBase):
    pass


class IdempotencyKey(IdempotencyColumns, Base):
    pass


@pytest.fixture
async def writes(tmp_path: Path) -> AsyncIterator[IdempotentWrites]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    try:
        yield IdempotentWrites(db, IdempotencyKey)
    finally:
        await db.dispose()


class Counter:
    """The work a write does: counts its runs and answers with the run's number."""

    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self, session: AsyncSession) -> pb.SubmitOrderResponse:
        self.runs += 1
        return pb.SubmitOrderResponse(order=pb.Order(id=f"order-{self.runs}"))


def order(key: str, note: str = "first") -> pb.SubmitOrderRequest:
    return pb.SubmitOrderRequest(customer_id="c1", note=note, idempotency_key=key)


async def test_a_retry_with_the_same_key_replays_the_first_answer(
    writes: IdempotentWrites,
) -> None:
    work = Counter()
    first = await writes.run("rep-1", order("k1"), pb.SubmitOrderResponse, work)
    again = await writes.run("rep-1", order("k1"), pb.SubmitOrderResponse, work)
    earlier = await writes.earlier("rep-1", order("k1"), pb.SubmitOrderResponse)
    assert work.runs == 1
    assert first.order.id == again.order.id == "order-1"
    assert earlier is not None and earlier.order.id == "order-1"


async def test_a_key_is_scoped_to_its_caller(writes: IdempotentWrites) -> None:
    work = Counter()
    await writes.run("rep-1", order("k1"), pb.SubmitOrderResponse, work)
    other = await writes.run("rep-2", order("k1"), pb.SubmitOrderResponse, work)
    assert work.runs == 2 and other.order.id == "order-2"


async def test_a_key_reused_for_a_different_request_is_refused(
    writes: IdempotentWrites,
) -> None:
    work = Counter()
    await writes.run("rep-1", order("k1"), pb.SubmitOrderResponse, work)
    with pytest.raises(ServiceError) as refused:
        await writes.run("rep-1", order("k1", note="changed"), pb.SubmitOrderResponse, work)
    assert refused.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert work.runs == 1


async def test_without_a_key_every_call_runs_and_nothing_is_kept(
    writes: IdempotentWrites,
) -> None:
    work = Counter()
    await writes.run("rep-1", order(""), pb.SubmitOrderResponse, work)
    await writes.run("rep-1", order(""), pb.SubmitOrderResponse, work)
    assert work.runs == 2
    assert await writes.earlier("rep-1", order(""), pb.SubmitOrderResponse) is None


async def test_a_key_longer_than_the_limit_is_a_validation_error(
    writes: IdempotentWrites,
) -> None:
    work = Counter()
    longest = "k" * IDEMPOTENCY_KEY_LENGTH
    await writes.run("rep-1", order(longest), pb.SubmitOrderResponse, work)
    for call in (
        writes.earlier("rep-1", order(longest + "k"), pb.SubmitOrderResponse),
        writes.run("rep-1", order(longest + "k"), pb.SubmitOrderResponse, work),
    ):
        with pytest.raises(InvalidInput) as refused:
            await call
        assert refused.value.field == "idempotency_key"
    assert work.runs == 1


async def test_a_request_is_hashed_once_with_a_key_and_never_without(
    writes: IdempotentWrites, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[bytes] = []

    def counting_sha256(data: bytes) -> Any:
        hashed.append(data)
        return hashlib.sha256(data)

    monkeypatch.setattr(salesguard.idempotency, "hashlib", SimpleNamespace(sha256=counting_sha256))
    work = Counter()
    # What CheckIn and SubmitOrder do: look for an earlier answer, prepare, then run.
    keyed = order("k1")
    assert await writes.earlier("rep-1", keyed, pb.SubmitOrderResponse) is None
    await writes.run("rep-1", keyed, pb.SubmitOrderResponse, work)
    assert len(hashed) == 1
    unkeyed = order("")
    await writes.earlier("rep-1", unkeyed, pb.SubmitOrderResponse)
    await writes.run("rep-1", unkeyed, pb.SubmitOrderResponse, work)
    assert len(hashed) == 1
