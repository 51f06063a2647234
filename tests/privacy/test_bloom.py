"""Keyed balanced Bloom-filter encodings: determinism, keying, similarity, balancing, DuckDB Dice, fuzzing."""

from __future__ import annotations

import hashlib
import random

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.bloom import ClkConfigError, ClkEncoder, dice, dice_sql
from privacy.errors import PrivacyError
from privacy.keys import Keyring, KeyVersion
from privacy.normalize import normalize_name

FIXED_RING = Keyring("test-ring", 1, (KeyVersion(1, bytes(range(32)), "2026-01-01T00:00:00+00:00"),))


@pytest.fixture(scope="module")
def enc() -> ClkEncoder:
    """A fixed key, so that similarity bounds are checked on reproducible encodings."""
    return ClkEncoder(FIXED_RING, "clk/name")


def _one(encoder: ClkEncoder, value: str) -> str:
    out = encoder.encode_many([value])[0]
    assert out is not None
    return out


def test_same_key_and_parameters_give_identical_encodings(enc: ClkEncoder) -> None:
    values = ["MUHAMMAD ALI", "NGUYEN VAN AN", "O"]
    again = ClkEncoder(FIXED_RING, "clk/name")
    assert enc.encode_many(values) == again.encode_many(values)
    assert np.array_equal(enc.permutation, again.permutation)
    assert enc.encode_many(values) == enc.encode_many(values)  # a warm q-gram cache changes nothing


