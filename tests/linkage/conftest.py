"""A small warehouse for linkage tests: a synthetic background population plus hand-written cases.

The background (a few hundred synthetic persons) gives the model realistic name and date frequencies; the
hand-written border records (ids ``Z...``) are the cases the tests look at. Built and linked once per session.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from linkage.link import LinkResult, link_all
from linkage.model import LinkageModel, save_model, train_model
from pipeline.ingest.contract import load_contract
from pipeline.ingest.load import ingest
from pipeline.synth import generate
from pipeline.warehouse.connection import connect
from privacy.keys import Keyring
from tests.conftest import row

SEED = 11
CASE_DAY = "2024-06-15"

# (record id, family name, given names, date of birth, sex, nationality, document number)
CASES = [
    ("Z01", "FERNANDEZ", "LUCIA", "1988-03-21", "F", "ESP", "PA1234567"),
    ("Z02", "FERNADEZ", "LUCIA", "1988-03-21", "F", "ESP", ""),  # typo, no document
    ("Z03", "OKAFOR", "CHINEDU", "1990-07-02", "M", "NGA", "A07700123"),
    ("Z04", "CHINEDU", "OKAFOR", "1990-07-02", "M", "NGA", ""),  # swapped names, no document
    ("Z05", "HADDAD", "MOHAMMED", "1985-11-30", "M", "SYR", "N00991122"),
    ("Z06", "HADDAD", "MUHAMMAD", "1985-11-30", "M", "SYR", ""),  # transliteration, no document
    ("Z07", "SVENSSON", "ERIK", "1979-05-05", "M", "SWE", "90011122"),
    ("Z08", "SVENSSON", "ERIK", "1979-05-05", "M", "SWE", "90033344"),  # renewed passport
    ("Z09", "TRAN", "VAN MINH", "2001-05-06", "M", "VNM", "C1112223"),
    ("Z10", "TRAN", "VAN MINH", "2001-05-06", "M", "VNM", "C1112223"),
    ("Z11", "TRAN", "THI HOA", "2001-05-06", "F", "VNM", "C4445556"),  # twin, other sex
    ("Z12", "TRAN", "DUC ANH", "2001-05-06", "M", "VNM", "C7778889"),  # twin, same sex
    ("Z13", "WANG", "WEI", "1985-03-02", "M", "CHN", "E10000001"),
    ("Z14", "WANG", "WEI", "1985-03-02", "M", "CHN", "E10000001"),
    ("Z15", "WANG", "WEI", "1987-09-14", "M", "CHN", "E20000002"),  # common name, other birth date
    ("Z16", "WANG", "WEI", "1987-09-14", "M", "CHN", ""),
    ("Z17", "ROSSI", "GIULIA", "1992-04-08", "F", "ITA", "YA5550001"),
    ("Z18", "ROSSI", "GIULIA", "1992-08-04", "F", "ITA", "YA5550001"),  # day and month swapped
    ("Z19", "NOWAKOWSKA", "AGNIESZKA", "1983-10-17", "F", "POL", "EA1234567"),
    ("Z20", "NOWAKOSKA", "AGNIESKZA", "1983-10-17", "F", "POL", ""),  # typos in both names, no document
    ("Z21", "KOWALSKI", "JAN PIOTR", "1975-02-11", "M", "POL", "EB7654321"),
    ("Z22", "KOWALSKI", "J P", "1975-02-11", "M", "POL", ""),  # given names as initials, no document
    ("Z23", "SCHNEIDER", "ANNA", "1969-08-30", "F", "AUT", "P4455667"),
    (
        "Z24",
        "BAUER",
        "MARIA",
        "1969-08-30",
        "F",
        "AUT",
        "P4455667",
    ),  # both names replaced, same passport and birth date
    ("Z25", "PETRENKO", "OLENA", "1991-04-12", "F", "UKR", "FE1029384"),
    ("Z26", "PETRENKO", "OLENA", "1991-04-21", "F", "UKR", "FE1029384"),  # birth-date keying error (day)
    ("Z27", "HAIDARI", "GUL AHMAD", "1979-08-23", "M", "AFG", "P01928374"),
    ("Z28", "HAIDARI", "GUL AHMAD", "1979-01-01", "M", "AFG", "P01928374"),  # a default 1 January
]
# Twelve NGUYEN VAN AN records born in 1987: six men, each with his own birth date (no two one keying error
# apart) and passport, seen twice (ids Y01..Y12, Y01 and Y02 are the first man).
NAMESAKE_DATES = ("1987-02-14", "1987-05-23", "1987-07-09", "1987-09-27", "1987-11-03", "1987-12-18")
NAMESAKES = [
    (f"Y{2 * i + k + 1:02d}", "NGUYEN", "VAN AN", dob, "M", "VNM", f"C{i + 2}{i + 5}{i + 1}0{i + 7}{i + 3}{i}")
    for i, dob in enumerate(NAMESAKE_DATES)
    for k in range(2)
]
CASES += NAMESAKES


@dataclass
class LinkedWarehouse:
    con: duckdb.DuckDBPyConnection
    model: LinkageModel
    result: LinkResult

    def cluster(self, record_id: str) -> int:
        rows = self.con.execute(
            "SELECT cluster_id FROM linkage_clusters WHERE source = 'border' AND record_id = ?", [record_id]
        ).fetchall()
        return int(rows[0][0])


def write_cases(landing: Path) -> None:
    folder = landing / "border" / CASE_DAY
    folder.mkdir(parents=True, exist_ok=True)
    cols = list(load_contract()["border"].names)
    with (folder / "cases.csv").open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(cols)
        for i, (rid, family, given, dob, sex, nat, doc) in enumerate(CASES):
            values = row(
                "border",
                record_id=rid,
                crossing_time=f"{CASE_DAY}T{10 + i % 10:02d}:00:00",
                family_name=family,
                given_names=given,
                date_of_birth=dob,
                sex=sex,
                nationality=nat,
                doc_number=doc,
                doc_issuing_country=nat,
                direction="ARR" if i % 2 == 0 else "DEP",
            )
            out.writerow([values.get(c, "") for c in cols])


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("linkage")
    landing = root / "landing"
    generate(landing, persons=200, start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31), seed=SEED)
    write_cases(landing)
    ring = Keyring.generate(now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    con = connect(root / "wh")
    ingest(con, landing=landing, run_date=dt.date(2024, 12, 31), ring=ring)
    con.close()
    return root / "wh"


@pytest.fixture(scope="session")
def linked(warehouse: Path) -> LinkedWarehouse:
    con = connect(warehouse)
    model = save_model(con, train_model(con, seed=SEED, max_pairs=1e6, em_max_pairs=2e5))
    return LinkedWarehouse(con, model, link_all(con, model))
