"""Foundation benchmark: the synthetic generator and ingest at about 1,000,000 records.

Each phase runs in its own process so its peak memory (max RSS) is its own. Ingest is compared with a
baseline measured in the same run: DuckDB's own bulk CSV load of the same files into a table, with no
contract checks and no pseudonymization.

    python bench/bench_foundation.py [--persons 235000] [--start 2023-01-01] [--end 2024-12-31]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_generate(out: Path, persons: int, start: dt.date, end: dt.date) -> dict[str, Any]:
    from pipeline.synth import generate

    t0 = time.perf_counter()
    summary = generate(out, persons=persons, start=start, end=end, seed=1)
    return {"seconds": time.perf_counter() - t0, "records": sum(summary.records.values()), "peak_mb": _peak_mb()}


def phase_ingest(landing: Path, warehouse: Path, end: dt.date) -> dict[str, Any]:
    from pipeline.ingest.load import ingest
    from pipeline.warehouse.connection import connect
    from privacy.keys import Keyring

    con = connect(warehouse)
    t0 = time.perf_counter()
    summary = ingest(con, landing=landing, run_date=end, ring=Keyring.generate())
    seconds = time.perf_counter() - t0
    con.close()
    return {
        "seconds": seconds,
        "records": summary.rows_read,
        "accepted": summary.rows_accepted,
        "quarantined": summary.rows_quarantined,
        "partitions": len(summary.partitions),
        "peak_mb": _peak_mb(),
    }


def phase_baseline(landing: Path, warehouse: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(warehouse / "baseline.duckdb"))
    con.execute("SET enable_progress_bar = false")
    t0 = time.perf_counter()
    records = 0
    for source in ("border", "visa", "permit"):
        con.execute(
            f"CREATE TABLE {source} AS SELECT * FROM read_csv(?, all_varchar = true)",
            [str(landing / source / "*" / "*.csv")],
        )
        records += con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    seconds = time.perf_counter() - t0
    con.close()
    return {"seconds": seconds, "records": records, "peak_mb": _peak_mb()}


def _run(fn: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=235_000)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2023, 1, 1))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2024, 12, 31))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="migralink-bench-"))
    try:
        landing = work / "landing"
        gen = _run(phase_generate, landing, args.persons, args.start, args.end)
        print(
            f"generator : {gen['records']:>9,} records  {gen['seconds']:6.1f} s  "
            f"{gen['records'] / gen['seconds']:>9,.0f} records/s  peak {gen['peak_mb']:,.0f} MB"
        )
        (work / "wh").mkdir()
        base = _run(phase_baseline, landing, work / "wh")
        print(
            f"baseline  : {base['records']:>9,} records  {base['seconds']:6.1f} s  "
            f"{base['records'] / base['seconds']:>9,.0f} records/s  peak {base['peak_mb']:,.0f} MB  "
            "(DuckDB read_csv of the same files: no checks, no pseudonyms)"
        )
        ing = _run(phase_ingest, landing, work / "wh", args.end)
        print(
            f"ingest    : {ing['records']:>9,} records  {ing['seconds']:6.1f} s  "
            f"{ing['records'] / ing['seconds']:>9,.0f} records/s  peak {ing['peak_mb']:,.0f} MB  "
            f"({ing['partitions']:,} partitions, {ing['quarantined']:,} quarantined)"
        )
        print(f"ingest / baseline wall time: {ing['seconds'] / base['seconds']:.2f}x")
        if ing["records"] != base["records"]:
            print(f"warning: ingest read {ing['records']:,} rows, the baseline {base['records']:,}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
