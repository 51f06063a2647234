"""Frozen copy of the pseudonymization as it was before its optimisation (privacy/tokens.py, privacy/bloom.py's
encoder and pipeline/ingest/load.py's store_tokens, at commit 5bc91d4).

The reference :mod:`tests.privacy.test_pseudonymize_identical` checks the optimised implementation against:
the same key must give bit-identical ``identity_tokens`` rows. Production code never calls it; do not change it.
"""

# ruff: noqa

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hmac
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import duckdb
import jellyfish
import numpy as np
import pyarrow as pa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pipeline.warehouse.connection import registered
from privacy.errors import PrivacyError
from privacy.keys import Keyring
from privacy.normalize import name_parts, normalize_document

SCHEME = "clk1"
DEFAULT_FILTER_BITS = 512
DEFAULT_BITS_PER_NAME = 100
DEFAULT_Q = 2
MAX_K = 64
CHUNK_ROWS = 16_384  # rows of the bit matrix built at once: 16k x 1024 bytes = 16 MB

_PAD = " "
_DENSE_KEYS = 1 << 20  # key spaces up to this size are factorized by marking instead of sorting
_ASCII_ZERO = ord("0")


class ClkConfigError(PrivacyError, ValueError):
    """The Bloom-filter parameters are out of range."""


