"""Pseudonymization benchmark: every linkage pseudonym of about 1,000,000 generated records.

Times :func:`pipeline.ingest.load.pseudonymize` (HMAC tokens of names, name parts, sorted parts, phonetic codes,
birth-date parts and swap, SLK-581, document; keyed balanced Bloom filters; identifiers sealed per partition)
on checked records already in DuckDB. The baseline, run in the same process on the same rows, is what keyed
pseudonymization replaces: unkeyed SHA-256 of the full name, birth date and document number in DuckDB SQL.

    python bench/bench_pseudonymize.py [--persons 235000]
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

from pipeline.ingest.contract import SOURCES, load_contract
from pipeline.ingest.landing import discover_partitions
from pipeline.ingest.load import VAULT_PURPOSE, _read_all, pseudonymize, token_maps
from pipeline.ingest.validate import checked_rows_sql
from pipeline.synth import generate
from pipeline.warehouse.connection import connect, registered, transaction
from pipeline.warehouse.tables import RECORD_TABLES
from privacy.keys import Keyring
from privacy.sealing import Sealer
from privacy.tokens import Tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=235_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="migralink-bench-"))
    try:
        landing = work / "landing"
        generate(landing, persons=args.persons, start=dt.date(2023, 1, 1), end=dt.date(2024, 12, 31), seed=1)
        con = connect(work / "wh")
        contracts = load_contract()
        raw, _files = _read_all(
            discover_partitions(landing, dt.date(2024, 12, 31)).partitions, contracts, landing, None
        )
        for source in SOURCES:
            with registered(con, "raw_rows", raw[source]):
                sql = checked_rows_sql(contracts[source], "raw_rows", RECORD_TABLES[source])
                con.execute(f"CREATE TABLE checked_{source} AS SELECT * FROM ({sql}) WHERE _reason IS NULL")
        records = sum(con.execute(f"SELECT count(*) FROM checked_{s}").fetchall()[0][0] for s in SOURCES)
        del raw

        t0 = time.perf_counter()
        for source in SOURCES:
            con.execute(
                f"""CREATE TABLE baseline_{source} AS SELECT t_record_id,
                sha256(concat_ws('|', upper(t_family_name), upper(t_given_names))) AS name_hash,
                sha256(t_date_of_birth::VARCHAR) AS dob_hash, sha256(t_doc_number) AS doc_hash
                FROM checked_{source}"""
            )
        baseline = time.perf_counter() - t0

        ring = Keyring.generate()
        tokenizer, vault = Tokenizer(ring), Sealer(ring, VAULT_PURPOSE)
        t0 = time.perf_counter()
        # As a night's ingest does: one transaction (its commit timed too) and one run's token maps across sources.
        with transaction(con), token_maps(con, tokenizer) as maps:
            for source in SOURCES:
                pseudonymize(con, source, f"checked_{source}", tokenizer, vault, "bench", maps=maps)
        seconds = time.perf_counter() - t0
        stored = con.execute("SELECT count(*) FROM identity_tokens").fetchall()[0][0]
        con.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"records          : {records:,} ({stored:,} pseudonymized)")
        print(f"pseudonymize     : {seconds:6.1f} s  {records / seconds:>9,.0f} records/s  (target >= 60,000)")
        print(
            f"baseline (sha256): {baseline:6.1f} s  {records / baseline:>9,.0f} records/s  "
            "(unkeyed hashes of 3 fields, DuckDB SQL)"
        )
        print(f"ratio            : {seconds / baseline:.1f}x the baseline's wall time")
        print(f"peak memory      : {peak:,.0f} MB (whole process, data generation included)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
