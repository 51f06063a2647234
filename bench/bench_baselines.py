"""Classic baseline: the recordlinkage toolkit's standard pipeline on the plaintext landing records.

The baseline the migralink linkage has to beat (ten times faster, F1 no lower). Same input as the plaintext
reference (:mod:`bench.reference_plaintext`): every landing CSV of every source, identifiers in clear and
standardized the same way, one deduplication. The pipeline is the textbook one:

1. indexing: blocking on given names OR family name OR date of birth (the union of three ``Block`` indexes);
2. comparison (``recordlinkage.Compare``): Jaro-Winkler >= 0.85 on given and family names, exact date of
   birth and document number (binary features, missing values compare as 0); ``--all-features`` adds exact
   sex and nationality;
3. classification: the unsupervised ECM classifier (Fellegi-Sunter by expectation maximisation).
   Sex and nationality are left out by default because ECM assumes features independent within matches and
   non-matches, and inside name blocks they are not: on 100,000 generated records the six-feature ECM
   converged to "agree on sex and nationality" (8.2 million links, precision 0.04), the four-feature one
   to precision 1.000, recall 0.890 on the links;
4. the links are closed transitively (connected components) into clusters, scored with
   :func:`linkage.evaluate.pairwise_scores` like every other linkage; the links themselves are also scored.

Wall time and peak memory cover reading the CSVs through clustering; scoring is not timed.

    python bench/bench_baselines.py --febrl4 [--no-document]
    python bench/bench_baselines.py --synthetic --persons 23700      # about 100,000 records
    python bench/bench_baselines.py --landing DIR [--truth FILE]

Importable: :func:`run_recordlinkage` returns the figures, for the linkage benchmark to print beside its own.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.linkage_data import landing_from_args
from bench.reference_plaintext import RECORDS, RunFigures, load_plaintext, measured
from linkage.evaluate import cluster_summary, load_truth, pairwise_scores

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

BLOCKING_KEYS = ("given_names", "family_name", "date_of_birth")
STRING_THRESHOLD = 0.85
EXACT_FEATURES = ("date_of_birth", "doc_number")
EXTRA_FEATURES = ("sex", "nationality")
CLUSTERS = "rl_clusters"
LINKS = "rl_links"
TRUTH = "truth"


def candidate_pairs(records: pd.DataFrame) -> pd.MultiIndex:
    """Pairs of records that agree on at least one blocking key (records with a missing key skip that block)."""
    import recordlinkage as rl

    indexer = rl.Index()
    for key in BLOCKING_KEYS:
        indexer.block(key)
    return indexer.index(records)


def compare_pairs(records: pd.DataFrame, pairs: pd.MultiIndex, *, all_features: bool = False) -> pd.DataFrame:
    """Binary comparison vectors of ``pairs`` (one column per feature; see the module docstring)."""
    import recordlinkage as rl

    compare = rl.Compare()
    for name in ("given_names", "family_name"):
        compare.string(name, name, method="jarowinkler", threshold=STRING_THRESHOLD, label=name)
    for name in EXACT_FEATURES + (EXTRA_FEATURES if all_features else ()):
        compare.exact(name, name, label=name)
    return compare.compute(pairs, records)


def classify(features: pd.DataFrame) -> pd.MultiIndex:
    """Links chosen by the ECM classifier (unsupervised; the features are already binary)."""
    import recordlinkage as rl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and deprecation chatter from the classifier
        return rl.ECMClassifier(binarize=None).fit_predict(features)


def connected_clusters(n_records: int, links: pd.MultiIndex) -> np.ndarray:
    """A cluster number per record position: the connected components of the link graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    left = np.asarray(links.get_level_values(0), dtype=np.int64)
    right = np.asarray(links.get_level_values(1), dtype=np.int64)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n_records, n_records))
    _, labels = connected_components(graph, directed=False)
    return labels


def link_pairs_sql(links: str, truth: str) -> str:
    """Counts of the links themselves (before transitive closure): links, true links, true pairs."""
    return f"""
SELECT
  (SELECT count(*) FROM {links}),
  (SELECT count(*) FROM {links} l
     JOIN {truth} a ON a.source = l.source_l AND a.record_id = l.record_id_l
     JOIN {truth} b ON b.source = l.source_r AND b.record_id = l.record_id_r
   WHERE a.person_id = b.person_id),
  (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM (SELECT count(*)::HUGEINT AS n FROM {truth} GROUP BY person_id))
"""


