"""migralink privacy: keys, keyed pseudonyms, sealing, the purpose register (names imported on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from privacy.lazy import lazy_names

if TYPE_CHECKING:
    from privacy.bloom import ClkEncoder, dice, dice_sql
    from privacy.errors import (
        InvalidCiphertext,
        KeyMismatchError,
        KeyringError,
        PrivacyError,
        PurposeRefused,
        RegisterError,
    )
    from privacy.keys import EnvKeyProvider, FileKeyProvider, KeyProvider, Keyring, write_new_key_file
    from privacy.register import Register, load_register
    from privacy.sealing import Sealer
    from privacy.tokens import ALL_TOKENS, IDENTITY_TOKENS, SOURCE_TOKENS, Tokenizer, TokenSpec

_NAMES = {
    "ALL_TOKENS": ("privacy.tokens", "ALL_TOKENS"),
    "ClkEncoder": ("privacy.bloom", "ClkEncoder"),
    "EnvKeyProvider": ("privacy.keys", "EnvKeyProvider"),
    "FileKeyProvider": ("privacy.keys", "FileKeyProvider"),
    "IDENTITY_TOKENS": ("privacy.tokens", "IDENTITY_TOKENS"),
    "InvalidCiphertext": ("privacy.errors", "InvalidCiphertext"),
    "KeyMismatchError": ("privacy.errors", "KeyMismatchError"),
    "KeyProvider": ("privacy.keys", "KeyProvider"),
    "Keyring": ("privacy.keys", "Keyring"),
    "KeyringError": ("privacy.errors", "KeyringError"),
    "PrivacyError": ("privacy.errors", "PrivacyError"),
    "PurposeRefused": ("privacy.errors", "PurposeRefused"),
    "Register": ("privacy.register", "Register"),
    "RegisterError": ("privacy.errors", "RegisterError"),
    "SOURCE_TOKENS": ("privacy.tokens", "SOURCE_TOKENS"),
    "Sealer": ("privacy.sealing", "Sealer"),
    "TokenSpec": ("privacy.tokens", "TokenSpec"),
    "Tokenizer": ("privacy.tokens", "Tokenizer"),
    "dice": ("privacy.bloom", "dice"),
    "dice_sql": ("privacy.bloom", "dice_sql"),
    "load_register": ("privacy.register", "load_register"),
    "write_new_key_file": ("privacy.keys", "write_new_key_file"),
}

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
    "PurposeRefused",
    "Register",
    "RegisterError",
    "Sealer",
    "TokenSpec",
    "Tokenizer",
    "dice",
    "dice_sql",
    "load_register",
    "write_new_key_file",
]

__getattr__ = lazy_names(__name__, _NAMES, globals())
