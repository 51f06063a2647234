"""migralink privacy: keys, keyed pseudonyms, sealing of data that must not be read."""

from __future__ import annotations

from privacy.bloom import ClkEncoder, dice, dice_sql
from privacy.errors import InvalidCiphertext, KeyMismatchError, KeyringError, PrivacyError
from privacy.keys import EnvKeyProvider, FileKeyProvider, KeyProvider, Keyring, write_new_key_file
from privacy.sealing import Sealer
from privacy.tokens import ALL_TOKENS, IDENTITY_TOKENS, SOURCE_TOKENS, Tokenizer, TokenSpec

__all__ = [
    "ALL_TOKENS",
    "IDENTITY_TOKENS",
    "SOURCE_TOKENS",
    "ClkEncoder",
    "EnvKeyProvider",
    "FileKeyProvider",
    "InvalidCiphertext",
    "KeyMismatchError",
    "KeyProvider",
    "Keyring",
    "KeyringError",
    "PrivacyError",
    "Sealer",
    "TokenSpec",
    "Tokenizer",
    "dice",
    "dice_sql",
    "write_new_key_file",
]
