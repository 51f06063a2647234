"""Keyed pseudonyms of standardized identifiers: what linkage compares instead of names, dates and numbers.

Every token is an HMAC-SHA256 (its first 64 bits, as an unsigned integer) under an HKDF subkey of its own purpose
(64 bits keep accidental collisions negligible: about 3 in 10^8 for a million distinct values), so a token
of a family name can never be compared with a token of a given name or a document number. From each record:

* full family and given names (particles dropped, see :mod:`privacy.normalize`), each name part, the sorted set
  of all parts of both names (catches swapped given and family names), the NYSIIS phonetic code of each part;
* the document number with its issuing country, the visa or permit number;
* the full date of birth, its year, month and day, and the day-month-swapped date (when it is a valid date);
* a keyed statistical linkage key in the style of SLK-581 (letters 2, 3, 5 of the family name, 2, 3 of the
  given name, date of birth, sex);
* keyed, balanced Bloom-filter encodings (CLKs, :mod:`privacy.bloom`) of the q-grams of the family name
  (``clk_family``), of the given names (``clk_given``) and of all name parts of both together (``clk_name``),
  each under its own purpose, so the encodings of different fields are unrelated and cannot be compared.

Each distinct input is standardized and hashed once; callers join the results back (in SQL).

Security properties: without the key no token can be recomputed from a guessed value (no dictionary attack).
Tokens reveal equality within one purpose and key version, hence value frequencies; see docs/threat-model.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import jellyfish

from privacy.bloom import DEFAULT_BITS_PER_NAME, DEFAULT_FILTER_BITS, ClkEncoder
from privacy.keys import Keyring
from privacy.normalize import name_parts, normalize_document

TOKEN_BYTES = 8  # the first 64 bits of the HMAC-SHA256 output, stored as an unsigned 64-bit integer

_BLOCK = 64  # SHA-256's block size (HMAC pads its key to it)

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

    ``clk`` holds the Bloom-filter parameters of a ``"clk"`` column (ignored for tokens). ``sql``, when given, is
    the same standardization as a DuckDB expression giving VARCHAR (``"token"``) or VARCHAR[] (``"token_list"``),
    over the input columns ``k<j>`` (text, dates in ISO form) and, for the ``j``-th input, when it is a name
    (:data:`NAME_INPUTS`) ``p<j>`` (:func:`privacy.normalize.name_parts` as a list, empty for none) and ``h<j>``
    (its phonetic codes, :func:`name_lookup`), when it is a document number (:data:`DOCUMENT_INPUTS`) ``n<j>``
    (:func:`privacy.normalize.normalize_document`). :func:`pipeline.ingest.load.store_tokens` standardizes and
    hashes in SQL then (``tests/privacy/test_pseudonymize_identical.py`` checks both ways agree bit for bit).
    """

    column: str
    purpose: str
    inputs: tuple[str, ...]
    standardize: Callable[[Inputs], str | list[str] | None]
    kind: Kind = "token"
    clk: ClkParams = FULL_NAME_CLK
    sql: str | None = None

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


_DOCUMENT_SQL = "n0 || '|' || coalesce(k1, '')"
# Every variant with one character deleted (the empty one dropped), deduplicated; sorted after the country is
# appended, byte-wise, as Python sorts these ASCII strings.
_DOCUMENT_EDITS_SQL = (
    "CASE WHEN n0 IS NOT NULL THEN list_sort(list_transform(list_distinct(list_filter(list_prepend(n0, "
    "[substr(n0, 1, i - 1) || substr(n0, i + 1) for i in range(1, length(n0) + 1)]), lambda x: x <> '')), "
    "lambda x: x || '|' || coalesce(k1, '')), 'ASC') END"
)
# Day and month exchanged: always a valid date when the day is at most 12, otherwise the date itself.
_SWAPPED_SQL = (
    "CASE WHEN split_part(k0, '-', 3)::INTEGER <= 12 "
    "THEN concat_ws('-', split_part(k0, '-', 1), split_part(k0, '-', 3), split_part(k0, '-', 2)) ELSE k0 END"
)

NAME_INPUTS = frozenset({"family_name", "given_names"})
DOCUMENT_INPUTS = frozenset({"doc_number", "visa_number", "permit_number"})


def name_lookup(name: str | None) -> tuple[list[str], list[str] | None]:
    """What the SQL standardizations need of one raw name: its parts and its sorted phonetic codes (or None)."""
    return list(name_parts(name)), _phonetic((name,))


# Name parts hold only the letters A-Z, so DuckDB's byte-wise list_sort orders them as Python's sorted().
_FULL_NAME_SQL = "CASE WHEN len(p0) > 0 THEN array_to_string(p0, ' ') END"
_PARTS_SQL = "CASE WHEN len(p0) > 0 THEN list_sort(list_distinct(p0), 'ASC') END"
_INITIALS_SQL = "CASE WHEN len(p0) > 0 THEN array_to_string(list_transform(p0, lambda p: left(p, 1)), '') END"
_NAME_SET_SQL = (
    "CASE WHEN len(p0) + len(p1) > 0 "
    "THEN array_to_string(list_sort(list_distinct(list_concat(p0, p1)), 'ASC'), ' ') END"
)


def _letters_sql(parts: str, positions: tuple[int, ...]) -> str:
    text = f"array_to_string({parts}, '')"
    return " || ".join(f"CASE WHEN length({text}) >= {p} THEN substr({text}, {p}, 1) ELSE '2' END" for p in positions)


