"""Plaintext reference linkage: what the pseudonymized linkage is compared against.

A standard Splink 5 model on DuckDB that reads the identifiers in clear straight from the landing CSVs (no
ingest, no pseudonyms): names upper-cased, accents stripped, spaces collapsed; ``NameComparison`` (Jaro-Winkler
levels, term-frequency adjusted) on given and family names, ``DateOfBirthComparison``, ``ExactMatch`` on the
document number (with its issuing country), sex and nationality. Every record of every source goes into one
deduplication. Training: probability two random records match from deterministic rules, u by random
sampling, m by expectation maximisation in two blocked passes (at most :data:`EM_MAX_PAIRS` pairs each); then
prediction over the blocking rules and connected components at a match-probability threshold fixed in advance
(not tuned on the truth).

The prediction blocking rules are the plaintext counterparts of migralink's own (``linkage/settings.py``):
document; name set (the sorted distinct parts of both names) and birth year; date of birth and family name;
date of birth and given names; SLK-581; date of birth, sex (unknown pairs with unknown) and nationality: 5.2
million record pairs at 1,000,000 generated records. Blocking on a family name or a given name alone, as an
earlier version did, pairs every WANG with every other WANG: two billion record pairs there, whose scoring
filled the disk with DuckDB's spill after twelve minutes (``--count-blocking`` prints the pairs of each rule).

It also provides :func:`measured`, which times a block of code and reports the peak resident memory of the
process during it (the kernel's high-water mark is reset first), for the other linkage benchmarks.

    python bench/reference_plaintext.py --febrl4 [--no-document]
    python bench/reference_plaintext.py --synthetic --persons 4000
    python bench/reference_plaintext.py --landing DIR --truth DIR/truth.csv
    python bench/reference_plaintext.py --landing DIR --count-blocking
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.linkage_data import landing_from_args
from linkage.evaluate import PairwiseScores, cluster_summary, load_truth, pairwise_scores
from pipeline.ingest.contract import SOURCES

if TYPE_CHECKING:
    from splink import SettingsCreator
    from splink.internals.blocking_rule_creator import BlockingRuleCreator

DEFAULT_THRESHOLD = 0.9
U_MAX_PAIRS = 2e6  # record pairs sampled to estimate u
EM_MAX_PAIRS = 2e6  # upper bound of the blocked pairs of each EM pass (Splink samples them deterministically)
RECORDS = "plain_records"
CLUSTERS = "plain_clusters"
TRUTH = "truth"


# ----------------------------------------------------------------------------------------------- measuring


def _status_kib(field_name: str) -> int:
    text = Path("/proc/self/status").read_text(encoding="ascii")
    found = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else 0


@dataclass
class Meter:
    """Wall time and peak resident memory of a measured block (filled in when the block ends).

    Attributes:
        seconds: Wall-clock duration.
        peak_mib: Peak resident set size of the whole process during the block, in MiB.
        start_mib: Resident set size when the block began, in MiB (what the process held already).
        peak_is_since_start: False when the high-water mark could not be reset, so ``peak_mib`` is the
            process's peak since it started.
    """

    seconds: float = 0.0
    peak_mib: float = 0.0
    start_mib: float = 0.0
    peak_is_since_start: bool = True


@contextlib.contextmanager
def measured() -> Iterator[Meter]:
    """Measure the wall time and peak resident memory of the enclosed block.

    The process's resident-memory high-water mark (``VmHWM``) is reset through ``/proc/self/clear_refs`` so
    the peak covers only the block; native memory (DuckDB, NumPy) is included, unlike ``tracemalloc``.

    Examples:
        >>> with measured() as m:
        ...     _ = bytearray(10_000_000)
        >>> m.seconds >= 0 and m.peak_mib > 0
        True
    """
    meter = Meter()
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        meter.peak_is_since_start = False
    meter.start_mib = _status_kib("VmRSS") / 1024
    began = time.perf_counter()
    try:
        yield meter
    finally:
        meter.seconds = time.perf_counter() - began
        meter.peak_mib = _status_kib("VmHWM") / 1024


@dataclass
class RunFigures:
    """What one linkage run measured.

    Attributes:
        method: Which linkage produced the clusters.
        dataset: Which data it ran on.
        records: Records linked.
        seconds: Wall time of the run (reading the landing files included, scoring excluded).
        peak_mib: Peak resident memory of the process during the run, in MiB.
        scores: Pairwise scores of the clusters against the truth.
        stages: Wall time per stage, in seconds.
        details: Other figures (threshold, candidate pairs, cluster sizes ...).
    """

    method: str
    dataset: str
    records: int
    seconds: float
    peak_mib: float
    scores: PairwiseScores
    stages: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "method": self.method,
            "dataset": self.dataset,
            "records": self.records,
            "seconds": round(self.seconds, 3),
            "peak_mib": round(self.peak_mib, 1),
            "scores": self.scores.as_dict(),
            "stages": {k: round(v, 3) for k, v in self.stages.items()},
            "details": self.details,
        }

    def report(self) -> str:
        """A few aligned lines for a terminal."""
        s = self.scores
        lines = [
            f"{self.method} on {self.dataset}: {self.records:,} records",
            f"  wall time   {self.seconds:8.1f} s  (" + ", ".join(f"{k} {v:.1f}" for k, v in self.stages.items()) + ")",
            f"  peak memory {self.peak_mib:8,.0f} MiB (resident, whole process)",
            f"  pairwise    precision {s.precision:.4f}  recall {s.recall:.4f}  F1 {s.f1:.4f}",
            f"  pairs       TP {s.true_positives:,}  FP {s.false_positives:,}  FN {s.false_negatives:,}",
        ]
        lines += [f"  {k:<11} {v}" for k, v in self.details.items()]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ the model


def _clean_name(column: str) -> str:
    return f"nullif(regexp_replace(upper(strip_accents(trim({column}))), '\\s+', ' ', 'g'), '')"


def plaintext_records_sql(source: str) -> str:
    """SELECT of one source's landing CSVs (``$files`` bound to their paths) as standardized plaintext."""
    return f"""
SELECT
  $source || '-' || trim(record_id) AS unique_id,
  $source AS source,
  trim(record_id) AS record_id,
  {_clean_name("given_names")} AS given_names,
  {_clean_name("family_name")} AS family_name,
  strftime(try_strptime(nullif(trim(date_of_birth), ''), '%Y-%m-%d'), '%Y-%m-%d') AS date_of_birth,
  nullif(upper(regexp_replace(doc_number, '[^0-9A-Za-z]', '', 'g')), '')
    || '/' || coalesce(upper(trim(doc_issuing_country)), '') AS doc_number,
  nullif(upper(trim(sex)), '') AS sex,
  nullif(upper(trim(nationality)), '') AS nationality
FROM read_csv($files, header = true, all_varchar = true)
"""


