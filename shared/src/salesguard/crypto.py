"""Field encryption at rest (AES-256-GCM) and blind indexes (HMAC-SHA256) for lookups.

A ciphertext is ``version || nonce || ciphertext+tag``; the associated data
binds it to its field and row, so a value copied into another row or field
does not decrypt. A blind index is a keyed hash of the normalised value: equal
values match without the database ever holding the plaintext.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE_BYTES = 12


class FieldCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, *, field: str, row_id: str) -> bytes:
        return self.encrypt_bytes(plaintext.encode(), field=field, row_id=row_id)

    def decrypt(self, ciphertext: bytes, *, field: str, row_id: str) -> str:
        return self.decrypt_bytes(ciphertext, field=field, row_id=row_id).decode()

    def encrypt_bytes(self, plaintext: bytes, *, field: str, row_id: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, _associated(field, row_id))

    def decrypt_bytes(self, ciphertext: bytes, *, field: str, row_id: str) -> bytes:
        if ciphertext[:1] != _VERSION:
            raise ValueError("unknown ciphertext version")
        nonce = ciphertext[1 : 1 + _NONCE_BYTES]
        sealed = ciphertext[1 + _NONCE_BYTES :]
        return self._aead.decrypt(nonce, sealed, _associated(field, row_id))


def _associated(field: str, row_id: str) -> bytes:
    return f"{field}:{row_id}".encode()


class BlindIndex:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, kind: str, normalised_value: str) -> str:
        """Hex HMAC of a normalised value; ``kind`` separates phone from email etc."""
        message = f"{kind}\x00{normalised_value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
