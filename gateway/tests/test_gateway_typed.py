"""Issue 14, "Typed": closed sets are GraphQL enums, a refusal's reasons a list.

Against the real services (embedded profile), like the other gateway tests.
"""

from __future__ import annotations

from gateway.tests.orders_support import Shop, decide, submit
from tests.harness import Suite

# --- extensions.reasons ----------------------------------------------------------------------


async def test_a_refusal_lists_its_reasons(suite: Suite, shop: Shop) -> None:
    org = shop.org
    order = await submit(suite, org.manager, shop.managers_customer["id"])
    result = await decide(suite, org.manager, order["id"])
    assert result.codes == ["FORBIDDEN"]
    reasons = result.errors[0]["extensions"]["reasons"]
    assert isinstance(reasons, list), reasons
    assert "SELF_APPROVAL" in reasons
    assert all(isinstance(reason, str) and reason for reason in reasons)
