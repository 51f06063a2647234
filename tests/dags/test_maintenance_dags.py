"""The maintenance DAGs ``key_rotation`` and ``retention``: whole runs with ``dag.test()``, and the rotation steps'
idempotence (``pipeline.nightly.keysteps``) without Airflow.

Each DAG run happens in a fresh interpreter (``dag_runner.py``) against a temporary SQLite Airflow home, as in
``test_dag_run.py``. Its DAGs folder holds only the two DAG files and their helper module, copied from ``dags/``:
the runs parse nothing else. ``dag.test()`` makes a new DAG run each time (its run id comes from the time it is
called), so a task cleared and run again within one DAG run is tested on the step functions the tasks call.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from dag_test_support import DAGS, clean_env, migrated_home, run_dag_test

from pipeline.nightly.settings import Settings, load_settings
from privacy.keys import FileKeyProvider, rotate_key_file, write_new_key_file
from privacy.tokens import ALL_TOKENS

DAG_FILES = ("key_rotation.py", "retention.py", "migralink_tasks.py")
TOKEN_COLUMNS = [spec.column for spec in ALL_TOKENS]
airflow_test = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A migrated SQLite metadata database and a DAGs folder with the maintenance DAGs only."""
    pytest.importorskip("airflow.sdk")
    root = tmp_path_factory.mktemp("airflow-maintenance")
    home, dags = root / "home", root / "dags"
    dags.mkdir()
    for name in DAG_FILES:
        shutil.copy2(DAGS / name, dags / name)
    return migrated_home(home, tmp_path_factory.getbasetemp()), dags


def run_dag(
    airflow: tuple[Path, Path], dag_id: str, logical_date: str, env: dict[str, str], conf: dict | None = None
) -> tuple[dict, str, float]:
    """Run one DAG run; return its outcome (run and task states), the log output and the seconds it took."""
    home, dags = airflow
    began = time.monotonic()
    outcome, logs = run_dag_test(
        dag_id, logical_date, clean_env(AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(dags), **env), conf
    )
    return outcome, logs, time.monotonic() - began


def rows(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse / "migralink.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def key_versions(key_file: Path) -> tuple[int, list[int]]:
    ring = FileKeyProvider(key_file).load()
    return ring.active_version, [v.version for v in ring.versions]


# --- key_rotation ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def linked_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linked warehouse (synthetic landing zone, a model, person keys) and its key file, built once."""
    from linkage.link import link_all
    from linkage.model import save_model, train_model
    from pipeline.ingest.load import ingest
    from pipeline.synth import generate
    from pipeline.warehouse.connection import connect

    root = tmp_path_factory.mktemp("linked")
    generate(root / "landing", persons=250, start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31), seed=3)
    ring = write_new_key_file(root / "migralink.key")
    con = connect(root / "warehouse")
    try:
        ingest(con, landing=root / "landing", run_date=dt.date(2026, 3, 31), ring=ring)
        link_all(con, save_model(con, train_model(con, seed=3, max_pairs=1e5, em_max_pairs=5e4)))
    finally:
        con.close()
    return root


@pytest.fixture
def linked(linked_template: Path, tmp_path: Path) -> Settings:
    """A copy of the linked warehouse and its key file, for one test."""
    shutil.copytree(linked_template / "warehouse", tmp_path / "warehouse")
    shutil.copy2(linked_template / "migralink.key", tmp_path / "migralink.key")
    return load_settings(None, warehouse=tmp_path / "warehouse", key_file=tmp_path / "migralink.key")


def tokens(warehouse: Path) -> dict[tuple[str, str], tuple]:
    """Every record's key version and pseudonyms."""
    got = rows(warehouse, f"SELECT source, record_id, key_version, {', '.join(TOKEN_COLUMNS)} FROM identity_tokens")
    return {(r[0], r[1]): r[2:] for r in got}


