"""Statistics benchmark: compute_statistics on about 800,000 classified crossings of 235,000 persons.

The input tables (``crossing_classification``, ``person_stays``, ``residence_permits``, ``linkage_clusters``)
are synthesised directly in DuckDB SQL: travellers (host citizens, visitors, long-term migrants) cross
in 2023-2024 with realistic gaps, residence follows the length of each stay, crossings whose 16-month window
reaches past the cut-off are pending, migrants hold one to three permits, and some stays overstay their cover.
The first night is timed on an empty history, the second (one day later, a tenth of the pending crossings
resolved) with revisions against the first, then the second again (re-run: its vintage is replaced).

    python bench/bench_statistics.py [--persons 235000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb

from pipeline.statistics.tables import compute_statistics
from pipeline.synth.nationalities import CODES
from pipeline.warehouse.connection import connect, transaction

HOST = "UTO"
NIGHT1, CUTOFF1 = dt.date(2024, 12, 31), dt.date(2024, 12, 30)
NIGHT2, CUTOFF2 = dt.date(2025, 1, 1), dt.date(2024, 12, 31)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthesise(con: duckdb.DuckDBPyConnection, persons: int) -> None:
    """Fill the four input tables with random but realistic data for ``persons`` travellers."""
    foreign = [code for code in CODES if code != HOST]
    nationalities = "[" + ", ".join(f"'{code}'" for code in foreign) + "]"
    con.execute("SELECT setseed(0.42)")
    con.execute(
        f"""CREATE OR REPLACE TABLE bench_persons AS
        WITH drawn AS (SELECT range AS i, random() AS r_kind, random() AS r_nat, random() AS r_sex FROM range(?))
        SELECT i, 'P' || md5('person-' || i) AS person_key,
               CASE WHEN r_kind < 0.30 THEN 'citizen' WHEN r_kind < 0.66 THEN 'migrant' ELSE 'visitor' END AS kind,
               CASE WHEN r_kind < 0.30 THEN '{HOST}'
                    ELSE {nationalities}[1 + floor(pow(r_nat, 2) * {len(foreign)})::INTEGER] END AS nationality,
               CASE WHEN r_sex < 0.49 THEN 'M' WHEN r_sex < 0.98 THEN 'F' WHEN r_sex < 0.99 THEN 'X' END AS sex,
               (1940 + floor(random() * 82))::INTEGER AS birth_year,
               1 + least(11, floor(-ln(1 - random()) * 4.4))::INTEGER AS crossings,
               DATE '2023-01-01' + floor(random() * 600)::INTEGER AS first_day
        FROM drawn""",
        [persons],
    )
    # Gaps: visitors stay days to weeks, migrants often a year or more, citizens travel for a few weeks.
    con.execute(
        """CREATE OR REPLACE TABLE bench_crossings AS
        WITH steps AS (
            SELECT p.*, unnest(range(p.crossings)) AS seq FROM bench_persons p),
        gaps AS (
            SELECT *, CASE WHEN seq = 0 THEN 0
                           WHEN kind = 'migrant' AND seq % 2 = 1 THEN floor(150 + random() * 450)
                           WHEN kind = 'visitor' THEN floor(3 + random() * 40)
                           ELSE floor(5 + random() * 90) END::INTEGER AS gap
            FROM steps)
        SELECT *, first_day + (sum(gap) OVER (PARTITION BY i ORDER BY seq))::INTEGER AS crossing_date FROM gaps"""
    )
    con.execute(
        """CREATE OR REPLACE TABLE crossing_classification AS
        WITH ordered AS (
            SELECT c.*,
                   CASE WHEN random() < 0.02 THEN (CASE WHEN kind = 'citizen' THEN 'ARR' ELSE 'DEP' END)
                        WHEN (seq % 2 = 0) = (kind <> 'citizen') THEN 'ARR' ELSE 'DEP' END AS direction,
                   lead(crossing_date) OVER (PARTITION BY i ORDER BY seq) AS next_date
            FROM bench_crossings c WHERE crossing_date <= $cutoff),
        judged AS (
            SELECT *, coalesce(next_date, $cutoff::DATE) - crossing_date AS days,
                   next_date IS NULL AND $cutoff::DATE - crossing_date < 487 AND kind <> 'visitor' AS pending
            FROM ordered),
        after AS (
            SELECT *, CASE WHEN direction = 'ARR' AND (days >= 365 OR (pending AND days >= 122)) THEN 'RESIDENT'
                           WHEN direction = 'DEP' AND (days >= 365 OR (pending AND days >= 122)) THEN 'NON_RESIDENT'
                           WHEN kind = 'citizen' THEN 'RESIDENT' ELSE 'NON_RESIDENT' END AS residence_after
            FROM judged),
        before AS (
            SELECT *, lag(residence_after, 1, CASE WHEN kind = 'citizen' THEN 'RESIDENT' ELSE 'NON_RESIDENT' END)
                          OVER (PARTITION BY i ORDER BY seq) AS residence_before,
                      lag(direction) OVER (PARTITION BY i ORDER BY seq) AS previous_direction
            FROM after)
        SELECT 'B' || i || '-' || seq AS record_id, person_key, direction, crossing_date, seq::INTEGER AS seq,
               residence_before, residence_after,
               CASE WHEN NOT pending THEN residence_before <> residence_after END AS long_term_migration,
               CASE WHEN pending THEN 'pending' ELSE 'final' END AS status,
               crossing_date + (CASE WHEN pending THEN 487 ELSE least(days, 487) END)::INTEGER AS resolved_date,
               CASE WHEN direction = previous_direction THEN 'repeated_direction' END AS anomaly,
               nationality, sex, birth_year,
               CASE WHEN kind = 'migrant' AND random() < 0.8 THEN nationality END AS country_of_birth,
               CASE WHEN kind = 'citizen' THEN NULL WHEN kind = 'visitor' THEN 'VISITOR'
                    ELSE ['WORK', 'STUDENT', 'FAMILY', 'TEMPORARY', 'PERMANENT'][1 + (i % 5)] END
                 AS authorization_category,
               $night::DATE AS computed_on
        FROM before""",
        {"cutoff": CUTOFF1, "night": NIGHT1},
    )
    con.execute("DELETE FROM residence_permits")
    con.execute(
        """INSERT INTO residence_permits (record_id, permit_type, reason, issue_date, valid_from, valid_until,
            country_of_birth, region, birth_year, sex, nationality, doc_issuing_country, partition_date, run_id)
        WITH permits AS (
            SELECT p.*, unnest(range(1 + floor(random() * 4.6)::INTEGER)) AS n FROM bench_persons p
            WHERE kind = 'migrant'),
        dated AS (
            SELECT *, first_day - 30 + n::INTEGER * 250 + floor(random() * 60)::INTEGER AS issue_date,
                   random() AS r_type, random() AS r_reason, random() AS r_length FROM permits)
        SELECT 'R' || i || '-' || n, CASE WHEN r_type < 0.7 THEN 'TEMPORARY' WHEN r_type < 0.9 THEN 'PERMANENT'
                                          ELSE 'PROTECTION' END,
               CASE WHEN r_reason < 0.3 THEN 'family' WHEN r_reason < 0.5 THEN 'education'
                    WHEN r_reason < 0.85 THEN 'remunerated activities' WHEN r_reason < 0.97 THEN 'other' END,
               issue_date, issue_date,
               CASE WHEN r_type >= 0.7 AND r_type < 0.9 THEN NULL
                    ELSE issue_date + [60, 120, 180, 365, 730, 1095][1 + floor(r_length * 6)::INTEGER] END,
               nationality, 'NORTH', birth_year, sex, nationality, nationality, issue_date, 'bench'
        FROM dated WHERE issue_date <= $cutoff""",
        {"cutoff": CUTOFF1},
    )
    con.execute(
        """CREATE OR REPLACE TABLE linkage_clusters AS
        SELECT 'border' AS source, record_id, hash(person_key) AS cluster_id, person_key FROM crossing_classification
        UNION ALL
        SELECT 'permit', record_id, hash('P' || md5('person-' || split_part(substr(record_id, 2), '-', 1))),
               'P' || md5('person-' || split_part(substr(record_id, 2), '-', 1))
        FROM residence_permits"""
    )
    con.execute(
        """CREATE OR REPLACE TABLE person_stays AS
        WITH stays AS (
            SELECT c.person_key, 'S' || c.record_id AS stay_id, c.record_id AS arrival_record_id,
                   c.crossing_date AS arrival_date, c.nationality,
                   lead(c.record_id) OVER w AS next_record, lead(c.crossing_date) OVER w AS next_date,
                   lead(c.direction) OVER w AS next_direction, c.direction
            FROM crossing_classification c WHERE c.nationality <> $host
            WINDOW w AS (PARTITION BY c.person_key ORDER BY c.seq)),
        covered AS (
            SELECT *, CASE WHEN next_direction = 'DEP' THEN next_date END AS departure_date,
                   coalesce(next_date, $cutoff::DATE) AS end_date, random() AS r_cover, random() AS r_visa
            FROM (SELECT * FROM stays WHERE direction = 'ARR') USING SAMPLE 100000 ROWS),
        judged AS (
            SELECT *, r_visa < 0.7 AS visa_required,
                   CASE WHEN r_cover < 0.03 THEN NULL
                        WHEN r_cover < 0.10 THEN arrival_date + floor((end_date - arrival_date) * r_cover * 5)::INTEGER
                        ELSE end_date + 30 END AS covered_until
            FROM covered)
        SELECT person_key, stay_id, arrival_record_id,
               CASE WHEN departure_date IS NOT NULL THEN next_record END AS departure_record_id,
               arrival_date, departure_date, end_date, nationality, visa_required, covered_until,
               visa_required AND covered_until IS NULL AS entry_without_visa,
               CASE WHEN covered_until IS NULL THEN end_date - arrival_date + 1
                    ELSE greatest(0, end_date - covered_until) END::INTEGER AS overstay_days,
               CASE WHEN covered_until IS NULL THEN arrival_date
                    WHEN end_date > covered_until THEN covered_until + 1 END AS overstay_start
        FROM judged""",
        {"cutoff": CUTOFF1, "host": HOST},
    )
    for scratch in ("bench_persons", "bench_crossings"):
        con.execute(f"DROP TABLE {scratch}")


def next_night(con: duckdb.DuckDBPyConnection) -> None:
    """The next night: a tenth of the pending crossings resolve (a third of them against their provisional
    outcome), open stays end on the new cut-off."""
    con.execute(
        """UPDATE crossing_classification SET status = 'final', computed_on = $night,
               residence_after = CASE WHEN hash(record_id) % 3 = 0 THEN residence_before ELSE residence_after END,
               long_term_migration = hash(record_id) % 3 <> 0 AND residence_before <> residence_after
        WHERE status = 'pending' AND hash(record_id) % 10 = 0""",
        {"night": NIGHT2},
    )
    con.execute(
        """UPDATE person_stays SET end_date = $cutoff::DATE,
               overstay_days = overstay_days + CASE WHEN overstay_days > 0 THEN 1 ELSE 0 END
        WHERE departure_date IS NULL AND end_date = $cutoff::DATE - 1""",
        {"cutoff": CUTOFF2},
    )


def timed(con: duckdb.DuckDBPyConnection, night: dt.date, cutoff: dt.date, crossings: int) -> None:
    began = time.perf_counter()
    with transaction(con):
        summary = compute_statistics(con, night=night, cutoff=cutoff, host=HOST)
    seconds = time.perf_counter() - began
    print(
        f"night {night}: compute_statistics {seconds:.2f} s ({crossings / seconds:,.0f} crossing rows/s); "
        f"rows: flows {summary.flow_rows:,}, first permits {summary.first_permit_rows:,}, "
        f"stock {summary.stock_rows:,}, overstays {summary.overstay_rows:,}; revisions {summary.revisions:,}; "
        f"provisional periods: flows {summary.provisional_flow_periods}, stock {summary.provisional_stock_periods}; "
        f"peak memory so far {peak_mib():,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--persons", type=int, default=235_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="migralink-bench-stats-"))
    try:
        con = connect(root / "wh")
        began = time.perf_counter()
        synthesise(con, args.persons)
        counts = con.execute(
            """SELECT (SELECT count(*) FROM crossing_classification),
                      (SELECT count(DISTINCT person_key) FROM crossing_classification),
                      (SELECT count(*) FILTER (WHERE status = 'pending') FROM crossing_classification),
                      (SELECT count(*) FROM residence_permits), (SELECT count(*) FROM person_stays),
                      (SELECT count(*) FILTER (WHERE overstay_days > 0) FROM person_stays)"""
        ).fetchall()[0]
        print(
            f"synthesised in {time.perf_counter() - began:.1f} s: {counts[0]:,} crossings of {counts[1]:,} persons "
            f"({counts[2]:,} pending), {counts[3]:,} permits, {counts[4]:,} stays ({counts[5]:,} overstays); "
            f"peak memory {peak_mib():,.0f} MiB"
        )
        timed(con, NIGHT1, CUTOFF1, counts[0])
        next_night(con)
        timed(con, NIGHT2, CUTOFF2, counts[0])
        began = time.perf_counter()
        timed(con, NIGHT2, CUTOFF2, counts[0])
        print(f"re-run of the same night (replaces its vintage): {time.perf_counter() - began:.2f} s")
        print(f"peak memory {peak_mib():,.0f} MiB (whole process, synthesis included)")
        con.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
