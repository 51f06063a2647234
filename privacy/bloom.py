"""Keyed, balanced Bloom-filter encodings (CLKs) of names, compared by Dice similarity.

A name is turned into its *set* of padded q-grams (``"ALI"`` gives ``_A AL LI I_`` for q=2; every part of a
multi-part name is padded separately, so part order does not matter). Each distinct q-gram sets positions in a
filter of ``filter_bits`` bits: about ``bits_per_name / g`` of them for a name of ``g`` q-grams (length-adaptive,
like clkhash's bits-per-feature strategy), or a fixed ``k``. The positions come from HMAC-SHA256 under an HKDF
subkey of one key version ("random hashing": every position is an independent PRF output, not the linear
double-hashing scheme). The filter is then *balanced*: concatenated with its complement, and the
``2 * filter_bits`` positions shuffled by a keyed permutation drawn from AES-256-CTR under a second HKDF subkey.

Two encodings of similar names have a high Dice coefficient. Because a balanced encoding always holds exactly
``filter_bits`` ones, its Dice coefficient equals the simple matching coefficient of the underlying filters,
``1 - hamming / filter_bits``: identical names score 1.0, unrelated ones about 0.65-0.8 by default (not 0).

Security properties:
    * Without the key nobody can compute which positions a q-gram sets, so a dictionary of names cannot be
      encoded and compared (the attack on unkeyed CLKs). Different purposes, key versions or parameter sets
      give unrelated encodings.
    * Every encoding has the same Hamming weight, which hides name length; the keyed permutation hides which
      position belongs to which half.
    * Not protected: frequencies. Equal names give equal encodings, and bit columns keep the q-gram frequency
      structure, so an attacker holding many encodings and a public name list can still try frequency and
      pattern-mining alignment; complementary column pairs can be found by anyone holding many encodings.
      Encodings are identifiers: keep them in the linkage zone (see ``docs/bloom-filters.md``).

Callers pass distinct standardized values (:func:`privacy.normalize.normalize_name`) and join the result back
in SQL; :func:`dice_sql` gives the DuckDB expression comparing two encodings.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from privacy.errors import PrivacyError
from privacy.keys import Keyring

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

    def encode_packed(self, values: Sequence[str | None]) -> list[bytes | None]:
        """Encode distinct standardized names as bytes, 8 bits per byte, first bit in the high bit: the encoding of
        :meth:`encode_many` packed (DuckDB casts such a BLOB to the same BIT value as that string).

        Examples:
            >>> enc = ClkEncoder(Keyring.generate(), "clk/name")
            >>> packed, text = enc.encode_packed(["ALI", None]), enc.encode_many(["ALI"])[0]
            >>> "".join(f"{b:08b}" for b in packed[0]) == text, packed[1]
            (True, None)
        """
        out: list[bytes | None] = []
        width = self.encoding_bits // 8
        for start in range(0, len(values), CHUNK_ROWS):
            bits, present = self.encode_bits(values[start : start + CHUNK_ROWS])
            data = np.packbits(bits, axis=1).tobytes()
            out.extend(data[i * width : (i + 1) * width] if ok else None for i, ok in enumerate(present.tolist()))
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


def dice(a: str, b: str) -> float:
    """Dice coefficient of two '0'/'1' strings of equal length (0.0 when both have no bit set).

    Examples:
        >>> dice("1100", "1010")
        0.5
    """
    if len(a) != len(b):
        raise ValueError("encodings of different lengths cannot be compared")
    x, y = int(a, 2) if a else 0, int(b, 2) if b else 0
    total = x.bit_count() + y.bit_count()
    return 0.0 if total == 0 else 2.0 * (x & y).bit_count() / total


def dice_sql(left: str, right: str) -> str:
    """DuckDB SQL for the Dice coefficient of two BIT expressions.

    Args:
        left: SQL expression of type BIT (a column such as ``l.name_clk`` or ``cast(x as BIT)``).
        right: The other SQL expression of type BIT, of the same length.

    Returns:
        A DOUBLE expression: NULL when either side is NULL, 0.0 when neither has a bit set.

    Examples:
        >>> dice_sql("a", "b").split(" ELSE ")[1]
        '2.0 * bit_count((a) & (b)) / (bit_count(a) + bit_count(b)) END'
    """
    total = f"(bit_count({left}) + bit_count({right}))"
    return f"CASE WHEN {total[1:-1]} = 0 THEN 0.0 ELSE 2.0 * bit_count(({left}) & ({right})) / {total} END"
