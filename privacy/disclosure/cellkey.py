"""The cell key method (ABS TableBuilder): record keys, cell keys, and counts perturbed by their cell key.

Every person gets one random record key, drawn once with :func:`new_record_keys` and kept with the person in
the linkage zone; it is never published and never drawn again. A cell's key is the sum of its members' record
keys mod 1, and a perturbation table (:mod:`privacy.disclosure.ptable`) turns the count and the cell key into
bounded, zero-mean noise. The key depends on nothing but the set of persons in the cell, so:

* identical member sets give identical cell keys, hence identical noise, in every table and every night: a cell
  of another table (another breakdown, another purpose) that holds the same persons is published with the same
  value, and asking again, or averaging many releases, yields nothing new;
* a cell with one person more or less has an unrelated key (the extra record key is uniform), so its noise
  says nothing about the other cell's.

Representation: a record key is an integer ``rk`` drawn uniformly from ``[0, 2^32)`` (numpy ``uint32``, DuckDB
``UINTEGER``) standing for ``rk / 2^32`` in ``[0, 1)``. The cell key is ``(sum(rk) mod 2^32) / 2^32``: the ABS
"sum mod 1" on a grid of ``2^-32``, finer than any interval of a perturbation table. Integer sums are exact and
do not depend on the order of the rows, on how DuckDB splits an aggregate over threads, or on the query. Sums
of floating-point keys would: float addition is not associative, so the same persons summed in another order
can land on the other side of an interval bound and get other noise, which breaks the consistency above. DuckDB
sums the keys as ``HUGEINT`` (no overflow); numpy sums them as ``uint64``, which wraps mod ``2^64``, a multiple of
``2^32``, so the result mod ``2^32`` is exact either way. The double ``k / 2^32`` (``k < 2^32``) is exact too.
"""

from __future__ import annotations

import secrets

import numpy as np

from privacy.disclosure.errors import DisclosureError
from privacy.disclosure.ptable import PerturbationTable

KEY_BITS = 32
KEY_SPACE = 1 << KEY_BITS  # record keys are integers in [0, KEY_SPACE)
RECORD_KEY_SQL_TYPE = "UINTEGER"  # the DuckDB column type of a record key


def new_record_keys(n: int) -> np.ndarray:
    """``n`` new record keys: integers uniform in ``[0, 2^32)`` from the operating system's secure generator.

    Args:
        n: how many keys (one per new person).

    Returns:
        A ``uint32`` array of length ``n``.
    """
    if n < 0:
        raise DisclosureError(f"cannot draw {n} record keys")
    return np.frombuffer(secrets.token_bytes(4 * n), dtype="<u4").astype(np.uint32)


def cell_keys_sql(record_key_expr: str) -> str:
    """The DuckDB aggregate that computes a cell key in ``[0, 1)`` from its members' record keys.

    Use it in the select list of a ``GROUP BY`` over persons; the result is a ``DOUBLE`` equal to
    ``(sum(rk) mod 2^32) / 2^32``, exact and independent of the order of the rows.

    Args:
        record_key_expr: SQL for the record key column, e.g. a quoted identifier ``"record_key"`` (SQL written
            by the caller, never data).

    Returns:
        The expression, in parentheses.

    Examples:
        >>> cell_keys_sql('"rk"')
        '(CAST(sum(CAST("rk" AS UBIGINT)) % 4294967296 AS DOUBLE) / 4294967296)'
    """
    if not record_key_expr.strip():
        raise DisclosureError("cell_keys_sql needs the SQL of a record key column")
    return f"(CAST(sum(CAST({record_key_expr} AS UBIGINT)) % {KEY_SPACE} AS DOUBLE) / {KEY_SPACE})"


def cell_keys(record_keys: np.ndarray, cells: np.ndarray, n_cells: int) -> np.ndarray:
    """Cell keys computed in numpy, equal to :func:`cell_keys_sql` in DuckDB (for tables built in memory).

    Args:
        record_keys: each person's record key (integers in ``[0, 2^32)``).
        cells: for each person, the index of its cell in ``0..n_cells-1``.
        n_cells: the number of cells; a cell without persons gets key 0.

    Returns:
        float64 keys in ``[0, 1)``, one per cell.
    """
    keys = np.asarray(record_keys)
    if keys.dtype.kind not in "iu" or (keys.size and (keys.min() < 0 or keys.max() >= KEY_SPACE)):
        raise DisclosureError("record keys must be integers in [0, 2^32)")
    sums = np.zeros(n_cells, dtype=np.uint64)
    np.add.at(sums, np.asarray(cells, dtype=np.intp), keys.astype(np.uint64))
    return (sums % np.uint64(KEY_SPACE)).astype(np.float64) / KEY_SPACE


def perturb_counts(counts: np.ndarray, cell_keys: np.ndarray, table: PerturbationTable) -> np.ndarray:
    """The published counts: each count plus the noise the table gives its cell key.

    A zero stays zero, no result is negative, and none is in ``1..js`` (``table.block_small``).

    Args:
        counts: original counts (integers >= 0), any shape.
        cell_keys: the cells' keys in ``[0, 1)``, same shape.
        table: the perturbation table of the release.

    Returns:
        int64 perturbed counts, same shape.

    Raises:
        DisclosureError: bad counts or keys (see :meth:`PerturbationTable.perturbation`), or a table that would
            publish a negative or blocked count.
    """
    counts = np.asarray(counts)
    noise = table.perturbation(counts, cell_keys)  # checks the counts and keys first
    published = counts.astype(np.int64) + noise
    blocked = (published >= 1) & (published <= table.block_small)
    wrong = (published < 0) | blocked | ((counts == 0) & (published != 0))
    if wrong.any():  # cannot happen with a table from build_ptable; checked because a release relies on it
        raise DisclosureError(f"the perturbation table would publish {int(wrong.sum())} negative or blocked counts")
    return published
