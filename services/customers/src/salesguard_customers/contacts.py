"""Contact fields: normalisation (E.164, lower-cased email), encryption and blind indexes (C10)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from salesguard.crypto import BlindIndex, FieldCipher
from salesguard.errors import InvalidInput
from salesguard.masking import mask_value
from salesguard.phones import PHONE_INDEX_KIND
from salesguard_customers.models import Customer
from salesguard_customers.rules.duplicates import identity_key as identity_key

CONTACT_FIELDS = ("phone", "email", "address")
_CIPHER_COLUMNS = {field: f"{field}_cipher" for field in CONTACT_FIELDS}
_FIELD_COLUMNS = tuple(_CIPHER_COLUMNS.items())
# Masked forms of contact fields kept by (field, row ID, ciphertext), at most this many
# (then forgotten at once): a list read by masked grants (HR's, a senior's team) decrypts
# and masks each of a page's fields again otherwise, ~2 us each. Only masked forms, which
# any reader with a masking grant sees and the audit trail records, never plaintext. A
# changed field has a new ciphertext (a fresh nonce), so nothing kept goes stale; a
# ciphertext is kept under the row and field it was authenticated for, so one copied
# into another row still fails to decrypt there.
MASKED_VALUES_KEPT = 50_000
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")


def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidInput("email", "email is not an email address")
    return email


class Sealed(Protocol):
    """What a customer's contact fields are read from: a :class:`Customer`, or a row of
    its columns (a list's plain rows)."""

    @property
    def id(self) -> str: ...
    @property
    def phone_cipher(self) -> bytes | None: ...
    @property
    def email_cipher(self) -> bytes | None: ...
    @property
    def address_cipher(self) -> bytes | None: ...


class Contact(NamedTuple):
    """A customer's contact fields, plaintext or masked (a tuple: a page builds 50)."""

    phone: str = ""
    email: str = ""
    address: str = ""


class ContactVault:
    """Encrypts contact fields into a row and reads them back, masked where asked."""

    def __init__(self, cipher: FieldCipher, index: BlindIndex) -> None:
        self.cipher = cipher
        self._index = index
        self._openers = tuple((field, cipher.opener(field)) for field in CONTACT_FIELDS)
        self._masked_values: dict[tuple[str, str, bytes], bytes] = {}

    def phone_index(self, e164: str) -> str:
        return self._index.digest(PHONE_INDEX_KIND, e164)

    def email_index(self, email: str) -> str:
        return self._index.digest("email", email)

    def store(self, customer: Customer, field: str, value: str) -> None:
        """Set one contact field (already normalised) on the row, encrypted."""
        cipher = self.cipher.encrypt(value, field=field, row_id=customer.id) if value else None
        if field == "phone":
            customer.phone_cipher = cipher
            customer.phone_index = self.phone_index(value) if value else None
        elif field == "email":
            customer.email_cipher = cipher
            customer.email_index = self.email_index(value) if value else None
        elif field == "address":
            customer.address_cipher = cipher
        else:
            raise ValueError(f"not a contact field: {field}")

    def _open(self, customer: Sealed, field: str) -> str:
        cipher: bytes | None = getattr(customer, _CIPHER_COLUMNS[field])
        if not cipher:
            return ""
        return self.cipher.decrypt(cipher, field=field, row_id=customer.id)

    def read(self, customer: Sealed, masked: frozenset[str]) -> Contact:
        """Plaintext, or the masked form for fields in ``masked``."""
        decrypt, row_id = self.cipher.decrypt, customer.id
        values = []
        for field, column in _FIELD_COLUMNS:
            cipher: bytes | None = getattr(customer, column)
            value = decrypt(cipher, field=field, row_id=row_id) if cipher else ""
            values.append(mask_value(field, value) if field in masked else value)
        return Contact(*values)

    def open_utf8(
        self, row_id: str, ciphers: Sequence[bytes | None], masked: frozenset[str]
    ) -> tuple[bytes, ...]:
        """:meth:`read` of a row's ID and its :data:`CONTACT_FIELDS` ciphertexts (in that
        order), as UTF-8 bytes: what a page writes into its wire bytes (:mod:`.wire`). A
        field left unmasked is the decrypted bytes as they are, not decoded and encoded
        again; a masked one is remembered (:data:`MASKED_VALUES_KEPT`)."""
        values = []
        known = self._masked_values
        for (field, open_field), cipher in zip(self._openers, ciphers, strict=True):
            if not cipher:
                values.append(b"")
            elif field in masked:
                key = (field, row_id, cipher)
                value = known.get(key)
                if value is None:
                    value = mask_value(field, open_field(cipher, row_id).decode()).encode()
                    if len(known) >= MASKED_VALUES_KEPT:
                        known.clear()
                    known[key] = value
                values.append(value)
            else:
                # Not decoded: the parse of the wire bytes refuses what is not UTF-8.
                values.append(open_field(cipher, row_id))
        return tuple(values)

    def masked(self, customer: Sealed) -> Contact:
        return self.read(customer, frozenset(CONTACT_FIELDS))
