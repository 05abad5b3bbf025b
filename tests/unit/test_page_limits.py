"""The page size is one setting of every process: the gateway and each service read it from
``salesguard.settings.Settings``, and the services check it at their edge."""

from __future__ import annotations

import pytest

from salesguard.errors import InvalidInput
from salesguard.policy import Decision
from salesguard.settings import PageLimits, Settings, SettingsError, load
from salesguard.validation import page_size
from salesguard_attendance.settings import AttendanceSettings
from salesguard_commissions.settings import CommissionsSettings
from salesguard_customers.settings import CustomersSettings
from salesguard_gateway.schema import SchemaLimits
from salesguard_gateway.settings import GatewaySettings
from salesguard_orders.settings import OrdersSettings

EVERY_PROCESS: tuple[type[Settings], ...] = (
    GatewaySettings,
    CustomersSettings,
    AttendanceSettings,
    OrdersSettings,
    CommissionsSettings,
)
LIMITS = PageLimits(maximum=150, default=30)


@pytest.mark.parametrize("settings_class", EVERY_PROCESS, ids=lambda cls: cls.__name__)
def test_every_process_reads_the_same_page_size_setting(
    settings_class: type[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALESGUARD_MAX_PAGE_SIZE", "150")
    monkeypatch.setenv("SALESGUARD_DEFAULT_PAGE_SIZE", "30")
    assert load(settings_class).page_limits == LIMITS


def test_the_gateway_schema_takes_the_settings_limits() -> None:
    settings = GatewaySettings(max_page_size=150)
    assert SchemaLimits.from_settings(settings).max_page_size == 150
    assert SchemaLimits.defaults().max_page_size == Settings.model_fields["max_page_size"].default


def test_a_default_above_the_maximum_is_refused() -> None:
    with pytest.raises(SettingsError, match="SALESGUARD_DEFAULT_PAGE_SIZE"):
        load(Settings, max_page_size=10, default_page_size=20)


@pytest.mark.parametrize(("requested", "size"), [(0, 30), (1, 1), (150, 150)])
def test_a_page_size_within_the_limit_is_served(requested: int, size: int) -> None:
    assert page_size("page.page_size", requested, LIMITS) == size


@pytest.mark.parametrize("requested", [-1, 151])
def test_a_page_size_outside_the_limit_names_the_field(requested: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        page_size("page.page_size", requested, LIMITS)
    assert refused.value.field == "page.page_size"
    assert "between 1 and 150" in str(refused.value)


@pytest.mark.parametrize(("max_rows", "size"), [(0, 150), (1000, 150), (40, 40)])
def test_the_policy_caps_a_page_at_its_max_rows(max_rows: int, size: int) -> None:
    decision = Decision(
        allow=True, grants=(), max_rows=max_rows, requires_approval=False, reasons=()
    )
    assert decision.page_size(150) == size
