"""Sealing (AES-GCM) round trip and tampering; keyed tokens; the name normalizer on arbitrary Unicode."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.bloom import dice
from privacy.errors import InvalidCiphertext
from privacy.keys import Keyring, KeyVersion
from privacy.normalize import name_parts, normalize_document, normalize_name
from privacy.sealing import Sealer
from privacy.tokens import ALL_TOKENS, FIELD_CLK, IDENTITY_TOKENS, Tokenizer


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
    for unkeyed in (hashlib.sha256(b"WANG").digest(), hmac.new(b"", b"WANG", "sha256").digest()):
        assert wang not in (int.from_bytes(unkeyed[:8], "big"), int.from_bytes(unkeyed[:8], "little"))


SPECS = {spec.column: spec for spec in ALL_TOKENS}


def test_token_specs_standardize_before_hashing(ring: Keyring) -> None:
    tk = Tokenizer(ring)
    a, b, c, d, empty = tk.tokens_for(
        SPECS["tok_family_name"], [("Müller",), ("MULLER",), (" muller ",), ("al-Muller",), ("<<",)]
    )
    assert a == b == c == d and empty is None
    same, other_country, no_number = tk.tokens_for(
        SPECS["tok_document"], [("ab 123", "D"), ("AB123", "UTO"), ("-", "D")]
    )
    assert tk.tokens_for(SPECS["tok_document"], [("AB123", "D")]) == [same]
    assert same != other_country and no_number is None


def test_swapped_names_share_the_name_set_token_and_the_name_encoding(ring: Keyring) -> None:
    tk = Tokenizer(ring)
    straight, swapped, other = tk.tokens_for(
        SPECS["tok_name_set"], [("WANG", "XIAO MING"), ("XIAO MING", "WANG"), ("WANG", "XIAO LING")]
    )
    assert straight == swapped != other
    clk_a, clk_b = tk.tokens_for(SPECS["clk_name"], [("WANG", "XIAO MING"), ("XIAO MING", "WANG")])
    assert clk_a == clk_b and isinstance(clk_a, str) and set(clk_a) <= {"0", "1"}


def test_every_name_field_has_its_own_bloom_filter_spec() -> None:
    clks = {spec.column: spec for spec in IDENTITY_TOKENS if spec.kind == "clk"}
    assert set(clks) == {"clk_name", "clk_family", "clk_given"}
    assert clks["clk_family"].inputs == ("family_name",) and clks["clk_given"].inputs == ("given_names",)
    assert len({spec.purpose for spec in clks.values()}) == 3  # one HKDF purpose each
    assert {spec.sql_type for spec in clks.values()} == {"BIT"}
    assert clks["clk_family"].clk == clks["clk_given"].clk == FIELD_CLK


def test_field_filters_are_deterministic_per_key_and_unrelated_across_fields_and_keys(ring: Keyring) -> None:
    names = [("WANG",), ("MARIA JOSE",), ("OKAFOR",), ("ALI",)]
    family = Tokenizer(ring).tokens_for(SPECS["clk_family"], names)
    assert family == Tokenizer(ring).tokens_for(SPECS["clk_family"], names)  # same key: same encodings
    assert all(
        isinstance(f, str) and len(f) == 2 * FIELD_CLK.filter_bits and f.count("1") == len(f) // 2 for f in family
    )
    given = Tokenizer(ring).tokens_for(SPECS["clk_given"], names)
    other_key = Tokenizer(Keyring.generate()).tokens_for(SPECS["clk_family"], names)
    rotated = Keyring(ring.key_id, 2, (*ring.versions, KeyVersion(2, bytes(range(32)), "2026-06-01T00:00:00+00:00")))
    other_version = Tokenizer(rotated).tokens_for(SPECS["clk_family"], names)
    for unrelated in (given, other_key, other_version):  # balanced, independently placed: Dice about 0.5
        assert all(0.35 < dice(a, b) < 0.65 for a, b in zip(family, unrelated, strict=True))


def test_field_filters_tolerate_typos_and_leave_missing_fields_empty(ring: Keyring) -> None:
    tk = Tokenizer(ring)
    kowalczyk, typo, other, missing = tk.tokens_for(
        SPECS["clk_family"], [("Kowalczyk",), ("KOWALCZIK",), ("NGUYEN",), ("<<",)]
    )
    assert dice(kowalczyk, typo) > 0.85 > dice(kowalczyk, other)
    assert missing is None
    same, swapped = tk.tokens_for(SPECS["clk_given"], [("XIAO MING",), ("MING XIAO",)])
    assert same == swapped  # a set of q-grams, as for the full name


def test_name_parts_and_phonetic_codes_are_token_lists(ring: Keyring) -> None:
    tk = Tokenizer(ring)
    (garcia_lopez,), (garcia,) = (tk.tokens_for(SPECS["tok_family_parts"], [(v,)]) for v in ("GARCIA LOPEZ", "GARCIA"))
    assert isinstance(garcia_lopez, list) and isinstance(garcia, list)
    assert len(garcia_lopez) == 2 and garcia[0] in garcia_lopez
    mohammed, muhammad = tk.tokens_for(SPECS["tok_given_phonetic"], [("MOHAMMED",), ("MUHAMMAD",)])
    assert mohammed == muhammad
    family_part, given_part = (
        tk.tokens_for(SPECS["tok_family_parts"], [("ALI",)]),
        tk.tokens_for(SPECS["tok_given_parts"], [("ALI",)]),
    )
    assert family_part != given_part  # separate subkeys per field


def test_given_initials_match_abbreviations_only(ring: Keyring) -> None:
    tk = Tokenizer(ring)
    full, short, other, missing = tk.tokens_for(
        SPECS["tok_given_initials"], [("JAN PIOTR",), ("J. P.",), ("PIOTR JAN",), ("",)]
    )
    assert full == short and full != other and missing is None


@pytest.mark.parametrize(
    ("other", "near"),
    [
        ("AB1234567", True),  # the same
        ("AB1234667", True),  # a substitution
        ("AB124567", True),  # a deletion
        ("AB12345678", True),  # an insertion
        ("AB1243567", True),  # a transposition
        ("AB1243576", False),  # two errors
        ("XY9876543", False),  # another passport
    ],
)
def test_document_edit_tokens_overlap_within_one_keying_error(ring: Keyring, other: str, near: bool) -> None:
    tk = Tokenizer(ring)
    a, b = tk.tokens_for(SPECS["tok_document_edits"], [("AB1234567", "DEU"), (other, "DEU")])
    assert bool(set(a) & set(b)) is near
    (elsewhere,) = tk.tokens_for(SPECS["tok_document_edits"], [("AB1234567", "AUT")])
    assert not set(a) & set(elsewhere)  # the issuing country is part of every variant


def test_birth_date_tokens_catch_day_month_swaps(ring: Keyring) -> None:
    tk = Tokenizer(ring)
    (dob,) = tk.tokens_for(SPECS["tok_dob"], [("1990-03-07",)])
    (swapped,) = tk.tokens_for(SPECS["tok_dob_swapped"], [("1990-07-03",)])
    assert dob == swapped
    # No valid swap: the date itself, so that the token's presence does not reveal a day of 12 or less.
    assert tk.tokens_for(SPECS["tok_dob_swapped"], [("1990-03-25",), ("1990-04-04",)]) == tk.tokens_for(
        SPECS["tok_dob"], [("1990-03-25",), ("1990-04-04",)]
    )
    year_a, year_b = tk.tokens_for(SPECS["tok_dob_year"], [("1990-03-07",), ("1990-12-01",)])
    assert year_a == year_b


def test_slk581_tokens(ring: Keyring) -> None:
    tk = Tokenizer(ring)
    spec = SPECS["tok_slk581"]
    a, b, c, d = tk.tokens_for(
        spec,
        [
            ("SMITH", "JOHN", "1980-02-03", "M"),
            ("SMYTH", "JOHN", "1980-02-03", "M"),  # letter 3 differs (I, Y)
            ("SMITH", "JOHN", "1980-02-03", "F"),
            ("SMITH", "JOHN", None, "M"),
        ],
    )
    assert a != b and a != c and d is None
    assert tk.tokens_for(spec, [("SMITH", "JOHNNY", "1980-02-03", "M")]) == [a]  # only letters 2, 3 of given


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
        ("  o'brien-smith ", "OBRIEN SMITH"),
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


@given(st.text())
def test_name_parts_never_crash_and_are_stable(text: str) -> None:
    parts = name_parts(text)
    assert all(p and p.isascii() and p.isupper() and " " not in p for p in parts)
    assert name_parts(" ".join(parts)) == parts