@pytest.mark.parametrize(
    ("description", "other"),
    [
        ("another key", lambda ring: ClkEncoder(Keyring.generate(), "clk/name")),
        ("another purpose", lambda ring: ClkEncoder(ring, "clk/given_names")),
        ("another bits_per_name", lambda ring: ClkEncoder(ring, "clk/name", bits_per_name=99)),
        ("fixed k", lambda ring: ClkEncoder(ring, "clk/name", bits_per_name=None, k=8)),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_other_key_purpose_or_parameters_give_unrelated_encodings(ring: Keyring, enc: ClkEncoder, description, other):
    encoder = other(ring)
    values = ["MUHAMMAD ALI", "WANG", "MARIA JOSE GARCIA LOPEZ", "ANNA", "OLEKSANDR SHEVCHENKO"]
    scores = [dice(_one(enc, v), _one(encoder, v)) for v in values]
    # Both are balanced (half the bits set) and independently placed: Dice concentrates at 0.5.
    assert all(0.4 < s < 0.6 for s in scores), (description, scores)
    assert not np.array_equal(enc.permutation, encoder.permutation)


def test_key_versions_are_separate(ring: Keyring) -> None:
    rotated = Keyring(ring.key_id, 2, (*ring.versions, KeyVersion(2, bytes(range(32)), "2026-06-01T00:00:00+00:00")))
    v1, v2 = ClkEncoder(rotated, "clk/name", version=1), ClkEncoder(rotated, "clk/name")
    assert v2.version == 2
    assert v1.encode_many(["WANG"]) == ClkEncoder(ring, "clk/name").encode_many(["WANG"])
    assert dice(_one(v1, "WANG"), _one(v2, "WANG")) < 0.6


@pytest.mark.parametrize(
    ("description", "left", "right", "low", "high"),
    [
        ("identical", "MUHAMMAD ALI", "MUHAMMAD ALI", 1.0, 1.0),
        ("parts swapped (a set of q-grams)", "MUHAMMAD ALI", "ALI MUHAMMAD", 1.0, 1.0),
        ("one substitution", "MUHAMMAD ALI", "MOHAMMAD ALI", 0.85, 0.999),
        ("one deletion", "CHRISTOPHER", "CHRISTOPER", 0.85, 0.999),
        ("one insertion", "KATHERINE SMITH", "KATHERINE SMYITH", 0.85, 0.999),
        ("transposition", "STEPHANIE", "STEPAHNIE", 0.85, 0.999),
        ("short names, one substitution", "WANG", "WONG", 0.8, 0.999),
        ("unrelated", "MUHAMMAD ALI", "NGUYEN VAN AN", 0.0, 0.8),
        ("unrelated short", "WANG", "OKAFOR", 0.0, 0.8),
        ("unrelated very short", "LI", "KIM", 0.0, 0.8),
        ("unrelated long", "MARIA JOSE GARCIA LOPEZ", "OLEKSANDR SHEVCHENKO", 0.0, 0.8),
    ],
    ids=lambda x: x if isinstance(x, str) and " " in x and x.islower() else "",
)
def test_dice_follows_name_similarity(enc: ClkEncoder, description, left, right, low, high) -> None:
    score = dice(_one(enc, left), _one(enc, right))
    assert low <= score <= high, (description, score)


def test_typos_outrank_unrelated_names_under_any_key() -> None:
    for _ in range(5):
        encoder = ClkEncoder(Keyring.generate(), "clk/name")
        name, typo, other = encoder.encode_many(["MUHAMMAD ALI", "MOHAMMAD ALI", "NGUYEN VAN AN"])
        assert name and typo and other
        assert dice(name, typo) > 0.85 > dice(name, other)


def test_balanced_dice_is_one_minus_the_share_of_differing_filter_bits(enc: ClkEncoder) -> None:
    a, b = enc.encode_bits(["MUHAMMAD ALI", "MOHAMED ALY"])[0]
    back = np.argsort(enc.permutation)  # undo the permutation (only possible with the key)
    filt_a, filt_b = a[back][: enc.filter_bits], b[back][: enc.filter_bits]
    assert np.array_equal(a[back][enc.filter_bits :], 1 - filt_a)
    hamming = int((filt_a != filt_b).sum())
    as_text = ["".join(map(str, row)) for row in (a, b)]
    assert dice(*as_text) == pytest.approx(1 - hamming / enc.filter_bits)


def test_balanced_encodings_have_exactly_half_the_bits_set(enc: ClkEncoder) -> None:
    values = ["A", "MUHAMMAD ALI", "ANNA ANNA ANNA", "X" * 200, "MARIA JOSE GARCIA LOPEZ DE LA CRUZ"]
    for out in enc.encode_many(values):
        assert out is not None
        assert len(out) == enc.encoding_bits == 2 * enc.filter_bits
        assert out.count("1") == enc.filter_bits


def test_unbalanced_encoder_has_variable_weight_and_plain_length(ring: Keyring) -> None:
    plain = ClkEncoder(ring, "clk/name", filter_bits=1024, bits_per_name=None, k=20, balanced=False)
    short, long = plain.encode_many(["LI", "MARIA JOSE GARCIA LOPEZ"])
    assert short is not None and long is not None
    assert len(short) == len(long) == 1024
    assert 0 < short.count("1") < long.count("1")
    assert plain.scheme == "clk1/q2/pad/m1024/k20/plain"


def test_keyed_permutation_is_a_permutation(enc: ClkEncoder) -> None:
    perm = enc.permutation
    assert sorted(perm.tolist()) == list(range(enc.encoding_bits))
    assert not np.array_equal(perm, np.arange(enc.encoding_bits))


def test_positions_are_keyed_not_an_unkeyed_hash(ring: Keyring, enc: ClkEncoder) -> None:
    for gram in (" M", "MU", "AL", "I "):
        positions = enc.qgram_positions(gram, 16)
        assert len(positions) == 16 and ((positions >= 0) & (positions < enc.filter_bits)).all()
        assert np.array_equal(enc.qgram_positions(gram, 5), positions[:5])  # one stream, prefixes by k
        for algo in ("sha256", "sha1", "md5", "blake2b"):
            digest = hashlib.new(algo, gram.encode()).digest()
            unkeyed = np.frombuffer(digest[: 4 * (len(digest) // 4)], dtype="<u4")[:16] % enc.filter_bits
            assert not np.array_equal(positions[: len(unkeyed)], unkeyed)
            h1, h2 = int.from_bytes(hashlib.sha1(gram.encode()).digest()), int.from_bytes(digest)
            double = [(h1 + i * h2) % enc.filter_bits for i in range(16)]
            assert positions.tolist() != double
        other = ClkEncoder(Keyring.generate(), "clk/name").qgram_positions(gram, 16)
        assert not np.array_equal(positions, other)


@pytest.mark.parametrize("value", [None, "", " ", "   "], ids=["none", "empty", "space", "spaces"])
def test_missing_values_give_none(enc: ClkEncoder, value) -> None:
    assert enc.encode_many([value, "ALI"])[0] is None
    assert enc.encode_many([value]) == [None]
    assert enc.encode_many([]) == []


def test_order_and_chunking_are_preserved(ring: Keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    import privacy.bloom as bloom

    values = [None, "ALI", "", "WANG", "MUHAMMAD ALI", None, "O"] * 5
    expected = [None if not v else _one(ClkEncoder(ring, "clk/name"), v) for v in values]
    monkeypatch.setattr(bloom, "CHUNK_ROWS", 3)
    assert ClkEncoder(ring, "clk/name").encode_many(values) == expected


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"purpose": ""}, "purpose"),
        ({"filter_bits": 500}, "filter_bits"),
        ({"filter_bits": 0}, "filter_bits"),
        ({"bits_per_name": None, "k": 0}, "k is"),
        ({"bits_per_name": None}, "exactly one"),
        ({"k": 8}, "exactly one"),
        ({"bits_per_name": 0}, "bits_per_name is"),
        ({"q": 4}, "q is"),
    ],
)
def test_invalid_parameters_are_rejected_with_a_message(ring: Keyring, kwargs, fragment) -> None:
    args = {"purpose": "clk/name", **kwargs}
    with pytest.raises(ClkConfigError, match=fragment) as info:
        ClkEncoder(ring, **args)
    assert isinstance(info.value, PrivacyError)


def test_trigrams_work_and_differ_from_bigrams(ring: Keyring) -> None:
    tri = ClkEncoder(ring, "clk/name", q=3)
    a, b, c = tri.encode_many(["MUHAMMAD ALI", "MOHAMMAD ALI", "A"])
    assert a and b and c and dice(a, b) > 0.75 and c.count("1") == tri.filter_bits


def test_dice_helper() -> None:
    assert dice("1100", "1010") == 0.5
    assert dice("0000", "0000") == 0.0
    assert dice("1", "1") == 1.0
    with pytest.raises(ValueError):
        dice("10", "100")


def test_dice_sql_agrees_with_python_dice_in_duckdb(enc: ClkEncoder) -> None:
    rng = random.Random(5)
    names = ["MUHAMMAD ALI", "MOHAMMAD ALI", "WANG", "WANG LI", "ANNA", "HANNA", "NGUYEN VAN AN", "O"]
    encoded = dict(zip(names, enc.encode_many(names), strict=True))
    pairs = [(rng.choice(names), rng.choice(names)) for _ in range(40)]
    raw = [
        ("".join(rng.choice("01") for _ in range(n)), "".join(rng.choice("01") for _ in range(n)))
        for n in (1, 7, 64, 130)
    ]
    rows = [(encoded[a], encoded[b]) for a, b in pairs] + raw + [("0000", "0000"), ("0101", None), (None, None)]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, l VARCHAR, r VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, a, b) for i, (a, b) in enumerate(rows)])
    con.execute("CREATE TABLE tb AS SELECT i, l::BIT AS l, r::BIT AS r FROM t")
    on_bits = con.execute(f"SELECT {dice_sql('l', 'r')} FROM tb ORDER BY i").fetchall()
    on_strings = con.execute(f"SELECT {dice_sql('cast(l AS BIT)', 'cast(r AS BIT)')} FROM t ORDER BY i").fetchall()
    assert on_bits == on_strings
    for (got,), (a, b) in zip(on_bits, rows, strict=True):
        if a is None or b is None:
            assert got is None
        else:
            assert got == pytest.approx(dice(a, b), abs=1e-12)


name_parts = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(name_parts, min_size=1, max_size=5).map(" ".join)), max_size=20))
def test_any_normalized_names_give_valid_bit_strings(enc: ClkEncoder, values: list[str | None]) -> None:
    out = enc.encode_many(values)
    assert len(out) == len(values)
    for value, bits in zip(values, out, strict=True):
        if value is None:
            assert bits is None
        else:
            assert bits is not None and len(bits) == enc.encoding_bits
            assert set(bits) <= {"0", "1"} and bits.count("1") == enc.filter_bits


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_any_text_through_the_normalizer_never_crashes(enc: ClkEncoder, text: str) -> None:
    value = normalize_name(text)
    (bits,) = enc.encode_many([value])
    assert (bits is None) == (value is None)
    (raw,) = enc.encode_many([text])  # even unnormalized text (any code point) is encoded or None
    assert raw is None or len(raw) == enc.encoding_bits
