"""Codes a service sends as strings, as the gateway's enums: an unknown one (a service newer
than the gateway) is null in a field, left out of a list, and logged; never an error."""

from __future__ import annotations

import logging

import pytest

from salesguard_gateway.schema.codes import (
    AlertKind,
    ApprovalRole,
    code_of,
    codes_of,
    duplicate_criteria_named,
)
from salesguard_gateway.schema.enums import DuplicateCriterion


def test_a_known_code_is_its_member() -> None:
    assert code_of(AlertKind, "LATE_REGISTRATION") is AlertKind("LATE_REGISTRATION")
    assert code_of(ApprovalRole, "HQ_MANAGER") is ApprovalRole.HQ_MANAGER


def test_no_code_is_none_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert code_of(AlertKind, "") is None
    assert caplog.records == []


def test_an_unknown_code_is_none_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert code_of(AlertKind, "NEWER_KIND") is None
        assert codes_of(AlertKind, ["NEWER_KIND", "PAYER_MISMATCH"]) == [
            AlertKind("PAYER_MISMATCH")
        ]
        assert duplicate_criteria_named(["name+company", "fax", "phone"]) == [
            DuplicateCriterion.NAME_COMPANY,
            DuplicateCriterion.PHONE,
        ]
    assert [getattr(record, "code", None) for record in caplog.records] == [
        "NEWER_KIND",
        "NEWER_KIND",
        "fax",
    ]