def _files_by_header(files: list[Path]) -> list[list[str]]:
    """Group landing files by their header line, so each group is read in one pass by column position.

    (The contract lets column order vary between files; ``union_by_name`` would cope but sniffs every file,
    which is ten times slower over a thousand daily files.)
    """
    groups: dict[str, list[str]] = {}
    for path in files:
        with path.open(encoding="utf-8", newline="") as fh:
            groups.setdefault(fh.readline().strip(), []).append(str(path))
    return list(groups.values())


def load_plaintext(con: duckdb.DuckDBPyConnection, landing: Path, table: str = RECORDS) -> int:
    """Read every landing CSV of every source into ``table`` (standardized plaintext identifiers).

    Returns:
        The number of records read.
    """
    con.execute(
        f'CREATE OR REPLACE TABLE "{table}" (unique_id VARCHAR, source VARCHAR, record_id VARCHAR, '
        "given_names VARCHAR, family_name VARCHAR, date_of_birth VARCHAR, doc_number VARCHAR, sex VARCHAR, "
        "nationality VARCHAR)"
    )
    for source in SOURCES:
        for files in _files_by_header(sorted((landing / source).glob("*/*.csv"))):
            con.execute(
                f'INSERT INTO "{table}" BY NAME {plaintext_records_sql(source)}', {"source": source, "files": files}
            )
    return int(con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])