def groups(found: dict[tuple[str, str], tuple]) -> list[set[frozenset[tuple[str, str]]]]:
    """For each pseudonym column, which records share a value (what linkage compares for equality)."""
    out = []
    for i in range(1, len(TOKEN_COLUMNS) + 1):
        by_value: dict[object, set[tuple[str, str]]] = {}
        for record, values in found.items():
            value = tuple(values[i]) if isinstance(values[i], list) else values[i]
            if value is not None:
                by_value.setdefault(value, set()).add(record)
        out.append({frozenset(records) for records in by_value.values()})
    return out


def person_keys(warehouse: Path) -> dict[tuple[str, str], str]:
    return {(s, r): k for s, r, k in rows(warehouse, "SELECT source, record_id, person_key FROM person_keys")}


def relink(warehouse: Path) -> None:
    """What the next night does after a rekey: a full relink with the saved model."""
    from linkage import link_all, load_model
    from pipeline.warehouse.connection import connect

    con = connect(warehouse)
    try:
        link_all(con, load_model(con))
    finally:
        con.close()


def snapshot(settings: Settings) -> tuple[bytes, list[tuple]]:
    assert settings.key_file is not None and settings.warehouse is not None
    tables = ("identity_tokens", "identity_vault", "quarantine", "meta_keys", "meta_token_version", "audit_log")
    return settings.key_file.read_bytes(), [rows(settings.warehouse, f"SELECT * FROM {t} ORDER BY ALL") for t in tables]


ROTATION_TASKS = ("check_confirmation", "rotate", "rekey", "retire")


@pytest.mark.airflow
@pytest.mark.slow
def test_key_rotation_without_confirmation_fails_at_once_and_changes_nothing(
    airflow_home: tuple[Path, Path], linked: Settings
) -> None:
    assert linked.warehouse is not None
    before = snapshot(linked)
    env = {"MIGRALINK_WAREHOUSE": str(linked.warehouse), "MIGRALINK_KEY_FILE": str(linked.key_file)}

    outcome, logs, _ = run_dag(airflow_home, "key_rotation", "2026-04-01T09:00:00+00:00", env)

    assert outcome == {
        "state": "failed",
        "tasks": {"check_confirmation": "failed"} | dict.fromkeys(ROTATION_TASKS[1:], "upstream_failed"),
    }
    assert "key rotation not confirmed: trigger it with the param confirm set to 'rotate warehouse'" in logs
    assert snapshot(linked) == before
    assert key_versions(linked.key_file) == (1, [1])  # type: ignore[arg-type]


