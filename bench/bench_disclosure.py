"""Disclosure-control benchmark: cell keys, perturbation and random rounding of 1,000,000 cells.

Persons with random record keys are spread over ``--cells`` cells (Zipf-like sizes, so most cells are small, as
in a fine migration table). In DuckDB the cells are counted with and without the cell key aggregate
(:func:`privacy.disclosure.cellkey.cell_keys_sql`), the difference being what the cell key costs a GROUP BY.
The counts are then perturbed with the default table (D = 2, V = 1, js = 2) and, separately, randomly rounded to
base 3 with draws from the cell keys; the figures are cells per second, with the checks that hold the release
together (no published 1 or 2, zeros kept, mean noise, multiples of 3).

    python bench/bench_disclosure.py [--cells 1000000] [--persons 3000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privacy.disclosure.cellkey import cell_keys_sql, new_record_keys, perturb_counts
from privacy.disclosure.ptable import build_ptable
from privacy.disclosure.rounding import random_round, uniforms_from_cell_keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--persons", type=int, default=3_000_000)
    args = parser.parse_args()

    t0 = time.perf_counter()
    table = build_ptable(2, 1.0, 2)
    build = time.perf_counter() - t0

    rng = np.random.default_rng(1)
    weights = 1.0 / np.arange(1, args.cells + 1) ** 0.8
    cell = rng.choice(args.cells, size=args.persons, p=weights / weights.sum())
    con = duckdb.connect()
    con.register("persons", {"cell": cell, "rk": new_record_keys(args.persons)})
    key = cell_keys_sql('"rk"')
    t0 = time.perf_counter()
    con.execute("SELECT cell, count(*) AS n FROM persons GROUP BY cell").fetchnumpy()
    plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = con.execute(f"SELECT cell, count(*) AS n, {key} AS ck FROM persons GROUP BY cell").fetchnumpy()
    keyed = time.perf_counter() - t0
    counts = np.zeros(args.cells, dtype=np.int64)  # every cell of the table, the empty ones too (key 0)
    keys = np.zeros(args.cells)
    counts[found["cell"]] = found["n"]
    keys[found["cell"]] = found["ck"]

    t0 = time.perf_counter()
    published = perturb_counts(counts, keys, table)
    perturb = time.perf_counter() - t0
    t0 = time.perf_counter()
    draws = uniforms_from_cell_keys(keys, "bench cells")
    hashing = time.perf_counter() - t0
    t0 = time.perf_counter()
    rounded = random_round(counts, uniforms=draws)
    rounding = time.perf_counter() - t0

    n = args.cells
    noise = published - counts
    print(f"cells            : {n:,} ({np.count_nonzero(counts == 0):,} empty, {np.count_nonzero(counts <= 2):,} <= 2)")
    print(f"persons          : {args.persons:,}")
    print(f"ptable D2 V1 js2 : built in {build:.2f} s, sha256 {table.sha256()[:16]}")
    print(f"GROUP BY count   : {plain:6.2f} s  (baseline)")
    print(f"  + cell key     : {keyed:6.2f} s  ({keyed / plain:.1f}x the baseline)")
    print(f"perturb          : {perturb:6.3f} s  {n / perturb:>12,.0f} cells/s")
    print(f"rr3 draws sha256 : {hashing:6.3f} s  {n / hashing:>12,.0f} cells/s")
    print(f"rr3 rounding     : {rounding:6.3f} s  {n / rounding:>12,.0f} cells/s")
    print(
        f"checks           : published 1 or 2: {np.count_nonzero(np.isin(published, [1, 2]))}, "
        f"zeros moved: {np.count_nonzero(published[counts == 0])}, mean noise {noise.mean():+.4f}, "
        f"rr3 not a multiple of 3: {np.count_nonzero(rounded % 3)}"
    )


if __name__ == "__main__":
    main()