# All parts of both names, distinct and sorted: equal for swapped given and family names.
NAME_SET_SQL = (
    "nullif(array_to_string(list_sort(list_distinct(string_split(concat_ws(' ', given_names, family_name), ' '))), "
    "' '), '')"
)


def _letters_sql(column: str, positions: tuple[int, ...]) -> str:
    """Letters at 1-based ``positions`` of a name without spaces, ``2`` where the name is too short (SLK-581)."""
    text = f"coalesce(replace({column}, ' ', ''), '')"
    return " || ".join(f"coalesce(nullif(substr({text}, {p}, 1), ''), '2')" for p in positions)


# SLK-581 (as migralink's token): 2nd, 3rd, 5th letters of the family name, 2nd and 3rd of the given names,
# DDMMYYYY, sex 1/2/9; none without a date of birth or without any name.
SLK581_SQL = f"""CASE WHEN date_of_birth IS NOT NULL AND coalesce(given_names, family_name) IS NOT NULL THEN
  {_letters_sql("family_name", (2, 3, 5))} || {_letters_sql("given_names", (2, 3))}
  || substr(date_of_birth, 9, 2) || substr(date_of_birth, 6, 2) || substr(date_of_birth, 1, 4)
  || CASE sex WHEN 'M' THEN '1' WHEN 'F' THEN '2' ELSE '9' END END"""
BLOCKING_KEYS = {"name_set": NAME_SET_SQL, "birth_year": "substr(date_of_birth, 1, 4)", "slk581": SLK581_SQL}


def add_blocking_keys(con: duckdb.DuckDBPyConnection, table: str = RECORDS) -> None:
    """Add the derived blocking columns (:data:`BLOCKING_KEYS`) to ``table`` unless it has them.

    Computed once per record: as expressions inside the blocking rules they would be evaluated again for every
    candidate pair of every later rule (Splink excludes the pairs of earlier rules), which made prediction at
    1,000,000 records about twice as slow.
    """
    columns = [row[0] for row in con.execute(f'DESCRIBE "{table}"').fetchall()]
    if set(BLOCKING_KEYS) <= set(columns):
        return
    kept = ", ".join(f'"{c}"' for c in columns if c not in BLOCKING_KEYS)
    keys = ", ".join(f"{sql} AS {name}" for name, sql in BLOCKING_KEYS.items())
    con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT {kept}, {keys} FROM "{table}"')


PREDICTION_RULE_NAMES = (
    "document",
    "name set + birth year",
    "date of birth + family name",
    "date of birth + given names",
    "SLK-581",
    "date of birth + sex (or both unknown) + nationality",
)


def prediction_blocking_rules() -> list[BlockingRuleCreator | dict[str, Any]]:
    """Blocking rules of prediction: plaintext counterparts of migralink's (``linkage/settings.py``).

    Each rule pairs a name key with a date key (or takes the document), so no rule's largest block grows
    with the population the way a common family name alone does; the last rule catches people whose names
    differ in both parts. Unknown sex blocks with unknown sex there: data without sex (FEBRL4) would otherwise
    lose that rule, and with it the pairs whose names both differ (67 of FEBRL4's without the document).
    """
    from splink import block_on

    return [
        block_on("doc_number"),
        block_on("name_set", "birth_year"),
        block_on("date_of_birth", "family_name"),
        block_on("date_of_birth", "given_names"),
        block_on("slk581"),
        block_on("date_of_birth", "coalesce(sex, '')", "nationality"),
    ]


def plaintext_settings(names: str = "combined") -> SettingsCreator:
    """The reference model: standard comparisons on clear identifiers, one deduplication over all sources.

    Args:
        names: ``"combined"``: one ``ForenameSurnameComparison`` (Jaro-Winkler levels on both names, with a
            level for given and family names swapped), term-frequency adjusted; ``"separate"``: a
            ``NameComparison`` per name, each term-frequency adjusted (blind to swapped names).
    """
    import splink.comparison_library as cl
    from splink import SettingsCreator

    if names == "combined":
        name_comparisons = [
            cl.ForenameSurnameComparison("given_names", "family_name").configure(term_frequency_adjustments=True)
        ]
    elif names == "separate":
        name_comparisons = [
            cl.NameComparison("given_names").configure(term_frequency_adjustments=True),
            cl.NameComparison("family_name").configure(term_frequency_adjustments=True),
        ]
    else:
        raise ValueError(f"names must be 'combined' or 'separate', not {names!r}")
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            *name_comparisons,
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y-%m-%d"),
            cl.ExactMatch("doc_number"),
            cl.ExactMatch("sex"),
            cl.ExactMatch("nationality"),
        ],
        blocking_rules_to_generate_predictions=prediction_blocking_rules(),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


