"""Field encryption at rest (AES-256-GCM), blind indexes (HMAC-SHA256) for lookups, and
keyrings of HMAC keys that can be rotated.

A ciphertext is ``version || nonce || ciphertext+tag``; the associated data
binds it to its field and row, so a value copied into another row or field
does not decrypt. A blind index is a keyed hash of the normalised value: equal
values match without the database ever holding the plaintext.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Sequence

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

    def opener(self, field: str) -> Callable[[bytes, str], bytes]:
        """:meth:`decrypt_bytes` for one ``field``, its associated data's prefix encoded
        once: ``opener(field)(ciphertext, row_id)`` (a page decrypts each field 50 times)."""
        decrypt = self._aead.decrypt
        prefix = f"{field}:".encode()
        start = 1 + _NONCE_BYTES

        def open_field(ciphertext: bytes, row_id: str) -> bytes:
            if ciphertext[:1] != _VERSION:
                raise ValueError("unknown ciphertext version")
            return decrypt(ciphertext[1:start], ciphertext[start:], prefix + row_id.encode())

        return open_field


def _associated(field: str, row_id: str) -> bytes:
    return f"{field}:{row_id}".encode()


class BlindIndex:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, kind: str, normalised_value: str) -> str:
        """Hex HMAC of a normalised value; ``kind`` separates phone from email etc."""
        message = f"{kind}\x00{normalised_value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


class HmacKeyring:
    """HMAC-SHA256 keys named by a fingerprint: the first signs, every one verifies.

    Rotating a key means putting the new one first and keeping the old ones after it,
    so what they signed still verifies. A key's ID is a keyed fingerprint, not the key:
    storing it next to a digest says which key made it and reveals nothing.
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        if any(len(key) != 32 for key in keys):
            raise ValueError("HMAC-SHA256 keys are 32 bytes")
        self._keys = {self.key_id(key): key for key in reversed(keys)}
        self.current_id = self.key_id(keys[0])

    @staticmethod
    def key_id(key: bytes) -> str:
        return hmac.new(key, b"salesguard key id", hashlib.sha256).hexdigest()[:16]

    def knows(self, key_id: str) -> bool:
        return key_id in self._keys

    def sign(self, message: bytes) -> str:
        """Hex HMAC of ``message`` with the current key (its ID is :attr:`current_id`)."""
        return hmac.new(self._keys[self.current_id], message, hashlib.sha256).hexdigest()

    def digest(self, key_id: str, message: bytes) -> str | None:
        """Hex HMAC of ``message`` with the key ``key_id``; None when no such key is held."""
        key = self._keys.get(key_id)
        return None if key is None else hmac.new(key, message, hashlib.sha256).hexdigest()

    def verify(self, key_id: str, message: bytes, digest: str) -> bool:
        expected = self.digest(key_id, message)
        return expected is not None and hmac.compare_digest(expected, digest)
