"""The gateway's bounded caches under a flood: what a client can make the gateway keep."""

from __future__ import annotations

from strawberry.http import GraphQLRequestData

from salesguard_gateway.limits import BoundedCache
from salesguard_gateway.persisted import (
    PersistedOperations,
    RegisteredOperation,
    query_hash,
)


def persisted(query: str | None, sha256: str) -> GraphQLRequestData:
    return GraphQLRequestData(
        query=query,
        variables=None,
        operation_name=None,
        extensions={"persistedQuery": {"version": 1, "sha256Hash": sha256}},
    )


def test_entries_are_dropped_least_recently_used_first_by_weight() -> None:
    cache: BoundedCache[str] = BoundedCache(10, weigh=len)
    cache.put("a", "aaaa")
    cache.put("b", "bbbb")
    assert cache.lookup("a") == "aaaa"  # now the most recently used
    cache.put("c", "cccc")  # 12 > 10: the least recently used, b, goes
    assert (cache.lookup("a"), cache.lookup("b"), cache.lookup("c")) == ("aaaa", None, "cccc")
    cache.put("huge", "x" * 11)  # heavier than the whole budget: never kept
    assert cache.lookup("huge") is None and cache.lookup("c") == "cccc"


def test_a_cache_by_count_computes_once_per_key() -> None:
    cache: BoundedCache[int | None] = BoundedCache(2)
    computed: list[str] = []

    def compute(key: str) -> int | None:
        computed.append(key)
        return None  # a cached None is still a hit

    for key in ("q1", "q1", "q2", "q3", "q1"):
        cache.get(key, lambda key=key: compute(key))  # type: ignore[misc]
    assert computed == ["q1", "q2", "q3", "q1"]


def test_a_flood_of_persisted_texts_stays_within_budget_and_registered_ones_stay() -> None:
    registered_body = "query Registered { me { id } }"
    registered = RegisteredOperation(
        id=query_hash(registered_body), name="Registered", type="query", body=registered_body
    )
    operations = PersistedOperations(
        {registered.id: registered}, registered_only=False, cache_chars=1000
    )
    texts = [f"query Q{i} {{ me {{ id }} }} # {'x' * 40}" for i in range(200)]
    for text in texts:
        operations.resolve(persisted(text, query_hash(text)))
    remembered = [text for text in texts if operations._sent.lookup(query_hash(text)) is not None]
    assert 0 < sum(len(text) for text in remembered) <= 1000
    assert remembered == texts[-len(remembered) :]  # the newest are the ones kept
    # The registered operation is never pushed out by what clients send.
    found = operations.resolve(persisted(None, registered.id))
    assert found.query == registered_body
