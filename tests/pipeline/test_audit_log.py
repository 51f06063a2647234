"""The privacy log of a real night: entries per step in their transactions, signed tree heads, proofs an auditor
can check with nothing but SHA-256 and Ed25519, and every kind of tampering detected."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from pipeline.cli.main import main
from pipeline.warehouse.connection import DB_FILE
from privacy.audit.merkle import leaf_hash, verify_consistency, verify_inclusion


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(warehouse, key file, exported public key) after two nights over 1,200 generated persons."""
    root = tmp_path_factory.mktemp("audit")
    window = ["--start", "2024-01-01", "--end", "2024-03-31", "--seed", "8"]
    key_file = root / "secrets" / "key"
    assert main(["synth", "--out", str(root / "landing"), "--persons", "1200", *window]) == 0
    assert main(["keys", "init", "--key-file", str(root / "secrets" / "key")]) == 0
    where = [
        "--landing",
        str(root / "landing"),
        "--warehouse",
        str(root / "wh"),
        "--key-file",
        str(root / "secrets" / "key"),
    ]
    for date in ("2024-02-29", "2024-03-31"):
        assert main(["run", "--date", date, *where, "--quiet"]) in (0, 4)
    assert (
        main(
            [
                "audit",
                "public-key",
                "--out",
                str(root / "log.pem"),
                "--warehouse",
                str(root / "wh"),
                "--config",
                str(_config(root, key_file)),
            ]
        )
        == 0
    )
    return root / "wh", key_file, root / "log.pem"


def _config(root: Path, key_file: Path) -> Path:
    config = root / "migralink.toml"
    config.write_text(f'key_file = "{key_file}"\n', encoding="utf-8")
    return config


def copy(night: tuple[Path, Path, Path], tmp_path: Path) -> Path:
    shutil.copytree(night[0], tmp_path / "wh")
    return tmp_path / "wh"


def sql(warehouse: Path, query: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(warehouse / DB_FILE))
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def verify(warehouse: Path, pem: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["audit", "verify", "--warehouse", str(warehouse), "--public-key", str(pem), *extra])
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip()