@pytest.mark.airflow
@pytest.mark.slow
def test_key_rotation_moves_every_pseudonym_keeps_the_persons_and_never_rotates_twice(
    airflow_home: tuple[Path, Path], linked: Settings
) -> None:
    warehouse, key_file = linked.warehouse, linked.key_file
    assert warehouse is not None and key_file is not None
    before, persons = tokens(warehouse), person_keys(warehouse)
    assert len(before) > 300 and len(set(persons.values())) > 100
    env = {"MIGRALINK_WAREHOUSE": str(warehouse), "MIGRALINK_KEY_FILE": str(key_file)}
    when = "2026-04-01T10:00:00+00:00"

    outcome, logs, seconds = run_dag(airflow_home, "key_rotation", when, env, {"confirm": "rotate warehouse"})

    assert outcome == {"state": "success", "tasks": dict.fromkeys(ROTATION_TASKS, "success")}, logs[-3000:]
    assert key_versions(key_file) == (2, [2]), "version 2 added, then version 1 retired"
    assert rows(warehouse, "SELECT version, active, retired_at IS NOT NULL FROM meta_keys ORDER BY 1") == [
        (1, False, True),
        (2, True, False),
    ]
    after = tokens(warehouse)
    assert after.keys() == before.keys()
    assert {values[0] for values in after.values()} == {2}
    for record, values in after.items():
        old = before[record]
        for column, new_value, old_value in zip(TOKEN_COLUMNS, values[1:], old[1:], strict=True):
            assert (new_value is None) == (old_value is None), (record, column)
            assert new_value is None or new_value != old_value, f"{column} of {record} did not change"
    assert rows(warehouse, "SELECT DISTINCT key_version FROM identity_vault") == [(2,)]
    assert rows(warehouse, "SELECT version FROM meta_token_version") == [(2,)]
    assert groups(after) == groups(before), "records that shared a pseudonym share its new one, and no others"
    assert person_keys(warehouse) == persons, "the rotation leaves the persons as they are"
    # The next night relinks every record under the new key. Equal pseudonyms stay equal, but the Bloom-filter
    # encodings' similarities move a little with the key: a borderline pair may go the other way.
    relink(warehouse)
    relinked = person_keys(warehouse)
    assert relinked.keys() == persons.keys()
    assert sum(relinked[r] != key for r, key in persons.items()) <= len(persons) // 100
    assert not any(secret in logs for secret in _secrets(key_file)), "no key material in the logs"

    # A second DAG run is a rotation of its own: exactly one more version. (dag.test() cannot run the same DAG
    # run again, its run id comes from the time it is called: a re-run of one run is tested on the steps below.)
    again, logs, _ = run_dag(airflow_home, "key_rotation", when, env, {"confirm": "rotate warehouse"})
    assert again == {"state": "success", "tasks": dict.fromkeys(ROTATION_TASKS, "success")}, logs[-3000:]
    assert logs.count("key rotation: key version 3 added and active") == 1
    assert key_versions(key_file) == (3, [3])
    assert {values[0] for values in tokens(warehouse).values()} == {3}
    assert seconds < 90


def _secrets(key_file: Path) -> list[str]:
    import base64

    return [base64.urlsafe_b64encode(v.secret).decode() for v in FileKeyProvider(key_file).load().versions]


# --- the rotation steps, without Airflow -----------------------------------------------------------------------------


def test_rotate_step_run_again_for_the_same_run_rotates_once(linked: Settings) -> None:
    from pipeline.nightly.keysteps import rekey_step, retire_step, rotate_step

    assert linked.key_file is not None and linked.warehouse is not None
    first = rotate_step(linked, run_id="key_rotation/r1")
    assert (first.key_version, first.previous_version, first.rotated) == (2, 1, True)
    again = rotate_step(linked, run_id="key_rotation/r1")
    assert (again.key_version, again.rotated, again.resumed) == (2, False, "this run rotated the key already")
    assert key_versions(linked.key_file) == (2, [1, 2])

    done = rekey_step(linked, run_id="key_rotation/r1", expect_version=2)
    assert (done.from_version, done.to_version, done.nothing_to_do) == (1, 2, False)
    assert rekey_step(linked, run_id="key_rotation/r1", expect_version=2).nothing_to_do
    after_rekey = rotate_step(linked, run_id="key_rotation/r1")  # cleared after the rekey: still no second rotation
    assert (after_rekey.key_version, after_rekey.previous_version, after_rekey.rotated) == (2, 1, False)

    retired = retire_step(linked, run_id="key_rotation/r1")
    assert (retired.retired, retired.already_retired) == ([1], [])
    assert retire_step(linked, run_id="key_rotation/r1").retired == []
    assert retire_step(linked, 1).already_retired == [1]
    assert rotate_step(linked, run_id="key_rotation/r1").rotated is False  # cleared after the retirement
    assert key_versions(linked.key_file) == (2, [2])

    # Another run is another rotation.
    other = rotate_step(linked, run_id="key_rotation/r2")
    assert (other.key_version, other.previous_version, other.rotated) == (3, 2, True)


