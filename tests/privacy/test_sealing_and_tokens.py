"""Sealing (AES-GCM) round trip and tampering; keyed tokens; the name normalizer on arbitrary Unicode."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.errors import InvalidCiphertext
from privacy.keys import Keyring
from privacy.normalize import normalize_document, normalize_name
from privacy.sealing import Sealer
from privacy.tokens import IDENTITY_TOKENS, Tokenizer


def test_seal_round_trip_and_every_one_byte_tampering_is_detected(ring: Keyring) -> None:
    sealer = Sealer(ring, "quarantine")
    blob = sealer.seal(b'{"family_name": "X"}', aad=b"border|2024-01-01|f.csv|2")
    assert sealer.open(blob, aad=b"border|2024-01-01|f.csv|2") == b'{"family_name": "X"}'
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(InvalidCiphertext, match=r"^sealed data cannot be opened$"):
            sealer.open(bytes(tampered), aad=b"border|2024-01-01|f.csv|2")


def test_sealed_row_does_not_open_in_another_context_or_with_another_key(ring: Keyring) -> None:
    blob = Sealer(ring, "quarantine").seal(b"row", aad=b"line 2")
    with pytest.raises(InvalidCiphertext):
        Sealer(ring, "quarantine").open(blob, aad=b"line 3")
    with pytest.raises(InvalidCiphertext):
        Sealer(Keyring.generate(), "quarantine").open(blob, aad=b"line 2")
    with pytest.raises(InvalidCiphertext):
        Sealer(ring, "other-purpose").open(blob, aad=b"line 2")


def test_tokens_are_deterministic_keyed_and_separated_by_field(ring: Keyring) -> None:
    tk = Tokenizer(ring)
    wang = tk.token("family_name", "WANG")
    assert wang == tk.token("family_name", "WANG") != tk.token("family_name", "LI")
    assert tk.token("given_names", "WANG") != wang
    assert Tokenizer(Keyring.generate()).token("family_name", "WANG") != wang
    assert wang not in hashlib.sha256(b"WANG").hexdigest()
    assert wang not in hmac.new(b"", b"WANG", "sha256").hexdigest()


def test_token_specs_standardize_before_hashing(ring: Keyring) -> None:
    tk = Tokenizer(ring)
    family, _given, _dob, document = IDENTITY_TOKENS
    a, b, c, empty = tk.tokens_for(family, [("Müller",), ("MULLER",), (" muller ",), ("<<",)])
    assert a == b == c and empty is None
    same, other_country, no_number = tk.tokens_for(document, [("ab 123", "D"), ("AB123", "UTO"), ("-", "D")])
    assert tk.tokens_for(document, [("AB123", "D")]) == [same]
    assert same != other_country and no_number is None


@given(st.text())
def test_normalize_name_never_crashes_and_is_idempotent(text: str) -> None:
    once = normalize_name(text)
    assert once is None or (once == once.strip() and "  " not in once and once.isascii())
    assert normalize_name(once) == once


@given(st.text())
def test_normalize_document_is_idempotent(text: str) -> None:
    once = normalize_document(text)
    assert once is None or once.isalnum()
    assert normalize_document(once) == once


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Müller", "MULLER"),
        ("  o'brien-smith ", "O BRIEN SMITH"),
        ("ОЛЕКСАНДР", "OLEKSANDR"),
        ("GARCÍA<<LÓPEZ", "GARCIA LOPEZ"),
        ("ＷＡＮＧ", "WANG"),
        ("", None),
        ("<<<", None),
    ],
    ids=["umlaut", "apostrophe and hyphen", "cyrillic", "icao fillers", "full width", "empty", "only fillers"],
)
def test_normalize_name_cases(raw: str, expected: str | None) -> None:
    assert normalize_name(raw) == expected
