"""Settings of the orders service (on top of the shared ones)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from salesguard.settings import Settings


class OrdersSettings(Settings):
    # Currencies orders and payments may use (all with two decimals), and their value
    # in CNY, in which the approval thresholds are stated.
    currency_rates_to_cny: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "CNY": Decimal("1"),
            "USD": Decimal("7.20"),
            "EUR": Decimal("7.80"),
            "HKD": Decimal("0.92"),
            "GBP": Decimal("9.10"),
            "SGD": Decimal("5.30"),
        }
    )
    # The approval chain (rules.approvals): every order needs a manager of its branch;
    # above these a FINANCE step, and an HQ_MANAGER step (also for a discount above the
    # percentage) are added.
    finance_approval_above_cny: Decimal = Field(default=Decimal("100000"), ge=0)
    hq_approval_above_cny: Decimal = Field(default=Decimal("1000000"), ge=0)
    hq_approval_discount_above_percent: Decimal = Field(default=Decimal("15"), ge=0, le=100)
    # Payment terms when an order names no expected payment date.
    default_payment_terms_days: int = Field(default=30, ge=0, le=365)
    max_order_lines: int = Field(default=200, ge=1)
    # Bank statement imports and voucher photos.
    statement_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    voucher_max_bytes: int = Field(default=15 * 1024 * 1024, ge=1024)
    upload_ttl_minutes: int = Field(default=15, ge=1, le=120)
    voucher_url_ttl_seconds: int = Field(default=300, ge=10, le=3600)
    # Orders streamed per message of StreamValidOrders.
    stream_batch_size: int = Field(default=500, ge=1, le=5000)