def test_an_unfinished_rotation_is_finished_not_stacked(linked: Settings) -> None:
    """A version added by hand (``migralink keys rotate``) or by a run that stopped before registering it."""
    from pipeline.nightly.keysteps import rekey_step, rotate_step

    assert linked.key_file is not None and linked.warehouse is not None
    rotate_key_file(linked.key_file)
    resumed = rotate_step(linked, run_id="key_rotation/r1")
    assert (resumed.key_version, resumed.previous_version, resumed.rotated) == (2, 1, False)
    assert "key version 2 was added before and is not in use yet" in (resumed.resumed or "")
    # A second run before the rekey finishes the same rotation.
    assert rotate_step(linked, run_id="key_rotation/r2").key_version == 2
    with pytest.raises(Exception, match="the key file's active version is 2, not 3 as rotated"):
        rekey_step(linked, expect_version=3)
    assert key_versions(linked.key_file) == (2, [1, 2])


def test_retire_keeps_a_version_sealing_archives_and_finishes_a_stopped_retirement(
    linked: Settings, tmp_path: Path
) -> None:
    import dataclasses

    from pipeline.ingest.retention import ARCHIVE_MAGIC, ARCHIVE_SUFFIX
    from pipeline.nightly.keysteps import rekey_step, retire_step, rotate_step
    from pipeline.warehouse.connection import connect, transaction
    from pipeline.warehouse.rekey import retire_check
    from privacy.errors import KeyringError

    assert linked.key_file is not None and linked.warehouse is not None
    rotate_step(linked, run_id="r1")
    rekey_step(linked, run_id="r1")
    archive = tmp_path / "archive"
    (archive / "border").mkdir(parents=True)
    blob = b"ML1" + (1).to_bytes(2, "big") + bytes(40)  # a chunk sealed with key version 1
    (archive / "border" / f"2026-01-01{ARCHIVE_SUFFIX}").write_bytes(
        ARCHIVE_MAGIC + b"\x01" + len(blob).to_bytes(4, "big") + blob
    )
    with pytest.raises(KeyringError, match=r"^key version 1 seals 1 landing archive\(s\) under "):
        retire_step(dataclasses.replace(linked, landing_archive=archive), run_id="r1")
    assert key_versions(linked.key_file) == (2, [1, 2])

    # A retirement stopped after the warehouse recorded it, before the key file changed: the next call finishes it.
    con = connect(linked.warehouse)
    try:
        with transaction(con):
            retire_check(con, 1)
    finally:
        con.close()
    assert retire_step(linked, run_id="r1").retired == [1]
    assert key_versions(linked.key_file) == (2, [2])
    assert retire_step(linked, run_id="r1").retired == []


@pytest.mark.parametrize(
    ("confirm", "key_source", "message"),
    [
        (None, "file", "key rotation not confirmed: trigger it with the param confirm set to 'rotate warehouse'"),
        ("ROTATE", "file", "key rotation not confirmed"),
        ("rotate other", "file", "key rotation not confirmed"),
        ("rotate warehouse", "env", "key rotation needs a key file, but the key comes from env (key_source)"),
        ("rotate warehouse", "airflow-variable:migralink_key", "the key comes from airflow-variable"),
        ("rotate warehouse", "vault:migralink/key", "the key comes from vault"),
    ],
)
def test_check_rotation_refuses_in_one_line(
    linked: Settings, confirm: str | None, key_source: str, message: str
) -> None:
    import dataclasses

    from pipeline.nightly.keysteps import check_rotation
    from privacy.errors import MigralinkError

    before = snapshot(linked)
    with pytest.raises(MigralinkError) as refused:
        check_rotation(dataclasses.replace(linked, key_source=key_source), confirm)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert snapshot(linked) == before


def test_check_rotation_needs_a_writable_key_file_of_the_warehouse(linked: Settings, tmp_path: Path) -> None:
    import dataclasses

    from pipeline.nightly.keysteps import check_rotation
    from privacy.errors import KeyMismatchError, KeyringError

    assert linked.key_file is not None
    assert check_rotation(linked, "rotate warehouse") == {
        "warehouse": str(linked.warehouse),
        "key_file": str(linked.key_file),
        "key_version": 1,
        "warehouse_key_version": 1,
    }
    other = tmp_path / "other.key"
    write_new_key_file(other)
    with pytest.raises(KeyMismatchError):
        check_rotation(dataclasses.replace(linked, key_file=other), "rotate warehouse")
    if os.geteuid() != 0:  # root may write anything
        linked.key_file.chmod(0o400)
        with pytest.raises(KeyringError, match="is not writable by this user"):
            check_rotation(linked, "rotate warehouse")


