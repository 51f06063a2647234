"""migralink privacy: keys, keyed pseudonyms, sealing of data that must not be read."""

from __future__ import annotations

from privacy.errors import InvalidCiphertext, KeyMismatchError, KeyringError, PrivacyError
from privacy.keys import EnvKeyProvider, FileKeyProvider, KeyProvider, Keyring, write_new_key_file
from privacy.sealing import Sealer
from privacy.tokens import Tokenizer, pseudonymize_identity

__all__ = [
    "EnvKeyProvider",
    "FileKeyProvider",
    "InvalidCiphertext",
    "KeyMismatchError",
    "KeyProvider",
    "Keyring",
    "KeyringError",
    "PrivacyError",
    "Sealer",
    "Tokenizer",
    "pseudonymize_identity",
    "write_new_key_file",
]
