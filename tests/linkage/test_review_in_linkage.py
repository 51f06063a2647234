"""Reviewers' decisions are honoured by the next linkage run."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from linkage.link import link_all
from linkage.model import load_model
from linkage.review import decide, enqueue_pairs
from pipeline.warehouse.connection import connect
from tests.linkage.conftest import LinkedWarehouse


def test_accepted_pairs_link_and_rejected_pairs_split(linked: LinkedWarehouse, warehouse: Path, tmp_path: Path) -> None:
    assert linked.cluster("Z13") != linked.cluster("Z15") and linked.cluster("Z01") == linked.cluster("Z02")
    linked.con.execute("CHECKPOINT")
    copy = tmp_path / "wh"
    shutil.copytree(warehouse, copy)
    con = connect(copy)
    con.execute(
        "CREATE TABLE decisions AS SELECT * FROM (VALUES ('border:Z13', 'border:Z15', 0.5, 0.6), "
        "('border:Z01', 'border:Z02', 0.5, 0.6)) t(unique_id_l, unique_id_r, match_weight, match_probability)"
    )
    enqueue_pairs(con, "decisions", lower=0, upper=1, night=dt.date(2025, 1, 1))
    ids = dict(con.execute("SELECT unique_id_r, pair_id FROM review_queue").fetchall())
    decide(con, [ids["border:Z15"]], "accepted", reviewer="r", at=dt.datetime(2025, 1, 2))
    decide(con, [ids["border:Z02"]], "rejected", reviewer="r", at=dt.datetime(2025, 1, 2))
    link_all(con, load_model(con))

    def cluster(record_id: str) -> int:
        return con.execute(
            "SELECT cluster_id FROM linkage_clusters WHERE source = 'border' AND record_id = ?", [record_id]
        ).fetchall()[0][0]

    assert cluster("Z13") == cluster("Z15")
    assert cluster("Z01") != cluster("Z02")
    con.close()
