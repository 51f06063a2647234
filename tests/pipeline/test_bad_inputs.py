"""Bad inputs, one at a time, through ``migralink run``: each is named, the previous release stays, and the next
good night succeeds with the figures of a run that never saw the bad input.

A module fixture builds a small good history once (a synthetic landing zone, a key, one good night that trains the
linkage model and publishes a release) and a reference: the same history run on through the next two nights on
the landing zone as delivered. Each case copies the history, spoils the next night's input, runs the night, checks
what the design says about that input (read in ``pipeline/ingest/landing.py``, ``pipeline/nightly/unit.py``,
``pipeline/errors.py``, the quality suites and ``docs/operations.md``, ``docs/operator-guide.md``), repairs it the
documented way and runs again. The designed outcome is one of three:

* the night cannot run (another key, a full disk, a corrupt warehouse): exit 1, exactly one line on stderr that
  names the problem, and the warehouse, its releases and reports as they were (a night is one unit);
* a damaged landing file (cut short, not UTF-8): the rows that cannot be read are quarantined with their reason
  and line, every row read is accounted for (read = accepted + quarantined), the night goes on; the complete file,
  delivered again, is reprocessed (``migralink reprocess``) and the next night succeeds;
* a broken delivery (every row of a partition invalid, a daily source missing): the raw quality gate holds the
  night (exit 3) with one ``held`` line naming the expectation, nothing is released; once the data are put right
  (reprocessed, or arrived late) the same night runs again and succeeds.

Every run's stdout and stderr are checked for the names, birth dates and document numbers of the landing zone.
"""

from __future__ import annotations

import csv
import errno
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from pipeline.cli.main import main
from pipeline.nightly.unit import SNAPSHOT, STAGING
from pipeline.publish.release import PUBLISHED
from pipeline.warehouse.connection import DB_FILE

pytestmark = pytest.mark.slow

GOOD, NIGHT, NEXT = "2024-03-03", "2024-03-04", "2024-03-05"  # the good history ends with GOOD; NIGHT goes wrong
SOURCE = "border"  # the daily source whose NIGHT partition is spoilt
FIRST_DAY = "2024-02-03"
MALFORMED = "malformed encoding (bytes that are not UTF-8, or a NUL byte)"
IDENTIFIER_COLUMNS = ("family_name", "given_names", "date_of_birth", "doc_number", "visa_number", "permit_number")
STAT_TABLES = ("stat_migration_flows", "stat_first_permits", "stat_resident_stock", "stat_overstays", "stat_revisions")


@dataclass(frozen=True)
class History:
    """The good history every case starts from, and the reference run of the nights after it."""

    landing: Path  # as delivered: every partition of every night good
    key_file: Path
    warehouse: Path  # after the good night GOOD (the operator's backup of that night, too)
    reference: Path  # the warehouse after GOOD, NIGHT and NEXT on the landing zone as delivered
    identifiers: frozenset[str]  # names, birth dates and document numbers of the landing zone


@dataclass
class Night:
    """One case's copies: the landing zone, the warehouse and the key file the night is run with."""

    history: History
    landing: Path
    warehouse: Path
    key_file: Path
    root: Path
    patch: pytest.MonkeyPatch = field(default_factory=pytest.MonkeyPatch)

    @property
    def spoilt(self) -> Path:
        """The landing file of SOURCE for NIGHT (the synthetic generator writes one per partition)."""
        (path,) = sorted((self.landing / SOURCE / NIGHT).iterdir())
        return path

    def delivered(self) -> Path:
        """The same file as delivered in the good landing zone."""
        return self.history.landing / self.spoilt.relative_to(self.landing)

    def where(self) -> list[str]:
        return ["--landing", str(self.landing), "--warehouse", str(self.warehouse), "--key-file", str(self.key_file)]

    def run(self, date: str) -> list[str]:
        """``migralink run`` for ``date`` over this case's copies."""
        return ["run", "--date", date, *self.where(), "--quiet"]

    def reprocess(self) -> list[str]:
        """``migralink reprocess`` of SOURCE's NIGHT partition, delivered again."""
        return ["reprocess", "--source", SOURCE, "--date", NIGHT, "--reason", "delivered again", *self.where()]