_SLK581_SQL = (
    f"CASE WHEN k2 IS NOT NULL AND k2 <> '' AND len(p0) + len(p1) > 0 THEN "
    f"{_letters_sql('p0', (2, 3, 5))} || {_letters_sql('p1', (2, 3))} || substr(k2, 9, 2) || substr(k2, 6, 2) || "
    "substr(k2, 1, 4) || CASE k3 WHEN 'M' THEN '1' WHEN 'F' THEN '2' ELSE '9' END END"
)

IDENTITY_TOKENS = (
    TokenSpec("tok_family_name", "family_name", ("family_name",), _full_name, sql=_FULL_NAME_SQL),
    TokenSpec("tok_given_names", "given_names", ("given_names",), _full_name, sql=_FULL_NAME_SQL),
    TokenSpec("tok_family_parts", "family_part", ("family_name",), _parts, "token_list", sql=_PARTS_SQL),
    TokenSpec("tok_given_parts", "given_part", ("given_names",), _parts, "token_list", sql=_PARTS_SQL),
    TokenSpec("tok_name_set", "name_set", ("family_name", "given_names"), _name_set, sql=_NAME_SET_SQL),
    TokenSpec("tok_family_phonetic", "family_phonetic", ("family_name",), _phonetic, "token_list", sql="h0"),
    TokenSpec("tok_given_phonetic", "given_phonetic", ("given_names",), _phonetic, "token_list", sql="h0"),
    TokenSpec("tok_given_initials", "given_initials", ("given_names",), _initials, sql=_INITIALS_SQL),
    TokenSpec("clk_name", "clk/name", ("family_name", "given_names"), _all_parts, "clk"),
    TokenSpec("clk_family", "clk/family_name", ("family_name",), _full_name, "clk", FIELD_CLK),
    TokenSpec("clk_given", "clk/given_names", ("given_names",), _full_name, "clk", FIELD_CLK),
    TokenSpec("tok_dob", "dob", ("date_of_birth",), _date, sql="k0"),
    TokenSpec("tok_dob_year", "dob_year", ("date_of_birth",), _date_part(0), sql="split_part(k0, '-', 1)"),
    TokenSpec("tok_dob_month", "dob_month", ("date_of_birth",), _date_part(1), sql="split_part(k0, '-', 2)"),
    TokenSpec("tok_dob_day", "dob_day", ("date_of_birth",), _date_part(2), sql="split_part(k0, '-', 3)"),
    # same purpose as tok_dob: compares with it
    TokenSpec("tok_dob_swapped", "dob", ("date_of_birth",), _swapped, sql=_SWAPPED_SQL),
    TokenSpec("tok_slk581", "slk581", ("family_name", "given_names", "date_of_birth", "sex"), _slk581, sql=_SLK581_SQL),
    TokenSpec("tok_document", "document", ("doc_number", "doc_issuing_country"), _document, sql=_DOCUMENT_SQL),
    TokenSpec(
        "tok_document_edits",
        "document_edits",
        ("doc_number", "doc_issuing_country"),
        _document_edits,
        "token_list",
        sql=_DOCUMENT_EDITS_SQL,
    ),
)
SOURCE_TOKENS = {
    "border": IDENTITY_TOKENS,
    "visa": (*IDENTITY_TOKENS, TokenSpec("tok_visa_number", "visa_number", ("visa_number",), _number, sql="n0")),
    "permit": (
        *IDENTITY_TOKENS,
        TokenSpec("tok_permit_number", "permit_number", ("permit_number",), _number, sql="n0"),
    ),
}
ALL_TOKENS = SOURCE_TOKENS["visa"] + SOURCE_TOKENS["permit"][len(IDENTITY_TOKENS) :]


def hmac_sql(text: str, inner: str, outer: str) -> str:
    """DuckDB SQL of :meth:`Tokenizer.token` of the VARCHAR expression ``text`` (NULL for NULL): HMAC-SHA256 from
    the pads of :meth:`Tokenizer.pads` (BLOB expressions ``inner`` and ``outer``, e.g. query parameters), its
    first ``TOKEN_BYTES`` bytes read big-endian as UBIGINT."""
    digest = f"sha256({outer} || unhex(sha256({inner} || encode({text}))))"
    return f"('0x' || left({digest}, {2 * TOKEN_BYTES}))::UBIGINT"


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

    def pads(self, purpose: str) -> tuple[bytes, bytes]:
        """The subkey of ``purpose`` padded to SHA-256's 64-byte block and XORed with HMAC's inner and outer pads:
        HMAC-SHA256(k, m) = SHA256(outer || SHA256(inner || m)) (RFC 2104), for :func:`hmac_sql`. Secret."""
        key = self._key(purpose)
        key = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)

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

    def clk_packed(self, spec: TokenSpec, distinct_inputs: Sequence[Inputs]) -> list[bytes | None]:
        """The Bloom-filter encodings of a ``"clk"`` spec as :meth:`tokens_for` gives them, packed into bytes
        (:meth:`privacy.bloom.ClkEncoder.encode_packed`: a BLOB that DuckDB casts to the same BIT value).
        Remembered per purpose for the life of the tokenizer, like :meth:`tokens_for`."""
        standardized = [spec.standardize(inputs) for inputs in distinct_inputs]
        memo = self._memo.setdefault(f"{spec.purpose}#{spec.clk}#packed", {})
        missing = sorted({s for s in standardized if isinstance(s, str) and s not in memo})
        memo.update(zip(missing, self.clk_encoder(spec).encode_packed(missing), strict=True))
        return [memo[s] if isinstance(s, str) else None for s in standardized]

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
