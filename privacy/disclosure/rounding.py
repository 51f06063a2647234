"""Unbiased random rounding of counts to a base (Stats NZ's RR3 with base 3).

A count ``n`` with remainder ``r = n mod b`` becomes ``n - r + b`` with probability ``r / b`` and ``n - r``
otherwise: the expected result is ``n`` exactly, every result is a multiple of ``b``, and zero (like every
multiple of ``b``) is left as it is. Totals are rounded on their own, not added up from rounded cells.

The uniform draws are passed in so that the caller decides how consistent the rounding is. Drawn from the cell
key with :func:`uniforms_from_cell_keys`, they make random rounding as consistent as the cell key method: the
same persons in a cell of the same table get the same draw, so asking again gives the same rounded value and
repeated requests cannot be averaged to undo the rounding. The table label separates tables whose cells can
hold the same persons (the arrivals and the departures of one area, for instance), so that their draws are
independent of each other.
"""

from __future__ import annotations

import hashlib

import numpy as np

from privacy.disclosure.errors import DisclosureError

_LABEL = b"migralink.random-rounding.v1\x00"


def random_round(counts: np.ndarray, base: int = 3, *, uniforms: np.ndarray) -> np.ndarray:
    """Round each count to a multiple of ``base``, up with probability ``(count mod base) / base``, else down.

    Args:
        counts: counts to round (integers >= 0), any shape.
        base: the base, an integer >= 2 (3 for RR3).
        uniforms: one draw in ``[0, 1)`` per count, same shape; the count is rounded up when its draw is below
            ``(count mod base) / base``.

    Returns:
        int64 multiples of ``base``, same shape; each equals its count in expectation over the draws.

    Raises:
        DisclosureError: a bad base, counts that are not integers or negative, draws outside ``[0, 1)`` or of
            another shape. The message gives how many cells, never their values.

    Examples:
        >>> random_round(np.array([0, 1, 2, 3, 4]), uniforms=np.array([0.5, 0.5, 0.5, 0.5, 0.2])).tolist()
        [0, 0, 3, 3, 6]
    """
    if isinstance(base, bool) or not isinstance(base, int) or base < 2:
        raise DisclosureError(f"the rounding base must be an integer >= 2, not {base!r}")
    counts = np.asarray(counts)
    draws = np.asarray(uniforms, dtype=np.float64)
    if counts.shape != draws.shape:
        raise DisclosureError(f"{counts.size} counts but {draws.size} uniform draws; give one draw per count")
    if counts.dtype.kind not in "iu":
        raise DisclosureError(f"counts must be integers, not {counts.dtype}")
    if (negative := int(np.count_nonzero(counts < 0))) > 0:
        raise DisclosureError(f"{negative} counts are negative; counts must be >= 0")
    if (outside := int(np.count_nonzero(~((draws >= 0.0) & (draws < 1.0))))) > 0:
        raise DisclosureError(f"{outside} uniform draws are outside [0, 1)")
    counts = counts.astype(np.int64)
    remainder = counts % base
    up = draws * base < remainder
    return counts - remainder + base * up.astype(np.int64)


def uniforms_from_cell_keys(cell_keys: np.ndarray, label: str) -> np.ndarray:
    """One draw in ``[0, 1)`` per cell: SHA-256 of the table label and the cell key, as a 53-bit fraction.

    The same cell key and label always give the same draw; other labels give independent draws for the same key.

    Args:
        cell_keys: the cells' keys (from :mod:`privacy.disclosure.cellkey`), any shape.
        label: names the table, e.g. ``"arrivals by municipality and month"``.

    Returns:
        float64 draws, same shape as ``cell_keys``.
    """
    keys = np.asarray(cell_keys, dtype="<f8") + 0.0  # + 0.0 turns -0.0 into 0.0: one key, one byte string
    name = label.encode("utf-8")
    seed = hashlib.sha256(_LABEL + len(name).to_bytes(4, "big") + name)
    data = np.ascontiguousarray(keys).tobytes()
    out = np.empty(keys.size, dtype=np.uint64)
    for n in range(keys.size):
        digest = seed.copy()
        digest.update(data[8 * n : 8 * n + 8])
        out[n] = int.from_bytes(digest.digest()[:8], "big") >> 11
    return (out.astype(np.float64) / float(1 << 53)).reshape(keys.shape)