@dataclass
class PlaintextLinkage:
    """A trained and predicted reference model, kept so the predictions can be clustered again.

    Attributes:
        linker: The Splink linker.
        predictions: Scored candidate pairs (match probability 0.01 and above).
        details: Figures of the run: candidate pairs scored, pairs at or above the threshold.
    """

    linker: Any
    predictions: Any
    details: dict[str, Any]

    def cluster(self, con: duckdb.DuckDBPyConnection, threshold: float, table: str = CLUSTERS) -> str:
        """Cluster the predictions at ``threshold`` into ``table`` (source, record_id, cluster_id); returns it."""
        clusters = self.linker.clustering.cluster_pairwise_predictions_at_threshold(
            self.predictions, threshold_match_probability=threshold
        )
        con.execute(
            f"""CREATE OR REPLACE TABLE "{table}" AS
                SELECT r.source, r.record_id, c.cluster_id
                FROM {clusters.physical_name} c JOIN "{RECORDS}" r USING (unique_id)"""
        )
        clusters.drop_table_from_database_and_remove_from_cache()
        return table


def link_plaintext(
    con: duckdb.DuckDBPyConnection,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 1,
    stages: dict[str, float] | None = None,
) -> PlaintextLinkage:
    """Train, predict and cluster the records of ``plain_records`` with Splink into ``plain_clusters``.

    Args:
        con: Connection holding ``plain_records`` (see :func:`load_plaintext`); Splink works in it.
        threshold: Match probability at or above which pairs join a cluster.
        seed: Seed of the u sampling.
        stages: If given, receives the wall time of the training, prediction and clustering stages.

    Returns:
        The model and its predictions; ``plain_clusters`` holds the clusters at ``threshold``.
    """
    from splink import DuckDBAPI, Linker, block_on

    timings = stages if stages is not None else {}
    began = time.perf_counter()
    db = DuckDBAPI(connection=con)
    add_blocking_keys(con)
    linker = Linker(db.register(RECORDS, dataset_display_name="plaintext"), plaintext_settings(), log_level="WARNING")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("family_name", "given_names", "date_of_birth"), block_on("doc_number")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=seed)
    # Unsampled, these passes compare every pair sharing a birth date / a full name: 28 and 27 million at 1M
    # records (the first alone went past 7.5 GB resident).
    for rule in (block_on("date_of_birth"), block_on("family_name", "given_names")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=EM_MAX_PAIRS)
    timings["train"] = time.perf_counter() - began

    began = time.perf_counter()
    # A constant column (FEBRL4 has no sex and one nationality) leaves its parameters at Splink's defaults.
    predictions = linker.inference.predict(threshold_match_probability=min(threshold, 0.01), warning_mode="never")
    timings["predict"] = time.perf_counter() - began

    began = time.perf_counter()
    model = PlaintextLinkage(linker, predictions, {"threshold": threshold})
    model.cluster(con, threshold)
    timings["cluster"] = time.perf_counter() - began
    scored, linked = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE match_probability >= ?) FROM {predictions.physical_name}",
        [threshold],
    ).fetchall()[0]
    model.details.update(pairs_scored=int(scored), pairs_at_threshold=int(linked))
    return model