@dataclass(frozen=True)
class Ran:
    """What one ``migralink`` command did."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Ran:
    """Run ``migralink`` in this process with its stderr as in its own: pytest's log handlers are taken off the
    root logger for the call, so that ``main`` installs its ``migralink: LEVEL: ...`` handler as it does when run
    as a command (a log line the command writes is then on stderr, as the operator sees it)."""
    capsys.readouterr()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    for handler in handlers:
        root.removeHandler(handler)
    try:
        code = main(argv)
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def _identifiers(landing: Path) -> frozenset[str]:
    """Every name and document number of six characters or more and every birth date in the landing files (birth
    dates inside the data's own window are left out: such a date is also a partition or a night printed on purpose)."""
    found: set[str] = set()
    for path in landing.glob("*/*/*.csv"):
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                for column in IDENTIFIER_COLUMNS:
                    value = (row.get(column) or "").strip()
                    wanted = (value != "" and value < FIRST_DAY) if column == "date_of_birth" else len(value) >= 6
                    if wanted:
                        found.add(value)
    return frozenset(found)


def _no_identifiers(history: History, ran: Ran) -> None:
    """Nothing printed holds a name, birth date or document number of the landing zone."""
    printed = ran.out + ran.err
    assert not sorted(v for v in history.identifiers if v in printed)


def _tree(warehouse: Path) -> dict[str, bytes | None]:
    """Every directory (None) and file (its bytes) under the warehouse's ``published/`` and ``reports/``."""
    out: dict[str, bytes | None] = {}
    for top in (PUBLISHED, "reports"):
        for path in sorted((warehouse / top).rglob("*")):
            out[path.relative_to(warehouse).as_posix()] = path.read_bytes() if path.is_file() else None
    return out


def _rows(warehouse: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _ledger(warehouse: Path) -> list[tuple[object, ...]]:
    """The ledger rows and the released cells of the releases before NIGHT, row for row."""
    earlier = f"SELECT release_id FROM release_ledger WHERE release_date < DATE '{NIGHT}'"
    return _rows(warehouse, f"SELECT * FROM release_ledger WHERE release_id IN ({earlier}) ORDER BY ALL") + _rows(
        warehouse, f"SELECT * FROM release_cells WHERE release_id IN ({earlier}) ORDER BY ALL"
    )


def _releases_on(warehouse: Path, night: str) -> int:
    """How many ledger rows (released tables) ``night`` has."""
    return int(_rows(warehouse, f"SELECT count(*) FROM release_ledger WHERE release_date = DATE '{night}'")[0][0])


def _tables(warehouse: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows but the run log's and the privacy log's (a failed or refused night is logged there)."""
    con = duckdb.connect(str(warehouse / DB_FILE), read_only=True)
    try:
        names = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {
            n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall()
            for n in names
            if n != "meta_runs" and not n.startswith("audit_")
        }
    finally:
        con.close()


def _runs(warehouse: Path) -> list[tuple[object, ...]]:
    return _rows(warehouse, "SELECT * FROM meta_runs ORDER BY started_at")


def _figures(warehouse: Path, vintage: str) -> dict[str, list[tuple[object, ...]]]:
    """The statistics of one vintage, without the cell keys (each record's key is drawn at random when it is
    linked, so two warehouses built apart have other cell keys for the same figures)."""
    out = {}
    for table in STAT_TABLES:
        columns = [
            c
            for (c,) in _rows(
                warehouse,
                f"SELECT column_name FROM duckdb_columns() WHERE table_name = '{table}' "
                "AND NOT ends_with(column_name, '_ck') ORDER BY column_index",
            )
        ]
        select = ", ".join(f'"{c}"' for c in columns)
        out[table] = _rows(warehouse, f"SELECT {select} FROM {table} WHERE vintage = DATE '{vintage}' ORDER BY ALL")
    assert out["stat_migration_flows"], f"no statistics of vintage {vintage}"
    return out


def _released_tables(warehouse: Path, night: str) -> dict[str, bytes]:
    """The SDMX files released for ``night`` (the manifests differ by their release ids)."""
    folder = warehouse / PUBLISHED / night
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.glob("*/*.csv"))}


def _partition(warehouse: Path, source: str, night: str) -> list[tuple[object, ...]]:
    return _rows(
        warehouse,
        "SELECT rows_read, rows_accepted, rows_quarantined FROM meta_partitions "
        f"WHERE source = '{source}' AND partition_date = DATE '{night}'",
    )


def _quarantined(warehouse: Path, source: str, night: str) -> list[tuple[object, ...]]:
    return _rows(
        warehouse,
        f"SELECT line, reason FROM quarantine WHERE source = '{source}' AND partition_date = DATE '{night}' "
        "AND resolved_at IS NULL ORDER BY line",
    )


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """The good history, its backup and the reference run; checks the data hold what the cases need."""
    root = tmp_path_factory.mktemp("bad-inputs")
    landing, key_file = root / "landing", root / "secret.key"
    window = ["--start", FIRST_DAY, "--end", NEXT, "--seed", "3"]
    assert main(["synth", "--out", str(landing), "--persons", "3000", *window]) == 0
    assert main(["keys", "init", "--key-file", str(key_file)]) == 0
    warehouse, reference = root / "warehouse", root / "reference"
    where = ["--landing", str(landing), "--key-file", str(key_file), "--quiet"]
    assert main(["run", "--date", GOOD, "--warehouse", str(warehouse), *where]) == 0
    assert _released_tables(warehouse, GOOD), "the good night released nothing"
    shutil.copytree(warehouse, reference)
    for night in (NIGHT, NEXT):
        assert main(["run", "--date", night, "--warehouse", str(reference), *where]) == 0
    (spoilt,) = sorted((landing / SOURCE / NIGHT).iterdir())
    text = spoilt.read_text(encoding="utf-8")
    assert len(text.splitlines()) > 100, "the partition must be big enough for the raw gate to judge its shares"
    assert not text.isascii(), "the partition must hold a character UTF-8 writes in two bytes"
    assert any((landing / s / NIGHT).is_dir() for s in ("visa", "permit")), "another source must deliver on NIGHT"
    assert _released_tables(reference, NIGHT), "the reference released nothing on NIGHT"
    identifiers = _identifiers(landing)
    assert len(identifiers) > 1000
    return History(landing, key_file, warehouse, reference, identifiers)


@pytest.fixture
def night(history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Night]:
    """Copies of the good history's landing zone and warehouse for one case."""
    monkeypatch.delenv("MIGRALINK_DEBUG", raising=False)  # a traceback would be shown on purpose
    shutil.copytree(history.landing, tmp_path / "landing", ignore=shutil.ignore_patterns("truth.csv", "persons.csv"))
    shutil.copytree(history.warehouse, tmp_path / "warehouse")
    case = Night(history, tmp_path / "landing", tmp_path / "warehouse", history.key_file, tmp_path)
    yield case
    case.patch.undo()


# --- the night cannot run: one line, nothing changed -----------------------------------------------------------


def _another_key(night: Night) -> None:
    """The key file is swapped for another one (with its own signing key beside it)."""
    other = night.root / "other.key"
    assert main(["keys", "init", "--key-file", str(other)]) == 0
    night.key_file = other


def _the_key_back(night: Night) -> None:
    night.key_file = night.history.key_file


def _disk_fills(night: Night) -> None:
    """The disk fills while the night writes its release (ingest, linkage and histories have committed): a write
    gets as far as half its bytes and fails with ENOSPC, as ``write`` does on a full file system."""

    def write_file(directory: Path, name: str, data: bytes) -> str:
        path = directory / name
        path.write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    night.patch.setattr("pipeline.publish.release.write_file", write_file)


def _disk_freed(night: Night) -> None:
    night.patch.undo()


def _warehouse_corrupt(night: Night) -> None:
    """The middle third of the warehouse file is overwritten (a damaged disk, a bad copy)."""
    path = night.warehouse / DB_FILE
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.seek(size // 3)
        fh.write(b"\xde\xad\xbe\xef" * (size // 12))


def _warehouse_cut_short(night: Night) -> None:
    """The warehouse file loses its last two thirds (a copy that stopped, a file system that lost its tail)."""
    path = night.warehouse / DB_FILE
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size // 3)


def _restored_from_backup(night: Night) -> None:
    """docs/operator-guide.md, Backups: the warehouse directory is put back as copied after the last good night."""
    shutil.rmtree(night.warehouse)
    shutil.copytree(night.history.warehouse, night.warehouse)


def _the_next_night_succeeds(
    night: Night, capsys: pytest.CaptureFixture[str], tree: dict[str, bytes | None], ledger: list[tuple[object, ...]]
) -> None:
    """The night run again once the input is put right: exit 0, nothing on stderr, no identifier in the output, the
    reference's figures and released tables, and the earlier releases' files and ledger rows untouched."""
    good = _cli(night.run(NIGHT), capsys)
    _no_identifiers(night.history, good)
    assert good.code == 0, good.err
    assert good.err_lines == []
    assert _figures(night.warehouse, NIGHT) == _figures(night.history.reference, NIGHT)
    assert _released_tables(night.warehouse, NIGHT) == _released_tables(night.history.reference, NIGHT)
    assert {k: v for k, v in _tree(night.warehouse).items() if k in tree} == tree
    assert _ledger(night.warehouse) == ledger


@dataclass(frozen=True)
class Stop:
    """A bad input that stops the night: how to cause it, the one line that must name it, how to repair it."""

    spoil: Callable[[Night], None]
    line: Callable[[Night], str]  # a regular expression for the whole stderr line
    repair: Callable[[Night], None]
    failed_as: str | None  # the run log's entry for a night that began (None: refused before it began)
    readable: bool = True  # the warehouse can be read after the failure (not so when it is corrupt)


STOPS = {
    "wrong key": Stop(
        _another_key,
        lambda _n: re.escape(
            "migralink: error: the key offered is not the key this warehouse was built with; use the original key "
            "file (pseudonyms made with another key would not link)"
        ),
        _the_key_back,
        None,
    ),
    "full disk": Stop(
        _disk_fills,
        lambda n: (
            re.escape(f"migralink: error: the disk is full (writing {n.warehouse / PUBLISHED}/")
            + r"\.incoming-[0-9a-f]{32}/stat_[a-z_]+\.csv"
            + re.escape("); fix it and rerun (a failed night leaves the warehouse as it was)")
        ),
        _disk_freed,
        "failed: the disk is full",
    ),
    "corrupt warehouse": Stop(
        _warehouse_corrupt,
        lambda _n: re.escape(
            "migralink: error: the warehouse database is corrupt (a block's checksum does not match); restore the "
            "warehouse directory from its last backup (docs/operator-guide.md, Backups) and rerun"
        ),
        _restored_from_backup,
        None,
        readable=False,
    ),
    "warehouse cut short": Stop(
        _warehouse_cut_short,
        lambda n: re.escape(
            f"migralink: error: cannot open the warehouse at {n.warehouse}: the warehouse database is corrupt (the "
            f"file is shorter than its contents in {n.warehouse / DB_FILE}); restore the warehouse directory from its "
            "last backup (docs/operator-guide.md, Backups) and rerun"
        ),
        _restored_from_backup,
        None,
        readable=False,
    ),
}


@pytest.mark.parametrize("case", list(STOPS), ids=list(STOPS))
def test_a_night_that_cannot_run_says_why_in_one_line_and_leaves_everything_as_it_was(
    case: str, night: Night, capsys: pytest.CaptureFixture[str]
) -> None:
    """Proves, for another key, a disk that fills mid-night and a corrupt warehouse file: exit 1 with exactly one
    line on stderr naming the problem (no traceback, no identifier); the earlier release's files, the reports and
    the ledger unchanged, and (where the warehouse can still be read) every table but the run and privacy logs as
    it was, with the failed night logged; once repaired, the night succeeds with the reference's figures and
    releases."""
    stop = STOPS[case]
    tree, ledger, tables, runs = _tree(night.warehouse), _ledger(night.warehouse), None, None
    if stop.readable:
        tables, runs = _tables(night.warehouse), _runs(night.warehouse)
    stop.spoil(night)

    failed = _cli(night.run(NIGHT), capsys)
    _no_identifiers(night.history, failed)
    assert failed.code == 1, failed.err
    assert len(failed.err_lines) == 1, failed.err_lines
    assert re.fullmatch(stop.line(night), failed.err_lines[0]), failed.err_lines[0]
    assert _tree(night.warehouse) == tree  # no release, no report, no half-written file or directory
    assert not (night.warehouse / SNAPSHOT).exists() and not (night.warehouse / STAGING).exists()
    if stop.readable:
        assert _ledger(night.warehouse) == ledger and _releases_on(night.warehouse, NIGHT) == 0
        assert _tables(night.warehouse) == tables
        assert runs is not None and _runs(night.warehouse)[: len(runs)] == runs
        statuses = _rows(night.warehouse, "SELECT status FROM meta_runs ORDER BY started_at")[len(runs) :]
        assert statuses == ([(stop.failed_as,)] if stop.failed_as else [])

    stop.repair(night)
    _the_next_night_succeeds(night, capsys, tree, ledger)


# --- a damaged landing file: its unreadable rows quarantined, every row accounted for ----------------------------


def _cut_short(night: Night) -> list[int]:
    """The transfer of the file stops inside a row, between the two bytes of a character UTF-8 writes in two:
    the rows after it are missing and the last one is cut. Returns the lines to be quarantined."""
    data = night.delivered().read_bytes()
    cut = re.search(rb"[\xc2-\xdf]", data)
    assert cut is not None
    night.spoilt.write_bytes(data[: cut.start() + 1])
    return [data[: cut.start()].count(b"\n") + 1]


def _latin_1(night: Night) -> list[int]:
    """The file arrives written in ISO 8859-1 instead of UTF-8. Returns the lines to be quarantined (those with a
    character outside ASCII)."""
    text = night.delivered().read_text(encoding="utf-8")
    night.spoilt.write_bytes(text.encode("latin-1"))
    return [n for n, line in enumerate(text.splitlines(), start=1) if not line.isascii()]


DAMAGED = {"truncated file": _cut_short, "not UTF-8": _latin_1}


@pytest.mark.parametrize("case", list(DAMAGED), ids=list(DAMAGED))
def test_a_damaged_landing_file_is_quarantined_row_by_row_and_reprocessed_once_delivered_again(
    case: str, night: Night, capsys: pytest.CaptureFixture[str]
) -> None:
    """Proves, for a file cut short mid-row and mid-character and for a file in Latin-1: the night goes on (exit 0,
    nothing on stderr); each row holding bytes that are not UTF-8 is quarantined with that reason and its line,
    the summary says so, and read = accepted + quarantined for the partition (the rows read being exactly the
    file's rows); the earlier release's files, reports and ledger rows are unchanged; no identifier is printed.
    The complete UTF-8 file, delivered again and reprocessed, gives the next night the reference's figures."""
    tree, ledger = _tree(night.warehouse), _ledger(night.warehouse)
    lines = DAMAGED[case](night)
    rows = night.spoilt.read_bytes().rstrip(b"\n").count(b"\n")  # the data rows of the file as it arrived

    ran = _cli(night.run(NIGHT), capsys)
    _no_identifiers(night.history, ran)
    assert ran.code == 0, ran.err
    assert ran.err_lines == []
    assert f"quarantined {len(lines)}: {MALFORMED}" in ran.out
    assert _quarantined(night.warehouse, SOURCE, NIGHT) == [(line, MALFORMED) for line in lines]
    assert _partition(night.warehouse, SOURCE, NIGHT) == [(rows, rows - len(lines), len(lines))]
    assert _releases_on(night.warehouse, NIGHT) > 0  # the night went on to its release
    assert {k: v for k, v in _tree(night.warehouse).items() if k in tree} == tree
    assert _ledger(night.warehouse) == ledger

    shutil.copyfile(night.delivered(), night.spoilt)  # delivered again, complete and in UTF-8
    again = _cli(night.reprocess(), capsys)
    _no_identifiers(night.history, again)
    assert again.code == 0, again.err
    assert _quarantined(night.warehouse, SOURCE, NIGHT) == []
    good = _cli(night.run(NEXT), capsys)
    _no_identifiers(night.history, good)
    assert good.code == 0, good.err
    assert good.err_lines == []
    assert _figures(night.warehouse, NEXT) == _figures(night.history.reference, NEXT)
    assert {k: v for k, v in _tree(night.warehouse).items() if k in tree} == tree
    assert _ledger(night.warehouse) == ledger


# --- a broken delivery: the raw quality gate holds the night -------------------------------------------------------


def _every_row_invalid(night: Night) -> None:
    """The source's export writes its crossing times as DD/MM/YYYY HH:MM: no row meets the contract."""
    with night.delivered().open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    at = rows[0].index("crossing_time")
    for row in rows[1:]:
        day, time = row[at].split("T")
        year, month, date = day.split("-")
        row[at] = f"{date}/{month}/{year} {time[:5]}"
    with night.spoilt.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_ALL).writerows(rows)


def _delivered_again_and_reprocessed(night: Night, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/operator-guide.md, Held by a quality gate: the re-delivered partition is replaced with reprocess."""
    shutil.copyfile(night.delivered(), night.spoilt)
    again = _cli(night.reprocess(), capsys)
    _no_identifiers(night.history, again)
    assert again.code == 0, again.err


def _source_missing(night: Night) -> None:
    """The source delivers nothing for NIGHT (its partition is held back until the repair)."""
    (night.landing / SOURCE / NIGHT).rename(night.root / "late")


def _arrives_late(night: Night, _capsys: pytest.CaptureFixture[str]) -> None:
    """docs/operator-guide.md, A source missing: the partition arrives and the night runs again."""
    (night.root / "late").rename(night.landing / SOURCE / NIGHT)


@dataclass(frozen=True)
class Hold:
    """A broken delivery the raw gate holds: how to cause it, what it must say, how it is put right."""

    spoil: Callable[[Night], None]
    held: str  # the expectation and count the held line names
    warning: str  # a regular expression for the warning line that names the problem ({rows}: the partition's)
    quarantined: str | None  # the reason every row of the partition is quarantined with (None: no partition)
    repair: Callable[[Night, pytest.CaptureFixture[str]], None]


HOLDS = {
    "every row invalid": Hold(
        _every_row_invalid,
        "raw_border/quarantine_share_critical (critical): {rows} of {rows} failing: more than a third of the rows "
        "of partitions of 100 rows or more quarantined: the delivery is broken",
        r"migralink: warning: {rows} of [0-9,]+ rows quarantined \([0-9.]+%, above 5%\): see `migralink quarantine "
        "list`",
        "crossing_time is not an ISO 8601 date-time",
        _delivered_again_and_reprocessed,
    ),
    "source missing": Hold(
        _source_missing,
        "raw_volume/source_volume_low (critical): 1 of 3 failing: a source empty or far below its band",
        re.escape(f"migralink: warning: no {SOURCE} data for {NIGHT}: it delivered on most of the previous 28 days"),
        None,
        _arrives_late,
    ),
}


@pytest.mark.quality_gates
@pytest.mark.parametrize("case", list(HOLDS), ids=list(HOLDS))
def test_a_broken_delivery_is_held_by_the_raw_gate_and_the_night_succeeds_once_it_is_put_right(
    case: str, night: Night, capsys: pytest.CaptureFixture[str]
) -> None:
    """Proves, with the real quality gates, for a partition whose every row is invalid and for a daily source that
    delivers nothing: the raw gate holds the night (exit 3) with one ``held`` line naming the failing expectation,
    a warning names the problem, every stderr line is one of migralink's (no traceback), nothing is released, the
    earlier release's files, reports and ledger rows are unchanged, every row read is accounted for (the invalid
    ones quarantined with their reason); once the partition is reprocessed or arrives, the same night runs again to
    exit 0 with the reference's figures and releases; no identifier is printed."""
    hold = HOLDS[case]
    tree, ledger = _tree(night.warehouse), _ledger(night.warehouse)
    rows = len(night.delivered().read_text(encoding="utf-8").splitlines()) - 1
    hold.spoil(night)

    held = _cli(night.run(NIGHT), capsys)
    _no_identifiers(night.history, held)
    assert held.code == 3, held.err
    assert all(line.startswith("migralink: ") for line in held.err_lines), held.err_lines
    (line,) = [line for line in held.err_lines if line.startswith("migralink: held: ")]
    expected = (
        re.escape(f"migralink: held: the raw quality gate held the night of {NIGHT}: {hold.held.format(rows=rows)}")
        + r"( \(and [0-9]+ more\))?"
        + re.escape(f"; to go on anyway: migralink run --date {NIGHT} --accept ")
        + r"[a-z_]+/[a-z_]+ --reason TEXT"
    )
    assert re.fullmatch(expected, line), line
    warning = hold.warning.replace("{rows}", f"{rows:,}")
    assert [w for w in held.err_lines if re.fullmatch(warning, w)], held.err_lines
    assert _releases_on(night.warehouse, NIGHT) == 0 and not (night.warehouse / PUBLISHED / NIGHT).exists()
    assert _tree(night.warehouse) == tree
    assert _ledger(night.warehouse) == ledger
    if hold.quarantined is None:  # the summary's row of the source: no partition, no row
        assert re.search(rf"^\W*{SOURCE}(\W+0){{4}}\W*$", held.out, re.MULTILINE), held.out
        assert _partition(night.warehouse, SOURCE, NIGHT) == []
    else:
        assert f"quarantined {rows}: {hold.quarantined}" in held.out
        assert _partition(night.warehouse, SOURCE, NIGHT) == [(rows, 0, rows)]
        assert _quarantined(night.warehouse, SOURCE, NIGHT) == [(n, hold.quarantined) for n in range(2, rows + 2)]

    hold.repair(night, capsys)
    _the_next_night_succeeds(night, capsys, tree, ledger)
