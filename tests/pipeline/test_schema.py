"""The schema registry: numbered migrations per package, read-only opening, a newer warehouse refused."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from linkage.schema import LINKAGE
from pipeline.cli.main import main
from pipeline.warehouse.connection import DB_FILE, connect
from pipeline.warehouse.schema import COMPONENTS, migrate, versions
from pipeline.warehouse.tables import PIPELINE
from privacy.audit.log import AUDIT
from privacy.errors import SchemaError
from privacy.schema import Component, Migration, apply_migrations, recorded_versions


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' "
        "AND table_name != 'meta_schema' ORDER BY table_name, column_index"
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        out.setdefault(table, []).append((column, kind))
    return out


def test_a_new_warehouse_records_every_package_at_the_code_version(tmp_path: Path) -> None:
    con = connect(tmp_path / "wh")
    try:
        assert (
            recorded_versions(con)
            == versions()
            == {"audit": AUDIT.version, "pipeline": PIPELINE.version, "linkage": LINKAGE.version}
        )
        assert migrate(con) == []  # idempotent
        present = set(_tables(con))
        for component in COMPONENTS:  # every kept table is created by a migration; derived ones by the linkage
            kept = {t for t in component.tables if not t.startswith("linkage_") or t in present}
            assert kept <= present, kept - present
    finally:
        con.close()


def test_every_table_is_owned_by_exactly_one_package() -> None:
    owned = [t for component in COMPONENTS for t in component.tables]
    assert len(owned) == len(set(owned))


def test_migrations_must_be_numbered_in_order() -> None:
    with pytest.raises(ValueError, match=r"numbered 1\.\.n"):
        Component("x", ("t",), (Migration(2, "second first"),))


def test_a_failing_migration_leaves_the_schema_as_it_was() -> None:
    con = duckdb.connect()

    def boom(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("CREATE TABLE half (a INTEGER)")
        raise RuntimeError("migration failed")

    broken = Component(
        "x", ("ok", "half"), (Migration(1, "ok", ("CREATE TABLE ok (a INTEGER)",)), Migration(2, "b", apply=boom))
    )
    with pytest.raises(RuntimeError):
        apply_migrations(con, [broken])
    assert recorded_versions(con) == {"x": 1}
    assert [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()] == [
        "meta_schema",
        "ok",
    ]


def test_a_pre_registry_warehouse_is_brought_to_the_same_schema_as_a_new_one(tmp_path: Path) -> None:
    connect(tmp_path / "new").close()
    old = connect(tmp_path / "old")
    try:  # as built before the registry: no version table, history_runs without the visa policy
        old.execute("DROP TABLE meta_schema")
        old.execute("ALTER TABLE history_runs DROP COLUMN visa_exempt")
        old.execute("ALTER TABLE history_runs DROP COLUMN visa_free_days")
        old.execute("ALTER TABLE history_runs DROP COLUMN complete_through")
    finally:
        old.close()
    applied: list[str] = []
    old = connect(tmp_path / "old", applied=applied)
    new = connect(tmp_path / "new", read_only=True)
    try:
        assert len(applied) == sum(c.version for c in COMPONENTS)
        assert _tables(old) == _tables(new)
    finally:
        old.close()
        new.close()


def test_history_keys_lose_their_index_and_keep_their_rows(tmp_path: Path) -> None:
    """Pipeline migration 10: the crossings' and stays' PRIMARY KEYs are dropped (the history step checks the keys
    itself); columns, NOT NULL and rows stay."""
    new = connect(tmp_path / "new")
    old = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:  # as pipeline v9 built it
        nine = replace(PIPELINE, migrations=PIPELINE.migrations[:9])
        apply_migrations(old, [AUDIT, nine, LINKAGE])
        assert old.execute(
            "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
            "AND table_name IN ('crossing_classification', 'person_stays')"
        ).fetchall() == [(2,)]
        old.execute(
            "INSERT INTO crossing_classification VALUES ('B1', 'P1', 'ARR', DATE '2024-01-02', 1, 'NON_RESIDENT', "
            "'RESIDENT', true, 'final', DATE '2025-01-01', NULL, 'CHN', 'F', 1990, 'CHN', 'WORK', DATE '2025-01-02')"
        )
        applied = apply_migrations(old, COMPONENTS)
        assert applied == [f"pipeline v{m.version}: {m.description}" for m in PIPELINE.migrations[9:]]
        assert _tables(old) == _tables(new)
        assert old.execute(
            "SELECT table_name, constraint_type FROM duckdb_constraints() WHERE "
            "(table_name = 'crossing_classification' AND constraint_column_names = ['record_id']) OR "
            "(table_name = 'person_stays' AND constraint_column_names = ['stay_id']) ORDER BY ALL"
        ).fetchall() == [("crossing_classification", "NOT NULL"), ("person_stays", "NOT NULL")]
        assert old.execute("SELECT record_id, person_key, seq FROM crossing_classification").fetchall() == [
            ("B1", "P1", 1)
        ]
    finally:
        old.close()
        new.close()


def test_bloom_filter_encodings_are_stored_uncompressed_and_keep_their_rows(tmp_path: Path) -> None:
    """Pipeline migration 12: a warehouse built before it has its ``identity_tokens`` rebuilt with the Bloom-filter
    columns stored uncompressed; the rows, the columns and their order are kept. A new warehouse has them so."""
    encodings = ("clk_name", "clk_family", "clk_given")

    def ddl(con: duckdb.DuckDBPyConnection) -> str:
        query = "SELECT sql FROM duckdb_tables() WHERE table_name = 'identity_tokens'"
        return con.execute(query).fetchall()[0][0]

    new = connect(tmp_path / "new")
    old = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:  # as pipeline v11 built it: its migration 1 made the encodings' columns with the default compression
        apply_migrations(old, [AUDIT, replace(PIPELINE, migrations=PIPELINE.migrations[:11]), LINKAGE])
        old.execute("DROP TABLE identity_tokens")
        old.execute(ddl(new).replace(" USING COMPRESSION Uncompressed", ""))
        assert "COMPRESSION" not in ddl(old)
        old.execute(
            "INSERT INTO identity_tokens (source, record_id, key_version, tok_family_name, tok_document_edits, "
            "clk_name, clk_given) VALUES ('border', 'B1', 1, 7, [1, 2], '1011'::BIT, '01'::BIT), "
            "('visa', 'V1', 1, NULL, NULL, NULL, '110'::BIT)"
        )
        rows = old.execute("SELECT * FROM identity_tokens ORDER BY record_id").fetchall()
        applied = apply_migrations(old, COMPONENTS)
        assert applied == [f"pipeline v{m.version}: {m.description}" for m in PIPELINE.migrations[11:]]
        for con in (old, new):
            assert all(f"{column} BIT USING COMPRESSION Uncompressed" in ddl(con) for column in encodings)
            assert ddl(con).count("COMPRESSION") == len(encodings)
        assert ddl(old) == ddl(new)
        assert _tables(old) == _tables(new)
        assert old.execute("SELECT * FROM identity_tokens ORDER BY record_id").fetchall() == rows
        assert apply_migrations(old, COMPONENTS) == []
    finally:
        old.close()
        new.close()


def test_models_saved_before_model_statuses_stay_in_use(tmp_path: Path) -> None:
    """Linkage migration 5: the models a warehouse saved before candidates existed count as promoted, so the newest
    is still the one nightly linkage uses; a candidate saved afterwards waits for its promotion."""
    import dataclasses
    import json

    from linkage.model import TrainingSummary, load_model, save_model
    from linkage.promotion import list_models
    from linkage.schema import COHERENCE_STATE_TABLE, COHERENCE_TABLE, MODELS_TABLE, PROMOTIONS_TABLE

    summary = TrainingSummary(1000, 900, 1, 1e6, 2e6, ["rule"], [3], [100], 1e-4, 1.0)
    old = connect(tmp_path / "wh")
    try:  # as linkage v4 built it: no status, promotion time, training run or promotions table (nor what came later)
        for column in ("status", "promoted_at", "trained_for"):
            old.execute(f"ALTER TABLE {MODELS_TABLE} DROP COLUMN {column}")
        for table in (PROMOTIONS_TABLE, COHERENCE_TABLE, COHERENCE_STATE_TABLE):
            old.execute(f"DROP TABLE {table}")
        old.execute("DELETE FROM meta_schema WHERE component = 'linkage' AND version >= 5")
        for version in (1, 2):
            old.execute(
                f"INSERT INTO {MODELS_TABLE} VALUES (?, ?, TIMESTAMP '2025-01-01' + to_days(?), '{{}}', ?, 6.0, 0.0)",
                [str(version) * 32, version, version, json.dumps(dataclasses.asdict(summary))],
            )
    finally:
        old.close()
    applied: list[str] = []
    con = connect(tmp_path / "wh", applied=applied)
    try:
        assert applied == [f"linkage v{m.version}: {m.description}" for m in LINKAGE.migrations[4:]]
        assert con.execute(
            f"SELECT version, status, promoted_at = created_at, trained_for FROM {MODELS_TABLE} ORDER BY version"
        ).fetchall() == [(1, "promoted", True, None), (2, "promoted", True, None)]
        assert con.execute(f"SELECT count(*) FROM {PROMOTIONS_TABLE}").fetchall() == [(0,)]
        current = load_model(con)
        assert (current.model_id, current.version, current.status) == ("2" * 32, 2, "promoted")

        candidate = save_model(con, dataclasses.replace(current, model_id="c" * 32), candidate=True)
        assert (candidate.version, candidate.status) == (3, "candidate")
        assert load_model(con).model_id == current.model_id, "a candidate is not used until promoted"
        assert [(m.version, m.status, m.current) for m in list_models(con)] == [
            (3, "candidate", False),
            (2, "promoted", True),
            (1, "promoted", False),
        ]
        promoted = save_model(con, dataclasses.replace(current, model_id="d" * 32))  # `migralink model train`
        assert load_model(con).model_id == promoted.model_id, "a model saved promoted is used at once"
    finally:
        con.close()


def test_status_and_exports_open_read_only_and_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "wh"
    connect(warehouse).close()
    before = _digest(warehouse / DB_FILE)
    assert main(["status", "--warehouse", str(warehouse)]) == 0
    assert "schema" in capsys.readouterr().out
    assert main(["export", "crossings", "--warehouse", str(warehouse), "--out", str(tmp_path / "c.csv")]) == 0
    assert _digest(warehouse / DB_FILE) == before


def test_a_warehouse_newer_than_the_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = tmp_path / "wh"
    con = connect(warehouse)
    con.execute("INSERT INTO meta_schema VALUES ('linkage', 99, 'from the future', now())")
    con.close()
    with pytest.raises(SchemaError, match="linkage schema is version 99, newer than this migralink"):
        connect(warehouse)
    for command in ("status", "migrate"):
        assert main([command, "--warehouse", str(warehouse)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "newer than this migralink" in err[0], err


def test_status_refuses_a_warehouse_with_pending_migrations_until_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "wh"
    con = connect(warehouse)
    con.execute("DELETE FROM meta_schema WHERE component = 'pipeline' AND version >= 3")
    con.close()
    before = _digest(warehouse / DB_FILE)
    assert main(["status", "--warehouse", str(warehouse)]) == 1
    assert "run `migralink migrate`" in capsys.readouterr().err
    assert _digest(warehouse / DB_FILE) == before  # refused without writing
    assert main(["migrate", "--warehouse", str(warehouse)]) == 0
    assert "applied pipeline v3" in capsys.readouterr().out
    assert main(["migrate", "--warehouse", str(warehouse)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["status", "--warehouse", str(warehouse)]) == 0


def test_keys_check_verifies_without_registering(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, other = tmp_path / "key", tmp_path / "other"
    assert main(["keys", "init", "--key-file", str(key)]) == 0
    assert main(["keys", "init", "--key-file", str(other)]) == 0
    warehouse = tmp_path / "wh"
    assert main(["keys", "check", "--key-file", str(key), "--warehouse", str(warehouse)]) == 0
    assert "no warehouse yet" in capsys.readouterr().out
    connect(warehouse).close()
    assert main(["keys", "check", "--key-file", str(key), "--warehouse", str(warehouse)]) == 0
    con = connect(warehouse, read_only=True)
    assert con.execute("SELECT count(*) FROM meta_keys").fetchall() == [(0,)]  # checking registers nothing
    con.close()


def test_rows_are_inserted_as_given_across_statements(monkeypatch: pytest.MonkeyPatch) -> None:
    """insert_rows puts every row in, NULLs and the trailing SQL included, however many statements it takes; rows
    of different lengths are refused before anything of their statement is inserted."""
    from pipeline.warehouse import connection

    monkeypatch.setattr(connection, "INSERT_CHUNK", 3)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (n INTEGER, label VARCHAR, share DOUBLE, added TIMESTAMP)")
    rows = [(i, f"row {i}" if i % 2 else None, i / 4 if i % 3 else None) for i in range(8)]
    connection.insert_rows(con, "t", rows, then="TIMESTAMP '2024-01-02 03:04:05'")
    assert con.execute("SELECT n, label, share FROM t ORDER BY n").fetchall() == rows
    assert con.execute("SELECT DISTINCT CAST(added AS VARCHAR) FROM t").fetchall() == [("2024-01-02 03:04:05",)]
    connection.insert_rows(con, "t", [], then="now()")  # nothing to insert: no statement
    with pytest.raises(ValueError, match="rows of different lengths"):
        connection.insert_rows(con, "t", [(1, "a", 0.5), (2, "b")], then="now()")
    assert con.execute("SELECT count(*) FROM t").fetchall() == [(8,)]