def count_blocking(con: duckdb.DuckDBPyConnection, rules: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Exact pairs each prediction blocking rule adds to the ones before it, over ``plain_records``.

    Args:
        con: Connection holding ``plain_records``.
        rules: Blocking rules to count (default: :func:`prediction_blocking_rules`).

    Returns:
        Per rule, in order: ``rule`` (its name, or its SQL for ``rules`` given), ``marginal`` and ``cumulative``
        pair counts.
    """
    from splink import DuckDBAPI
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    add_blocking_keys(con)
    counted = count_comparisons_from_blocking_rules(
        DuckDBAPI(connection=con).register(RECORDS),
        blocking_rules=list(rules if rules is not None else prediction_blocking_rules()),
        link_type="dedupe_only",
        record_sample_proportion=1.0,
    )
    names = PREDICTION_RULE_NAMES if rules is None else [c["blocking_rule"] for c in counted]
    return [
        {
            "rule": name,
            "marginal": int(c["marginal_comparison_count"]),
            "cumulative": int(c["cumulative_comparison_count"]),
        }
        for name, c in zip(names, counted, strict=True)
    ]


def run_reference(
    landing: Path,
    truth: Path,
    *,
    dataset: str = "",
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 1,
    sweep: Sequence[float] = (),
) -> RunFigures:
    """Run the plaintext reference on a landing zone and score it against ``truth``.

    Args:
        landing: Landing-zone root (``<source>/<YYYY-MM-DD>/*.csv``).
        truth: ``truth.csv`` of the landing zone.
        dataset: Name of the data for the report.
        threshold: Match probability for clustering.
        seed: Seed of the u sampling.
        sweep: Other thresholds to score afterwards (untimed; ``details["sweep"]`` maps each to its
            precision, recall and F1). Choosing the threshold this way uses the truth: report it as such.

    Returns:
        Wall time and peak memory of reading, training, predicting and clustering, and the pairwise scores.
    """
    logging.getLogger("splink").setLevel(logging.WARNING)
    con = duckdb.connect()
    stages: dict[str, float] = {}
    with measured() as meter:
        began = time.perf_counter()
        records = load_plaintext(con, landing)
        stages["read"] = time.perf_counter() - began
        model = link_plaintext(con, threshold=threshold, seed=seed, stages=stages)
    load_truth(con, truth, TRUTH)
    scores = pairwise_scores(con, CLUSTERS, TRUTH)
    summary = cluster_summary(con, CLUSTERS)
    details = dict(model.details)
    details.update(clusters=summary.clusters, largest_cluster=summary.largest, singletons=summary.singletons)
    if sweep:
        swept = {}
        for other in sweep:
            s = pairwise_scores(con, model.cluster(con, other, "plain_clusters_sweep"), TRUTH)
            swept[other] = f"P {s.precision:.4f} R {s.recall:.4f} F1 {s.f1:.4f}"
        details["sweep"] = swept
    con.close()
    return RunFigures(
        method="plaintext Splink 5 (DuckDB)",
        dataset=dataset or str(landing),
        records=records,
        seconds=meter.seconds,
        peak_mib=meter.peak_mib,
        scores=scores,
        stages=stages,
        details=details,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the reference on FEBRL4, on a generated landing zone or on a given one, and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--febrl4", action="store_true", help="FEBRL4 as visa + permit records")
    data.add_argument("--synthetic", action="store_true", help="a generated landing zone (see --persons)")
    data.add_argument("--landing", type=Path, help="an existing landing zone (with --truth)")
    parser.add_argument("--truth", type=Path, help="truth.csv of --landing (default: <landing>/truth.csv)")
    parser.add_argument("--no-document", action="store_true", help="FEBRL4 without soc_sec_id")
    parser.add_argument("--persons", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument(
        "--sweep", type=float, nargs="*", default=(), help="also score these thresholds (chosen with the truth)"
    )
    parser.add_argument(
        "--count-blocking", action="store_true", help="only print the pairs each prediction blocking rule adds"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="migralink-reference-") as tmp:
        landing, truth, name = landing_from_args(args, Path(tmp))
        if args.count_blocking:
            con = duckdb.connect()
            records = load_plaintext(con, landing)
            print(f"{name}: {records:,} records; record pairs per prediction blocking rule (dedupe, exact)")
            for row in count_blocking(con):
                print(f"  {row['rule']:<52} {row['marginal']:>12,} marginal {row['cumulative']:>12,} cumulative")
            con.close()
            return 0
        figures = run_reference(landing, truth, dataset=name, threshold=args.threshold, sweep=args.sweep)
    print(figures.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