def test_a_night_logs_what_each_step_did_and_signs_it(
    night: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse, _key, pem = night
    kinds = [json.loads(bytes(e))["kind"] for (e,) in sql(warehouse, "SELECT entry FROM audit_log ORDER BY leaf_index")]
    assert kinds[0] == "run_started" and kinds.count("run_started") == kinds.count("run_finished") == 2
    for kind in (
        "partitions_read",
        "pseudonymized",
        "columns_dropped",
        "linked",
        "histories_built",
        "statistics_computed",
        "released",
    ):
        assert kind in kinds, kind
    heads = sql(warehouse, "SELECT tree_size FROM audit_heads ORDER BY 1")
    assert heads[-1][0] == len(kinds)  # the end of the last run is signed
    code, line = verify(warehouse, pem, capsys)
    assert code == 0 and line.startswith(f"intact: {len(kinds):,} entries, {len(heads)} signed tree heads")


def test_entries_hold_no_identifier_of_a_person(night: tuple[Path, Path, Path]) -> None:
    warehouse = night[0]
    text = "\n".join(bytes(e).decode() for (e,) in sql(warehouse, "SELECT entry FROM audit_log"))
    keys = [k for (k,) in sql(warehouse, "SELECT DISTINCT person_key FROM person_keys LIMIT 200")]
    records = [r for (r,) in sql(warehouse, "SELECT record_id FROM border_crossings LIMIT 200")]
    assert keys and records
    assert not [k for k in keys if k in text] and not [r for r in records if f'"{r}"' in text]
    assert "person_key" not in text and "family_name" not in text


def test_an_auditor_checks_a_proof_with_sha256_alone(
    night: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from privacy.audit.heads import TreeHead, load_public_key, verify_tree_head

    warehouse, _key, pem = night
    assert main(["audit", "prove", "--warehouse", str(warehouse), "--entry", "3"]) == 0
    proof = json.loads(capsys.readouterr().out)
    entry = base64.b64decode(proof["entry_b64"])
    assert leaf_hash(entry).hex() == proof["leaf_hash"] and b'"kind"' in entry
    path = [bytes.fromhex(h) for h in proof["inclusion_path"]]
    head = TreeHead.from_dict(proof["signed_tree_head"])
    assert head.tree_size == proof["tree_size"] and head.root_hash.hex() == proof["root_hash"]
    assert verify_inclusion(leaf_hash(entry), 3, proof["tree_size"], path, head.root_hash)
    assert verify_tree_head(load_public_key(pem.read_bytes()), head)
    sizes = [s for (s,) in sql(warehouse, "SELECT tree_size FROM audit_heads ORDER BY 1")]
    assert (
        main(
            [
                "audit",
                "consistency",
                "--warehouse",
                str(warehouse),
                "--first",
                str(sizes[0]),
                "--second",
                str(sizes[-1]),
            ]
        )
        == 0
    )
    consistency = json.loads(capsys.readouterr().out)
    assert verify_consistency(
        sizes[0],
        sizes[-1],
        bytes.fromhex(consistency["first_root"]),
        bytes.fromhex(consistency["second_root"]),
        [bytes.fromhex(h) for h in consistency["consistency_path"]],
    )


TAMPERING = {
    "one changed byte of an entry": (
        "UPDATE audit_log SET entry = encode(replace(decode(entry), '\"v\":1', '\"v\":2')) WHERE leaf_index = 2",
        "leaf 2 does not match its stored leaf hash",
    ),
    "a changed entry with its leaf hash recomputed": (
        "UPDATE audit_log SET entry = encode(replace(decode(entry), '\"v\":1', '\"v\":2')), "
        "leaf_hash = unhex(sha256('\\x00'::BLOB || encode(replace(decode(entry), '\"v\":1', '\"v\":2')))) "
        "WHERE leaf_index = 2",
        "do not match the stored signed tree head",  # the leaf hash agrees: the signed root does not
    ),
    "a removed entry": ("DELETE FROM audit_log WHERE leaf_index = 5", "leaf 5 is missing"),
    "two entries swapped": (
        "UPDATE audit_log SET leaf_index = CASE leaf_index WHEN 1 THEN 2 ELSE 1 END WHERE leaf_index IN (1, 2)",
        "do not match the stored signed tree head",
    ),
    "a forged head": (
        "UPDATE audit_heads SET root_hash = unhex(repeat('00', 32)) WHERE tree_size = (SELECT min(tree_size) "
        "FROM audit_heads)",
        "has a signature that does not verify",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING), ids=list(TAMPERING))
def test_tampering_is_detected_and_named(
    case: str, night: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statement, message = TAMPERING[case]
    warehouse = copy(night, tmp_path)
    sql(warehouse, statement)
    code, line = verify(warehouse, night[2], capsys)
    assert code == 1 and "FAILED" in line, line
    if message:
        assert message in line, line


def test_a_truncated_log_fails_against_heads_exported_before(
    night: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = copy(night, tmp_path)
    exported = tmp_path / "heads.jsonl"
    assert main(["audit", "export-heads", "--warehouse", str(warehouse), "--out", str(exported)]) == 0
    capsys.readouterr()
    last = sql(warehouse, "SELECT max(tree_size) FROM audit_heads")[0][0]
    sql(warehouse, "DELETE FROM audit_log WHERE leaf_index >= ?", [last - 3])
    sql(warehouse, "DELETE FROM audit_heads WHERE tree_size > ?", [last - 3])
    code, line = verify(warehouse, night[2], capsys)
    assert code == 0  # on its own the shortened log is consistent with the heads left in it
    code, line = verify(warehouse, night[2], capsys, "--heads", str(exported))
    assert code == 1 and f"shorter than a signed tree head of size {last:,}" in line


def test_a_log_rewritten_and_signed_again_with_another_key_is_rejected(
    night: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from privacy.audit.heads import new_signing_key_file
    from privacy.audit.log import seal

    warehouse = copy(night, tmp_path)
    other = new_signing_key_file(tmp_path / "other.pem")
    con = duckdb.connect(str(warehouse / DB_FILE))
    try:
        con.execute("DELETE FROM audit_heads")
        seal(con, other)
    finally:
        con.close()
    code, line = verify(warehouse, night[2], capsys)
    assert code == 1 and "signed by another key" in line


def test_a_night_that_fails_leaves_no_entry_of_its_work(
    night: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = copy(night, tmp_path)
    before = sql(warehouse, "SELECT count(*) FROM audit_log")[0][0]
    landing = night[0].parent / "landing"

    def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the histories step failed")

    monkeypatch.setattr("pipeline.nightly.steps.history_step", fail)
    argv = ["run", "--date", "2024-04-01", "--landing", str(landing), "--warehouse", str(warehouse)]
    (landing / "border" / "2024-04-01").mkdir(parents=True, exist_ok=True)
    shutil.copy(next((landing / "border" / "2024-03-31").iterdir()), landing / "border" / "2024-04-01" / "x.csv")
    try:
        assert main([*argv, "--key-file", str(night[1]), "--quiet"]) == 1
    finally:
        shutil.rmtree(landing / "border" / "2024-04-01")
    kinds = [json.loads(bytes(e))["kind"] for (e,) in sql(warehouse, "SELECT entry FROM audit_log ORDER BY leaf_index")]
    assert len(kinds) == before + 1 and kinds[-1] == "run_failed"  # the ingest and linkage of the night are gone
