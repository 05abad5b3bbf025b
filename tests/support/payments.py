"""What the tests that record payments through the gateway share: a bank line as
``recordPayment`` takes it."""

from __future__ import annotations

from typing import Any

from tests.harness import unique


def bank_line(amount: str, paid_at: str, **values: Any) -> dict[str, Any]:
    """A ``recordPayment`` input: ``amount`` CNY from Acme Trading, paid at ``paid_at``
    (ISO 8601), under a bank reference of its own; ``values`` add to it."""
    return {
        "bankReference": unique("BANK"),
        "payerName": "Acme Trading",
        "amount": amount,
        "currency": "CNY",
        "paidAt": paid_at,
        **values,
    }