# --- retention --------------------------------------------------------------------------------------------------------

RETENTION_TASKS = (
    "check_periods",
    "purge_landing",
    "purge_quarantine",
    "purge_sealed_identifiers",
    "purge_linkage",
    "purge_histories",
    "purge_releases",
)


def retention_state(warehouse: Path) -> dict[str, object]:
    from tests.pipeline.test_retention import counts

    return counts(warehouse)


@pytest.mark.airflow
@pytest.mark.slow
def test_retention_purges_each_kind_once(airflow_home: tuple[Path, Path], tmp_path: Path) -> None:
    from tests.pipeline.test_retention import NEW_DAY, PURPOSE, SHORTER, every_kind_warehouse

    landing, warehouse, key_file = tmp_path / "landing", tmp_path / "warehouse", tmp_path / "migralink.key"
    every_kind_warehouse(landing, warehouse, write_new_key_file(key_file))
    env = {
        "MIGRALINK_LANDING": str(landing),
        "MIGRALINK_WAREHOUSE": str(warehouse),
        "MIGRALINK_KEY_FILE": str(key_file),
        "MIGRALINK_RETENTION_DAYS": "30",
    }
    outcome, logs, seconds = run_dag(
        airflow_home, "retention", "2026-09-01T05:30:00+00:00", env, {"keep_days": SHORTER}
    )

    assert outcome == {"state": "success", "tasks": dict.fromkeys(RETENTION_TASKS, "success")}, logs[-3000:]
    after = retention_state(warehouse)
    assert after["quarantine"] == 1 and after["vault"] == [NEW_DAY] and after["tokens"] == ["BN", "PN", "VN"]
    assert after["vintages"] == 1 and after["refusals"] == 1 and after["ledger"] == 2
    assert after["cells"] == ["r-new 2026-01", "r-old 2025-12"]
    assert after["files"] == [
        f"published/{NEW_DAY}/{PURPOSE}/flows.csv",
        f"published/{NEW_DAY}/{PURPOSE}/manifest.json",
        f"reports/linkage-{NEW_DAY}.html",
        f"reports/release-{NEW_DAY}-{PURPOSE}.html",
        f"reports/statistics-{NEW_DAY}.html",
    ]
    assert sorted(p.relative_to(landing).as_posix() for p in landing.glob("*/*")) == [
        f"border/{NEW_DAY}",
        f"permit/{NEW_DAY}",
        f"visa/{NEW_DAY}",
    ]
    recorded = rows(warehouse, "SELECT source, files, by_user FROM meta_retention ORDER BY recorded_at, source")
    run = recorded[0][2]
    assert run.startswith("airflow retention/manual__")
    assert recorded == [  # the landing partitions of one purge are recorded in one transaction: at one time
        ("border", 1, run),
        ("permit", 1, run),
        ("visa", 1, run),
        ("quarantine", 1, run),
        ("sealed_identifiers", 6, run),
        ("linkage", 1, run),
        ("histories", 3, run),
        ("releases", 6, run),
    ]
    assert rows(warehouse, "SELECT token_version FROM linkage_state") == [(None,)]
    assert not (warehouse / ".writer.lock").exists() or not (warehouse / ".writer.lock").read_text().strip()

    # A second run the same day purges and records nothing.
    second, logs, _ = run_dag(airflow_home, "retention", "2026-09-01T06:00:00+00:00", env, {"keep_days": SHORTER})
    assert second == {"state": "success", "tasks": dict.fromkeys(RETENTION_TASKS, "success")}, logs[-3000:]
    assert retention_state(warehouse) == after
    assert seconds < 60
