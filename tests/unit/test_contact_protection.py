"""Contact data at rest: encrypted, bound to its row, findable only through the blind index."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag

from salesguard.crypto import BlindIndex, FieldCipher
from salesguard.errors import InvalidInput
from salesguard.masking import mask_email, mask_name, mask_phone
from salesguard.phones import normalise_phone
from salesguard_customers.contacts import identity_key, normalise_email

KEY = os.urandom(32)


def test_ciphertext_holds_no_plaintext_and_round_trips() -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.encrypt("+8613800138000", field="phone", row_id="r1")
    assert b"13800138000" not in sealed
    assert cipher.decrypt(sealed, field="phone", row_id="r1") == "+8613800138000"


def test_ciphertext_copied_to_another_row_or_field_does_not_decrypt() -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.encrypt("a@example.com", field="email", row_id="r1")
    with pytest.raises(InvalidTag):
        cipher.decrypt(sealed, field="email", row_id="r2")
    with pytest.raises(InvalidTag):
        cipher.decrypt(sealed, field="phone", row_id="r1")


def test_same_value_encrypts_differently_but_indexes_equally() -> None:
    cipher, index = FieldCipher(KEY), BlindIndex(KEY)
    assert cipher.encrypt("x", field="phone", row_id="r") != cipher.encrypt(
        "x", field="phone", row_id="r"
    )
    assert index.digest("phone", "+8613800138000") == index.digest("phone", "+8613800138000")
    assert index.digest("phone", "+8613800138000") != index.digest("email", "+8613800138000")
    assert index.digest("phone", "+8613800138000") != BlindIndex(os.urandom(32)).digest(
        "phone", "+8613800138000"
    )


@pytest.mark.parametrize(
    "raw",
    ["+86 138 0013 8000", "13800138000", "138-0013-8000", "+8613800138000", "(138) 0013 8000"],
)
def test_phone_spellings_normalise_to_one_e164(raw: str) -> None:
    assert normalise_phone(raw, "CN") == "+8613800138000"


@pytest.mark.parametrize("raw", ["not a phone", "12", "+999 1"])
def test_impossible_phone_is_a_validation_error_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_phone(raw, "CN")
    assert caught.value.field == "phone"


def test_email_and_identity_keys_ignore_case_and_spacing() -> None:
    assert normalise_email("  Li.Lei@Example.COM ") == "li.lei@example.com"
    assert identity_key("Acme  Trading", "ACME Ltd") == identity_key("acme trading", "acme ltd")
    with pytest.raises(InvalidInput):
        normalise_email("no-at-sign")


def test_masked_values_look_like_the_contract() -> None:
    assert mask_phone("+8613812345678") == "138****5678"
    # Not E.164 (the slow path): the digits are picked out all the same.
    assert mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_phone("+14155550123") == "141****0123"
    assert mask_phone("+86123") == "****23"
    assert mask_email("lilei@example.com") == "l***@example.com"
    assert mask_name("张三") == "张*"
