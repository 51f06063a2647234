"""Histories benchmark: classify every crossing of about 1,000,000 linked records, then one night's increment.

Generates 235,000 persons over 2023-2024 (about 990,000 records, 800,000 of them border crossings), ingests and
links everything up to 2024-12-29, then times, in this process:

* the full history build (12/16-month rule for every person, stays, overstays) and the statistics tables;
* the last two nights exactly as ``migralink run`` does them (ingest, incremental linkage, histories of the
  persons touched tonight, statistics), and a full recompute of the same warehouse for the ratio; the
  incremental and the full tables are compared.

    python bench/bench_histories.py [--persons 235000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb

from pipeline.histories.build import build_histories
from pipeline.nightly.settings import Settings
from pipeline.nightly.steps import history_policy, ingest_step, link_step
from pipeline.statistics.tables import compute_statistics
from pipeline.synth import generate
from pipeline.synth.nationalities import visa_exempt_codes
from pipeline.warehouse.connection import connect, transaction
from privacy.keys import write_new_key_file

HISTORY_END = dt.date(2024, 12, 29)
NIGHT = dt.date(2024, 12, 31)
COMPARED = {
    "crossing_classification": "SELECT * EXCLUDE (computed_on) FROM crossing_classification ORDER BY record_id",
    "person_stays": "SELECT stay_id, * EXCLUDE (stay_id) FROM person_stays ORDER BY stay_id",
}


def differences(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, int]:
    """Rows of ``incremental_<name>`` and the freshly recomputed table that differ, per column (key: first column)."""
    columns = [r[0] for r in con.execute(f"DESCRIBE incremental_{name}").fetchall()]
    key = columns[0]
    out = {}
    for column in columns[1:]:
        (n,) = con.execute(
            f"""SELECT count(*) FROM incremental_{name} i FULL JOIN ({COMPARED[name]}) f USING ({key})
            WHERE i.{column} IS DISTINCT FROM f.{column}"""
        ).fetchall()[0]
        if n:
            out[column] = int(n)
    return out


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_histories(settings: Settings, night: dt.date, *, full: bool) -> tuple[float, float, object]:
    """Histories and statistics for ``night`` in one transaction; returns their wall times and the summary."""
    assert settings.warehouse is not None
    con = connect(settings.warehouse)
    try:
        with transaction(con):
            t0 = time.perf_counter()
            summary = build_histories(con, night=night, policy=history_policy(settings), full=full)
            t1 = time.perf_counter()
            compute_statistics(con, night=night, cutoff=night, host=settings.host_country)
            t2 = time.perf_counter()
    finally:
        con.close()
    return t1 - t0, t2 - t1, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=235_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the data in this directory")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    root = args.keep or Path(tempfile.mkdtemp(prefix="migralink-bench-"))
    try:
        generate(root / "landing", persons=args.persons, start=dt.date(2023, 1, 1), end=NIGHT, seed=1)
        write_new_key_file(root / "k.key")
        settings = Settings(
            landing=root / "landing", warehouse=root / "wh", key_file=root / "k.key", visa_exempt=visa_exempt_codes()
        )
        ingest_step(settings, HISTORY_END)
        link_step(settings, HISTORY_END)
        rule, stats, summary = timed_histories(settings, HISTORY_END, full=True)
        print(
            f"full history build: {summary.crossings:,} crossings of {summary.persons:,} persons classified, stays "
            f"and overstays built in {rule:.1f} s ({summary.crossings / rule:,.0f} crossings/s; target < 60 s); "
            f"statistics {stats:.1f} s"
        )
        print(
            f"  {summary.pending:,} pending, {summary.anomalies:,} sequence anomalies, {summary.stays:,} stays, "
            f"{summary.overstays:,} overstays, {summary.entries_without_visa:,} entries without a required visa"
        )
        for night in (HISTORY_END + dt.timedelta(days=1), NIGHT):
            t0 = time.perf_counter()
            ingested = ingest_step(settings, night)
            linked = link_step(settings, night)
            rule, stats, summary = timed_histories(settings, night, full=False)
            print(
                f"night {night}: {ingested.rows_accepted:,} new records, {linked.mode} linkage; histories of "
                f"{summary.persons:,} touched persons {rule:.1f} s ({summary.became_final:,} became final, "
                f"{summary.revised:,} revised), statistics {stats:.1f} s; night total {time.perf_counter() - t0:.1f} s"
            )
        assert settings.warehouse is not None
        con = connect(settings.warehouse)
        for name in COMPARED:
            con.execute(f"CREATE OR REPLACE TABLE incremental_{name} AS {COMPARED[name]}")
        con.close()
        rule, _, summary = timed_histories(settings, NIGHT, full=True)
        con = connect(settings.warehouse)
        differing = {name: differences(con, name) for name in COMPARED}
        con.close()
        same = not any(differing.values())
        print(f"full recompute of the same night: {rule:.1f} s; incremental tables identical to full: {same}")
        for name, columns in differing.items():
            if columns:
                print(f"  {name}: rows differing per column {columns}")
        print(f"peak memory {peak_mib():,.0f} MiB (whole process, generation and linkage included)")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
