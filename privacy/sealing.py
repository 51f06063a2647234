"""Authenticated encryption (AES-256-GCM) of records that must be kept but not read, such as quarantine rows.

Blob layout: ``b"ML1" || key version (2 bytes, big endian) || nonce (12 bytes) || ciphertext+tag``.
The associated data binds a blob to its context (for example source, partition, file and line), so a
blob moved to another row fails to open. Any failure raises :class:`InvalidCiphertext` and says no more.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy.errors import InvalidCiphertext, KeyringError
from privacy.keys import Keyring

_MAGIC = b"ML1"
_HEADER = len(_MAGIC) + 2 + 12


class Sealer:
    """Seals and opens byte strings with a subkey of the keyring for one purpose.

    Examples:
        >>> ring = Keyring.generate()
        >>> s = Sealer(ring, "quarantine")
        >>> s.open(s.seal(b"row", aad=b"ctx"), aad=b"ctx")
        b'row'
    """

    def __init__(self, ring: Keyring, purpose: str) -> None:
        self._ring = ring
        self._purpose = f"seal/{purpose}"
        self._aead = AESGCM(ring.subkey(self._purpose))
        self._others: dict[int, AESGCM] = {}

    @property
    def ring(self) -> Keyring:
        """The keyring this sealer derives its subkeys from."""
        return self._ring

    @property
    def version(self) -> int:
        """The key version new seals are made with."""
        return self._ring.active_version

    def seal(self, plaintext: bytes, *, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        version = self._ring.active_version.to_bytes(2, "big")
        return _MAGIC + version + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, *, aad: bytes) -> bytes:
        if len(blob) <= _HEADER or not blob.startswith(_MAGIC):
            raise InvalidCiphertext("sealed data cannot be opened")
        version = int.from_bytes(blob[3:5], "big")
        try:
            aead = self._aead if version == self._ring.active_version else self._aead_for(version)
            return aead.decrypt(blob[5:_HEADER], blob[_HEADER:], aad)
        except (InvalidTag, KeyringError):
            raise InvalidCiphertext("sealed data cannot be opened") from None

    def _aead_for(self, version: int) -> AESGCM:
        if version not in self._others:
            self._others[version] = AESGCM(self._ring.subkey(self._purpose, version))
        return self._others[version]
