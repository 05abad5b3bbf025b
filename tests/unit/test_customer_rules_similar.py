"""C3 beyond its exact keys: SIMILAR_CUSTOMER's company normaliser and matching."""

from __future__ import annotations

import pytest

from salesguard_customers.rules.duplicates import (
    Nearby,
    SimilarThreshold,
    company_key,
    similar_customers,
    similar_dedupe_key,
    similar_evidence,
)

THRESHOLD = SimilarThreshold(radius_m=100)


@pytest.mark.parametrize(
    "written",
    [
        "Ningbo Haitian Trading Co., Ltd.",
        "Ningbo Haitian Trading",
        "NINGBO  HAITIAN TRADING LIMITED",
        "Ningbo-Haitian Trading Co Ltd",
        "ningbo haitian trading, inc.",
        "Ningbo Haitian Trading Company Limited",
        "Ｎｉｎｇｂｏ Haitian Trading",  # full-width letters
    ],
)
def test_one_company_written_several_ways_has_one_key(written: str) -> None:
    assert company_key(written) == "ningbohaitiantrading"


def test_chinese_legal_forms_are_dropped() -> None:
    assert company_key("宁波海天贸易有限公司") == company_key("宁波海天贸易")
    assert company_key("宁波海天贸易公司") == "宁波海天贸易"
    assert company_key("宁波海天贸易股份有限公司") == "宁波海天贸易"


def test_a_suffix_is_only_a_whole_trailing_word() -> None:
    # "Costco" does not end in the word "co", "Zinc" not in "inc".
    assert company_key("Costco") == "costco"
    assert company_key("Zinc") == "zinc"
    # A name that is only a legal form keeps it.
    assert company_key("Limited") == "limited"
    assert company_key("公司") == "公司"


def test_different_companies_keep_different_keys() -> None:
    assert company_key("Ningbo Haitian Trading") != company_key("Ningbo Haitian Plastics")
    assert company_key("") == ""
    assert company_key(" ,. ") == ""


def nearby(code: str, company: str, owner: str | None, distance: float) -> Nearby:
    return Nearby(f"id-{code}", code, company, owner, distance)


def test_only_another_owners_same_company_within_the_radius_matches() -> None:
    found = similar_customers(
        "Ningbo Haitian Trading",
        "e-schemer",
        [
            nearby("C-2", "Ningbo Haitian Trading Co., Ltd.", "e-colleague", 60),
            nearby("C-1", "ningbo haitian trading", "e-other", 10),
            nearby("C-3", "Ningbo Haitian Trading", "e-colleague", 101),  # too far
            nearby("C-4", "Ningbo Haitian Plastics", "e-colleague", 5),  # another name
            nearby("C-5", "Ningbo Haitian Trading", "e-schemer", 5),  # own customer
            nearby("C-6", "Ningbo Haitian Trading", None, 5),  # in the pool
        ],
        THRESHOLD,
    )
    assert [other.code for other in found] == ["C-1", "C-2"]  # nearest first


def test_a_company_that_normalises_to_nothing_matches_nothing() -> None:
    assert similar_customers("Ltd.", "e-1", [nearby("C-1", "", "e-2", 1)], THRESHOLD) == []
    assert similar_customers("", "e-1", [nearby("C-1", "", "e-2", 1)], THRESHOLD) == []


def test_threshold_from_policy_data() -> None:
    assert SimilarThreshold.from_policy({"radius_m": 250}).radius_m == 250
    assert SimilarThreshold.from_policy({}).radius_m == 100


def test_one_alert_per_existing_customer_and_registrant_no_contact_detail() -> None:
    assert similar_dedupe_key("c-1", "e-2") == "SIMILAR_CUSTOMER:c-1:e-2"
    evidence = similar_evidence(
        "C-000009",
        nearby("C-000001", "Acme", "e-colleague", 42.4),
        registrant_id="e-schemer",
        new_owner_id="e-schemer",
        radius_m=100,
    )
    assert evidence["existing_code"] == "C-000001"
    assert evidence["distance_m"] == 42
    assert not {"phone", "email", "address", "name"} & set(evidence)