def run_recordlinkage(landing: Path, truth: Path, *, dataset: str = "", all_features: bool = False) -> RunFigures:
    """Run the classic recordlinkage pipeline on a landing zone and score it against ``truth``.

    Args:
        landing: Landing-zone root (``<source>/<YYYY-MM-DD>/*.csv``).
        truth: ``truth.csv`` of the landing zone.
        dataset: Name of the data for the report.
        all_features: Also compare sex and nationality (see the module docstring).

    Returns:
        Wall time and peak memory from reading the CSVs to the clusters, the pairwise scores of the clusters, and
        in ``details`` the candidate pairs, the links and the precision, recall and F1 of the links alone.
    """
    con = duckdb.connect()
    stages: dict[str, float] = {}
    with measured() as meter:
        began = time.perf_counter()
        n_records = load_plaintext(con, landing)
        records = con.execute(f'SELECT * FROM "{RECORDS}" ORDER BY unique_id').df()
        records.index = np.arange(len(records))  # integer positions keep the pair index compact
        stages["read"] = time.perf_counter() - began

        began = time.perf_counter()
        pairs = candidate_pairs(records)
        stages["index"] = time.perf_counter() - began
        began = time.perf_counter()
        features = compare_pairs(records, pairs, all_features=all_features)
        stages["compare"] = time.perf_counter() - began
        began = time.perf_counter()
        links = classify(features)
        stages["classify"] = time.perf_counter() - began
        n_pairs, n_links = len(pairs), len(links)
        del pairs, features

        began = time.perf_counter()
        labels = connected_clusters(n_records, links)
        clusters = records[["source", "record_id"]].assign(cluster_id=labels)
        con.register("rl_clusters_frame", clusters)
        con.execute(f"CREATE OR REPLACE TABLE {CLUSTERS} AS SELECT * FROM rl_clusters_frame")
        con.unregister("rl_clusters_frame")
        stages["cluster"] = time.perf_counter() - began

    left = records.iloc[links.get_level_values(0)][["source", "record_id"]].reset_index(drop=True)
    right = records.iloc[links.get_level_values(1)][["source", "record_id"]].reset_index(drop=True)
    link_frame = left.add_suffix("_l").join(right.add_suffix("_r"))
    con.register("rl_links_frame", link_frame)
    con.execute(f"CREATE OR REPLACE TABLE {LINKS} AS SELECT * FROM rl_links_frame")
    con.unregister("rl_links_frame")
    load_truth(con, truth, TRUTH)
    scores = pairwise_scores(con, CLUSTERS, TRUTH)
    predicted, true_links, true_pairs = con.execute(link_pairs_sql(LINKS, TRUTH)).fetchall()[0]
    precision = true_links / predicted if predicted else 1.0
    recall = true_links / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    summary = cluster_summary(con, CLUSTERS)
    con.close()
    return RunFigures(
        method="recordlinkage 0.16 (block given OR family OR dob, Compare, ECM"
        + (", all features)" if all_features else ")"),
        dataset=dataset or str(landing),
        records=n_records,
        seconds=meter.seconds,
        peak_mib=meter.peak_mib,
        scores=scores,
        stages=stages,
        details={
            "candidate_pairs": n_pairs,
            "links": n_links,
            "links_only": f"precision {precision:.4f}  recall {recall:.4f}  F1 {f1:.4f} (before closure)",
            "clusters": summary.clusters,
            "largest_cluster": summary.largest,
        },
    )


def main(argv: list[str] | None = None) -> int:
    """Run the baseline on FEBRL4, on a generated landing zone or on a given one, and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--febrl4", action="store_true", help="FEBRL4 as visa + permit records")
    data.add_argument("--synthetic", action="store_true", help="a generated landing zone (see --persons)")
    data.add_argument("--landing", type=Path, help="an existing landing zone (with --truth)")
    parser.add_argument("--truth", type=Path, help="truth.csv of --landing (default: <landing>/truth.csv)")
    parser.add_argument("--no-document", action="store_true", help="FEBRL4 without soc_sec_id")
    parser.add_argument("--all-features", action="store_true", help="also compare sex and nationality")
    parser.add_argument("--persons", type=int, default=23_700, help="about 4.2 records per person")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="migralink-baseline-") as tmp:
        landing, truth, name = landing_from_args(args, Path(tmp))
        figures = run_recordlinkage(landing, truth, dataset=name, all_features=args.all_features)
    print(figures.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