class ClkEncoder:
    """Encodes standardized names as keyed, balanced Bloom filters ('0'/'1' strings for DuckDB's BIT type).

    Args:
        ring: The keyring; only HKDF subkeys of one version are used.
        purpose: A label such as ``"clk/name"``; encodings under different labels are unrelated.
        version: Key version, the active one by default. Store it next to every encoding.
        filter_bits: Bits of the filter before balancing (the encoding has twice as many); a multiple of 64.
        bits_per_name: Length-adaptive hashing (the default): a name with ``g`` q-grams sets
            ``round(bits_per_name / g)`` positions per q-gram (1..64), so short and long names fill the filter
            alike. Positions of a q-gram are a prefix of one keyed stream, so shared q-grams of names of
            different lengths still share their first positions.
        k: Fixed positions per q-gram instead (give ``bits_per_name=None``); then short names set few bits and,
            balanced, score high against any other short name.
        q: q-gram length (2 or 3).
        pad_words: Pad each name part with boundary markers (``_A``, ``I_``), which weights first and last
            letters and gives one-letter parts q-grams.
        balanced: Concatenate the complement and permute (recommended; turning it off gives a plain keyed CLK).

    Security properties: see the module docstring. Positions and permutation depend on the key, the purpose and
    all parameters; the encoder holds subkeys only, never the master secret.

    Examples:
        >>> enc = ClkEncoder(Keyring.generate(), "clk/name")
        >>> a, b = enc.encode_many(["MUHAMMAD ALI", "MOHAMMAD ALI"])
        >>> len(a), dice(a, b) > 0.8
        (1024, True)
    """

    def __init__(
        self,
        ring: Keyring,
        purpose: str,
        *,
        version: int | None = None,
        filter_bits: int = DEFAULT_FILTER_BITS,
        bits_per_name: int | None = DEFAULT_BITS_PER_NAME,
        k: int | None = None,
        q: int = DEFAULT_Q,
        pad_words: bool = True,
        balanced: bool = True,
    ) -> None:
        if not purpose:
            raise ClkConfigError("purpose must be a non-empty label such as 'clk/name'")
        if not 64 <= filter_bits <= 65_536 or filter_bits % 64:
            raise ClkConfigError(f"filter_bits is {filter_bits}; use a multiple of 64 in 64..65536 (512 is usual)")
        if (k is None) == (bits_per_name is None):
            raise ClkConfigError("give exactly one of bits_per_name (length-adaptive) and k (fixed)")
        if k is not None and not 1 <= k <= MAX_K:
            raise ClkConfigError(f"k is {k}; use 1..{MAX_K} positions per q-gram")
        if bits_per_name is not None and not 1 <= bits_per_name <= filter_bits:
            raise ClkConfigError(f"bits_per_name is {bits_per_name}; use 1..filter_bits (about 20% of it is usual)")
        if q not in (2, 3):
            raise ClkConfigError(f"q is {q}; only 2 (bigrams) and 3 (trigrams) are supported")
        self.version = ring.active_version if version is None else version
        self.purpose = purpose
        self.filter_bits = filter_bits
        self.k = k
        self.bits_per_name = bits_per_name
        self.q = q
        self.pad_words = pad_words
        self.balanced = balanced
        self.encoding_bits = 2 * filter_bits if balanced else filter_bits
        label = f"{purpose}/{self.scheme}"
        self._position_key = ring.subkey(f"{label}/positions", self.version)
        self.permutation = _keyed_permutation(ring.subkey(f"{label}/permutation", self.version), self.encoding_bits)
        self._filters: dict[tuple[str, int], np.ndarray] = {}

    @property
    def scheme(self) -> str:
        """A public description of the parameters, e.g. ``clk1/q2/pad/m512/b100/balanced``; store it with the data."""
        pad = "pad" if self.pad_words else "nopad"
        hardening = "balanced" if self.balanced else "plain"
        hashing = f"k{self.k}" if self.k is not None else f"b{self.bits_per_name}"
        return f"{SCHEME}/q{self.q}/{pad}/m{self.filter_bits}/{hashing}/{hardening}"

    def qgram_positions(self, qgram: str, k: int) -> np.ndarray:
        """The first ``k`` filter positions (before balancing and permutation) of one q-gram.

        Args:
            qgram: A q-gram, with ``" "`` as the boundary marker.
            k: How many positions (1..64).

        Returns:
            ``k`` positions in ``[0, filter_bits)``: 32-bit words of HMAC-SHA256(subkey, block counter || q-gram)
            modulo ``filter_bits`` (unbiased, as ``filter_bits`` divides 2**32).
        """
        data = qgram.encode("utf-8", "surrogatepass")
        blocks = -(-k // 8)  # 8 words per HMAC block
        digest = b"".join(hmac.digest(self._position_key, bytes([i]) + data, "sha256") for i in range(blocks))
        return (np.frombuffer(digest, dtype="<u4")[:k] % self.filter_bits).astype(np.int32)

    def encode_bits(self, values: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Encode values as a 0/1 matrix.

        Args:
            values: Standardized names (parts separated by single spaces).

        Returns:
            ``(bits, present)``: a ``uint8`` matrix of shape ``(len(values), encoding_bits)`` holding the
            encodings, and a boolean vector that is ``False`` where a value was ``None`` or had no q-gram (its row
            is all zeros).
        """
        rows, inverse, grams = self._qgrams(values)
        present = np.zeros(len(values), dtype=bool)
        present[rows] = True
        if not grams:
            return np.zeros((len(values), self.encoding_bits), dtype=np.uint8), present
        if self.k is not None:
            packed = np.stack([self._packed_filter(g, self.k) for g in grams])
        else:  # one filter per distinct (q-gram, k) pair
            assert self.bits_per_name is not None
            per_row = np.bincount(rows, minlength=len(values))[rows]
            k_of = np.clip(np.rint(self.bits_per_name / per_row), 1, MAX_K).astype(np.int64)
            pairs, inverse = _factorize(inverse * (MAX_K + 1) + k_of, len(grams) * (MAX_K + 1))
            gram_of, k_used = np.divmod(pairs, MAX_K + 1)
            packed = np.stack(
                [self._packed_filter(grams[g], k) for g, k in zip(gram_of.tolist(), k_used.tolist(), strict=True)]
            )
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        filters = np.bitwise_or.reduceat(packed[inverse], starts, axis=0)  # one filter per present row
        base = np.unpackbits(filters.view(np.uint8), axis=1)
        full = np.concatenate([base, 1 - base], axis=1) if self.balanced else base
        placed = np.take(full, self.permutation, axis=1)
        if len(placed) == len(values):
            return placed, present
        bits = np.zeros((len(values), self.encoding_bits), dtype=np.uint8)
        bits[present] = placed
        return bits, present

    def encode_many(self, values: Sequence[str | None]) -> list[str | None]:
        """Encode distinct standardized names as '0'/'1' strings that DuckDB casts to BIT.

        Args:
            values: Standardized names, e.g. from :func:`privacy.normalize.normalize_name`; pass distinct values.

        Returns:
            One string of ``encoding_bits`` characters per value, ``None`` for ``None``, empty or blank values.

        Examples:
            >>> enc = ClkEncoder(Keyring.generate(), "clk/name")
            >>> [len(s) if s else s for s in enc.encode_many(["ALI", None, ""])]
            [1024, None, None]
        """
        out: list[str | None] = []
        width = self.encoding_bits
        for start in range(0, len(values), CHUNK_ROWS):
            chunk = values[start : start + CHUNK_ROWS]
            bits, present = self.encode_bits(chunk)
            bits += _ASCII_ZERO
            text = bits.tobytes().decode("ascii")
            out.extend(text[i * width : (i + 1) * width] if ok else None for i, ok in enumerate(present.tolist()))
        return out

    def _packed_filter(self, gram: str, k: int) -> np.ndarray:
        """The filter of one q-gram alone, packed into 64-bit words (cached: q-grams repeat enormously)."""
        packed = self._filters.get((gram, k))
        if packed is None:
            one = np.zeros(self.filter_bits, dtype=np.uint8)
            one[self.qgram_positions(gram, k)] = 1
            packed = self._filters[gram, k] = np.packbits(one).view(np.uint64)
        return packed

    def _qgrams(self, values: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Every (row, q-gram) of the values, vectorized over one concatenated code-point array.

        Returns:
            Row numbers (ascending), indices into the distinct q-grams, and the distinct q-grams.
        """
        q = self.q
        pad = _PAD * (q - 1) if self.pad_words else ""
        inner = pad * 2 if self.pad_words else _PAD
        texts = [pad + v.replace(" ", inner) + pad if v else "" for v in values]
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64)
        row_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        n = len(codes) - q + 1
        if n <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), []
        is_pad = codes == ord(_PAD)
        window_pads = sum(is_pad[j : j + n].astype(np.int8) for j in range(q))
        keep = (row_of[:n] == row_of[q - 1 :]) & (window_pads < q if self.pad_words else window_pads == 0)
        radix = int(codes.max()) + 1  # a q-gram is a number in base `radix`: below 2**63 for any code points
        key = np.zeros(n, dtype=np.int64)
        for j in range(q):
            key = key * radix + codes[j : j + n]
        distinct, inverse = _factorize(key[keep], radix**q)
        grams = ["".join(chr(d // radix ** (q - 1 - j) % radix) for j in range(q)) for d in distinct.tolist()]
        return row_of[:n][keep], inverse, grams


def _factorize(keys: np.ndarray, key_space: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and each key's index among them; by marking (no sort) when the key space is small."""
    if key_space > _DENSE_KEYS:
        return np.unique(keys, return_inverse=True)
    used = np.zeros(key_space, dtype=np.int64)
    used[keys] = 1
    return np.flatnonzero(used), (np.cumsum(used) - 1)[keys]


def _keyed_permutation(key: bytes, size: int) -> np.ndarray:
    """A uniformly random permutation of ``range(size)`` determined by ``key``.

    Each index gets a 64-bit sort key from the AES-256-CTR keystream (a CSPRNG seeded by the HKDF subkey);
    sorting the keys (ties, probability below 2**-40, broken by index) gives the permutation.
    """
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    sort_keys = np.frombuffer(encryptor.update(bytes(8 * size)), dtype="<u8")
    return np.argsort(sort_keys, kind="stable").astype(np.int32)


TOKEN_BYTES = 8  # the first 64 bits of the HMAC-SHA256 output, stored as an unsigned 64-bit integer

Inputs = Sequence[str | None]
Kind = Literal["token", "token_list", "clk"]


@dataclass(frozen=True)
class ClkParams:
    """Bloom-filter parameters of one CLK column (see :class:`privacy.bloom.ClkEncoder`).

    ``filter_bits`` is the filter before balancing (the stored encoding has twice as many bits);
    ``bits_per_name`` the bits a name sets, about a fifth of the filter (docs/bloom-filters.md).
    """

    filter_bits: int = DEFAULT_FILTER_BITS
    bits_per_name: int = DEFAULT_BITS_PER_NAME


FULL_NAME_CLK = ClkParams()  # 1024-bit encodings of the full name
FIELD_CLK = ClkParams(filter_bits=256, bits_per_name=50)  # 512-bit encodings of one name field (measured enough)


@dataclass(frozen=True)
class TokenSpec:
    """One pseudonym column: its input columns, how they are standardized, and its purpose (its own subkey).

    ``clk`` holds the Bloom-filter parameters of a ``"clk"`` column (ignored for tokens).
    """

    column: str
    purpose: str
    inputs: tuple[str, ...]
    standardize: Callable[[Inputs], str | list[str] | None]
    kind: Kind = "token"
    clk: ClkParams = FULL_NAME_CLK

    @property
    def sql_type(self) -> str:
        return {"token": "UBIGINT", "token_list": "UBIGINT[]", "clk": "BIT"}[self.kind]


def _full_name(v: Inputs) -> str | None:
    parts = name_parts(v[0])
    return " ".join(parts) if parts else None


def _parts(v: Inputs) -> list[str] | None:
    return sorted(set(name_parts(v[0]))) or None


def _phonetic(v: Inputs) -> list[str] | None:
    return sorted({jellyfish.nysiis(p) for p in name_parts(v[0])} - {""}) or None


def _initials(v: Inputs) -> str | None:
    """First letters of the name parts in order (JOHN PAUL and J P both give JP)."""
    return "".join(p[0] for p in name_parts(v[0])) or None


def _name_set(v: Inputs) -> str | None:
    parts = sorted(set(name_parts(v[0])).union(name_parts(v[1])))
    return " ".join(parts) if parts else None


def _all_parts(v: Inputs) -> str | None:
    parts = name_parts(v[0]) + name_parts(v[1])
    return " ".join(parts) if parts else None


def _date(v: Inputs) -> str | None:
    return v[0] or None


def _date_part(index: int) -> Callable[[Inputs], str | None]:
    def part(v: Inputs) -> str | None:
        return v[0].split("-")[index] if v[0] else None

    return part


def _swapped(v: Inputs) -> str | None:
    """The date with day and month exchanged; the date itself when that is not another valid date.

    Always present when the date is, so the presence of the token says nothing about the day.
    """
    if not v[0]:
        return None
    year, month, day = v[0].split("-")
    try:
        return dt.date(int(year), int(day), int(month)).isoformat()
    except ValueError:
        return v[0]


def _document(v: Inputs) -> str | None:
    number = normalize_document(v[0])
    return None if number is None else f"{number}|{v[1] or ''}"


def _document_edits(v: Inputs) -> list[str] | None:
    """The document number and every variant with one character deleted, with the issuing country.

    Two numbers one substitution, insertion, deletion or transposition apart share at least one variant (the
    symmetric-delete scheme), so equal tokens in these lists mean "at most one keying error apart"."""
    number = normalize_document(v[0])
    if number is None:
        return None
    variants = {number} | {number[:i] + number[i + 1 :] for i in range(len(number))}
    return sorted(f"{n}|{v[1] or ''}" for n in variants if n)


def _number(v: Inputs) -> str | None:
    return normalize_document(v[0])


@lru_cache(maxsize=1 << 18)
def _letters(name: str | None, positions: tuple[int, ...]) -> str:
    text = "".join(name_parts(name))
    return "".join(text[p - 1] if len(text) >= p else "2" for p in positions)


def forget_names() -> None:
    """Empty the caches of standardized names (:func:`privacy.normalize.name_parts` and the SLK letters).

    They are keyed by plaintext names. A run that has stored its pseudonyms calls this, so that the names do not
    stay in the process's memory after the run, and the caches do not grow from run to run in a long-lived worker.
    """
    _letters.cache_clear()
    name_parts.cache_clear()


def _slk581(v: Inputs) -> str | None:
    family, given, dob, sex = v
    if not dob or not (name_parts(family) or name_parts(given)):
        return None
    sex_code = "1" if sex == "M" else "2" if sex == "F" else "9"
    return f"{_letters(family, (2, 3, 5))}{_letters(given, (2, 3))}{dob[8:10]}{dob[5:7]}{dob[0:4]}{sex_code}"


IDENTITY_TOKENS = (
    TokenSpec("tok_family_name", "family_name", ("family_name",), _full_name),
    TokenSpec("tok_given_names", "given_names", ("given_names",), _full_name),
    TokenSpec("tok_family_parts", "family_part", ("family_name",), _parts, "token_list"),
    TokenSpec("tok_given_parts", "given_part", ("given_names",), _parts, "token_list"),
    TokenSpec("tok_name_set", "name_set", ("family_name", "given_names"), _name_set),
    TokenSpec("tok_family_phonetic", "family_phonetic", ("family_name",), _phonetic, "token_list"),
    TokenSpec("tok_given_phonetic", "given_phonetic", ("given_names",), _phonetic, "token_list"),
    TokenSpec("tok_given_initials", "given_initials", ("given_names",), _initials),
    TokenSpec("clk_name", "clk/name", ("family_name", "given_names"), _all_parts, "clk"),
    TokenSpec("clk_family", "clk/family_name", ("family_name",), _full_name, "clk", FIELD_CLK),
    TokenSpec("clk_given", "clk/given_names", ("given_names",), _full_name, "clk", FIELD_CLK),
    TokenSpec("tok_dob", "dob", ("date_of_birth",), _date),
    TokenSpec("tok_dob_year", "dob_year", ("date_of_birth",), _date_part(0)),
    TokenSpec("tok_dob_month", "dob_month", ("date_of_birth",), _date_part(1)),
    TokenSpec("tok_dob_day", "dob_day", ("date_of_birth",), _date_part(2)),
    TokenSpec("tok_dob_swapped", "dob", ("date_of_birth",), _swapped),  # same purpose: compares with tok_dob
    TokenSpec("tok_slk581", "slk581", ("family_name", "given_names", "date_of_birth", "sex"), _slk581),
    TokenSpec("tok_document", "document", ("doc_number", "doc_issuing_country"), _document),
    TokenSpec(
        "tok_document_edits", "document_edits", ("doc_number", "doc_issuing_country"), _document_edits, "token_list"
    ),
)
SOURCE_TOKENS = {
    "border": IDENTITY_TOKENS,
    "visa": (*IDENTITY_TOKENS, TokenSpec("tok_visa_number", "visa_number", ("visa_number",), _number)),
    "permit": (*IDENTITY_TOKENS, TokenSpec("tok_permit_number", "permit_number", ("permit_number",), _number)),
}
ALL_TOKENS = SOURCE_TOKENS["visa"] + SOURCE_TOKENS["permit"][len(IDENTITY_TOKENS) :]
IDENTIFIER_INPUTS = ("family_name", "given_names", "date_of_birth", "sex", "doc_number", "doc_issuing_country")


class Tokenizer:
    """Computes the pseudonyms of one key version.

    Examples:
        >>> tk = Tokenizer(Keyring.generate())
        >>> 0 <= tk.token("family_name", "WANG") < 2**64
        True
    """

    def __init__(self, ring: Keyring, version: int | None = None) -> None:
        self.version = ring.active_version if version is None else version
        self._ring = ring
        self._keys: dict[str, bytes] = {}
        self._clk: dict[tuple[str, ClkParams], ClkEncoder] = {}
        self._memo: dict[str, dict[str, Any]] = {}

    def _key(self, purpose: str) -> bytes:
        if purpose not in self._keys:
            self._keys[purpose] = self._ring.subkey(f"token/{purpose}", self.version)
        return self._keys[purpose]

    def token(self, purpose: str, value: str) -> int:
        """Token of one already standardized value."""
        return int.from_bytes(hmac.digest(self._key(purpose), value.encode(), "sha256")[:TOKEN_BYTES], "big")

    def tokens_for(self, spec: TokenSpec, distinct_inputs: Sequence[Inputs]) -> list[Any]:
        """Pseudonyms for distinct input tuples of ``spec``; ``None`` where nothing is left after standardizing.

        Results are remembered per purpose for the life of the tokenizer (one run), so values that recur in
        another source or another call are standardized but not hashed or encoded again.
        """
        standardized = [spec.standardize(inputs) for inputs in distinct_inputs]
        memo = self._memo.setdefault(f"{spec.purpose}#{spec.clk}" if spec.kind == "clk" else spec.purpose, {})
        if spec.kind == "clk":
            missing = sorted({s for s in standardized if isinstance(s, str) and s not in memo})
            memo.update(zip(missing, self.clk_encoder(spec).encode_many(missing), strict=True))
            return [memo[s] if isinstance(s, str) else None for s in standardized]
        key = self._key(spec.purpose)

        def mac(text: str) -> int:
            token = memo.get(text)
            if token is None:
                digest = hmac.digest(key, text.encode(), "sha256")
                token = memo[text] = int.from_bytes(digest[:TOKEN_BYTES], "big")
            return token

        if spec.kind == "token":
            return [None if std is None else mac(str(std)) for std in standardized]
        return [None if std is None else [mac(p) for p in std] for std in standardized]

    def clk_encoder(self, spec: TokenSpec) -> ClkEncoder:
        """The Bloom-filter encoder of a ``"clk"`` spec: its own purpose (HKDF subkeys) and parameters."""
        key = (spec.purpose, spec.clk)
        encoder = self._clk.get(key)
        if encoder is None:
            encoder = self._clk[key] = ClkEncoder(
                self._ring,
                purpose=spec.purpose,
                version=self.version,
                filter_bits=spec.clk.filter_bits,
                bits_per_name=spec.clk.bits_per_name,
            )
        return encoder


_ARROW_TYPES = {"token": pa.uint64(), "token_list": pa.list_(pa.uint64()), "clk": pa.string()}


def store_tokens(
    con: duckdb.DuckDBPyConnection, source: str, table: str, tokenizer: Tokenizer, *, where: str = "true"
) -> None:
    """Insert the pseudonyms of the rows of ``table`` (columns ``t_record_id`` and ``t_<identifier>``).

    Token kinds that share their input columns share one DISTINCT query and one join. The Bloom-filter
    encodings (mostly NumPy work) are computed in a second thread while the HMAC tokens are computed here.
    The module-level caches of standardized names are emptied afterwards (:func:`privacy.tokens.forget_names`),
    so they keep no plaintext name past the call (the tokenizer's own memo lasts as long as the tokenizer: one run).
    """
    try:
        _store_tokens(con, source, table, tokenizer, where=where)
    finally:
        forget_names()


def _store_tokens(con: duckdb.DuckDBPyConnection, source: str, table: str, tokenizer: Tokenizer, *, where: str) -> None:
    groups: dict[tuple[str, ...], list[TokenSpec]] = {}
    for spec in SOURCE_TOKENS[source]:
        groups.setdefault(spec.inputs, []).append(spec)
    distinct = {
        inputs: con.execute(
            f"SELECT DISTINCT {', '.join(_typed_text(c) for c in inputs)} FROM {table} WHERE {where}"
        ).fetchall()
        for inputs in groups
    }
    with _no_cyclic_gc(), ThreadPoolExecutor(max_workers=1) as pool:
        pending = {
            spec.column: pool.submit(tokenizer.tokens_for, spec, distinct[inputs])
            for inputs, specs in groups.items()
            for spec in specs
            if spec.kind == "clk"
        }
        values = {
            spec.column: tokenizer.tokens_for(spec, distinct[inputs])
            for inputs, specs in groups.items()
            for spec in specs
            if spec.kind != "clk"
        }
        values.update({column: future.result() for column, future in pending.items()})
    joins, selects = [], []
    with contextlib.ExitStack() as maps:
        for i, (inputs, specs) in enumerate(groups.items()):
            rows = distinct[inputs]
            mapping = {f"k{j}": pa.array([d[j] for d in rows], pa.string()) for j in range(len(inputs))}
            casts = []
            for spec in specs:
                mapping[spec.column] = pa.array(values[spec.column], _ARROW_TYPES[spec.kind])
                casts.append(f"{spec.column}::BIT AS {spec.column}" if spec.kind == "clk" else spec.column)
                selects.append(f"m{i}.{spec.column}")
            name = f"token_map_{i}"
            with registered(con, "token_map_raw", pa.table(mapping)):
                keys = ", ".join(f"k{j}" for j in range(len(inputs)))
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {keys}, {', '.join(casts)} FROM token_map_raw"
                )
            maps.callback(_drop_quietly, con, name)
            on = " AND ".join(f"m{i}.k{j} IS NOT DISTINCT FROM {_typed_text(c, 'c.')}" for j, c in enumerate(inputs))
            joins.append(f"LEFT JOIN {name} m{i} ON {on}")
        con.execute(
            f"""INSERT INTO identity_tokens BY NAME
            SELECT ? AS source, c.t_record_id AS record_id, ? AS key_version, {", ".join(selects)}
            FROM {table} c {" ".join(joins)}
            WHERE {where}""",
            [source, tokenizer.version],
        )


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: millions of short-lived tuples make it scan again and again, and
    nothing allocated here forms reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _drop_quietly(con: duckdb.DuckDBPyConnection, table: str) -> None:
    with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses it; the original error wins
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _typed_text(column: str, prefix: str = "") -> str:
    """The checked value of ``column`` as text (dates in ISO form)."""
    if column == "date_of_birth":
        return f"strftime({prefix}t_date_of_birth, '%Y-%m-%d')"
    return f'{prefix}"t_{column}"'
