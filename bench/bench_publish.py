"""Publishing benchmark: every default purpose's tables of a 1M-record warehouse, protected and written.

The statistics inputs of about 800,000 classified crossings of 235,000 persons are synthesised as
:mod:`bench.bench_statistics` does (with a record key drawn for every person), one vintage is computed, and then
:func:`pipeline.publish.release.publish` releases every purpose of the default register: the public one by the
cell key method, the internal one by threshold and secondary suppression (each table audited by the intruder's
LP before anything is written), as SDMX-CSV files with manifests and the ledger. The baseline, run in the same
process on the same cells, writes the unprotected cells of the same tables as CSV without any protection.

Target: every default table published in under 30 seconds, suppression included.

    python bench/bench_publish.py [--persons 235000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_statistics import CUTOFF1, HOST, NIGHT1, synthesise
from linkage.person_keys import draw_record_keys
from pipeline.publish.cells import CellRequest, read_cells
from pipeline.publish.release import publish
from pipeline.statistics.tables import compute_statistics
from pipeline.warehouse.connection import connect, transaction
from privacy.register import load_register

TARGET_SECONDS = 30.0


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--persons", type=int, default=235_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="migralink-bench-publish-"))
    try:
        con = connect(root / "wh")
        began = time.perf_counter()
        synthesise(con, args.persons)
        with transaction(con):
            con.execute(
                "INSERT INTO person_keys "
                "SELECT DISTINCT 'border', person_key, person_key, ? FROM crossing_classification",
                [NIGHT1],
            )
            draw_record_keys(con, NIGHT1)
            compute_statistics(con, night=NIGHT1, cutoff=CUTOFF1, host=HOST)
        crossings = con.execute("SELECT count(*) FROM crossing_classification").fetchall()[0][0]
        print(f"warehouse: {crossings:,} crossings, statistics computed in {time.perf_counter() - began:.1f} s")
        register = load_register()
        groups = {name: group.members for name, group in register.citizenship_groups.items()}

        began = time.perf_counter()
        baseline_cells = 0
        for purpose in register.purposes:
            for grant in purpose.tables:
                request = CellRequest(grant.table, tuple(grant.measures), grant.finest_period, dict(grant.dimensions))
                cells = read_cells(con, NIGHT1, request, groups)
                cells.to_csv(root / f"baseline-{purpose.id}-{grant.table}.csv", index=False)
                baseline_cells += len(cells)
        baseline = time.perf_counter() - began
        print(f"baseline (unprotected cells to CSV): {baseline_cells:,} cells in {baseline:.2f} s")

        began = time.perf_counter()
        summary = publish(con, register, NIGHT1, root / "wh", reason="benchmark")
        seconds = time.perf_counter() - began
        cells = sum(t.cells for r in summary.released for t in r.tables)
        for release in summary.released:
            for table in release.tables:
                print(
                    f"  {release.purpose:28} {table.table:22} {table.cells:7,} cells, {table.suppressed:6,} withheld, "
                    f"{table.perturbed:6,} changed, mean absolute deviation {table.mean_abs_deviation:.3f}"
                )
        verdict = "meets" if seconds < TARGET_SECONDS else "MISSES"
        print(
            f"publish every default table: {seconds:.2f} s for {cells:,} cells ({cells / seconds:,.0f} cells/s), "
            f"{seconds / baseline:.1f}x the unprotected baseline; {verdict} the target of {TARGET_SECONDS:.0f} s; "
            f"peak memory {peak_mib():,.0f} MiB (whole process)"
        )
        con.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
