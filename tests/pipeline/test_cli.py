"""The command line: help everywhere, one-line errors with a non-zero exit, idempotent runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli.main import main
from tests.conftest import WriteCsv, row


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("migralink: error: ")
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["run", "--help"],
        ["keys", "init", "--help"],
        ["synth", "--help"],
        ["demo", "--help"],
        ["status", "--help"],
        ["link", "--help"],
    ],
    ids=lambda a: " ".join(a),
)
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    assert "Usage: migralink" in capsys.readouterr().out


CASES = [
    (
        "bad date",
        ["run", "--date", "2024-13-01", "--landing", "{tmp}", "--warehouse", "{tmp}/wh", "--key-file", "{key}"],
        2,
        "--date must be a date YYYY-MM-DD",
    ),
    ("unknown option", ["run", "--dat", "2024-01-01"], 2, "No such option"),
    (
        "missing landing",
        ["run", "--date", "2024-01-01", "--warehouse", "{tmp}/wh", "--key-file", "{key}"],
        1,
        "--landing is required",
    ),
    (
        "landing does not exist",
        ["run", "--date", "2024-01-01", "--landing", "{tmp}/nope", "--warehouse", "{tmp}/wh", "--key-file", "{key}"],
        1,
        "the landing directory does not exist",
    ),
    (
        "key file does not exist",
        [
            "run",
            "--date",
            "2024-01-01",
            "--landing",
            "{tmp}",
            "--warehouse",
            "{tmp}/wh",
            "--key-file",
            "{tmp}/missing.key",
        ],
        1,
        "migralink keys init",
    ),
    ("key file exists", ["keys", "init", "--key-file", "{key}"], 1, "already exists; refusing to overwrite"),
    ("no warehouse", ["status", "--warehouse", "{tmp}/nowhere"], 1, "no warehouse at"),
    ("config file missing", ["run", "--date", "2024-01-01", "--config", "{tmp}/none.toml"], 1, "config file"),
    (
        "synth end before start",
        ["synth", "--out", "{tmp}/s", "--start", "2024-01-02", "--end", "2024-01-01"],
        2,
        "--end must not be before --start",
    ),
    ("synth unknown name mix", ["synth", "--out", "{tmp}/s", "--names", "census"], 2, "--names must be one of"),
]


@pytest.mark.parametrize(("argv", "code", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_give_one_actionable_line(
    argv: list[str], code: int, message: str, tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a.format(tmp=tmp_path, key=key_file) for a in argv]
    assert main(args) == code
    assert message in one_line_error(capsys)


def test_run_twice_reports_nothing_to_do(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv("border", "2024-01-02", [row("border"), row("border", record_id="B2", direction="?")])
    argv = [
        "run",
        "--date",
        "2024-01-02",
        "--landing",
        str(landing),
        "--warehouse",
        str(tmp_path / "wh"),
        "--key-file",
        str(key_file),
        "--quiet",
    ]
    assert main(argv) == 4  # complete, with a warning: half the rows were quarantined
    first = capsys.readouterr()
    assert "quarantined 1: direction is not one of ARR, DEP" in first.out
    assert first.err.splitlines() == [
        "migralink: warning: 1 of 2 rows quarantined (50.0%, above 5%): see `migralink quarantine list`"
    ]
    assert main(argv) == 0
    second = capsys.readouterr()
    assert "nothing to do" in second.out and second.err == ""


def test_settings_from_environment_and_flags_win(
    write_csv: WriteCsv,
    landing: Path,
    tmp_path: Path,
    key_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_csv("border", "2024-01-02", [row("border")])
    monkeypatch.setenv("MIGRALINK_LANDING", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("MIGRALINK_WAREHOUSE", str(tmp_path / "wh"))
    monkeypatch.setenv("MIGRALINK_KEY_FILE", str(key_file))
    assert main(["run", "--date", "2024-01-02", "--landing", str(landing), "--quiet"]) == 0
    assert (tmp_path / "wh" / "migralink.duckdb").exists()
    assert "border" in capsys.readouterr().out


def test_config_file_settings(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv("border", "2024-01-02", [row("border")])
    config = tmp_path / "migralink.toml"
    config.write_text(f'landing = "{landing}"\nwarehouse = "{tmp_path / "wh"}"\nkey_file = "{key_file}"\n')
    assert main(["run", "--date", "2024-01-02", "--config", str(config), "--quiet"]) == 0
    config.write_text('landing = "x"\ncolour = "blue"\n')
    assert main(["run", "--date", "2024-01-02", "--config", str(config)]) == 1
    assert "unknown setting(s) colour" in one_line_error(capsys)


def test_key_rotation_rekey_and_retirement_from_the_command_line(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv("border", "2024-01-02", [row("border")])
    wh = ["--warehouse", str(tmp_path / "wh"), "--key-file", str(key_file)]
    assert main(["run", "--date", "2024-01-02", "--landing", str(landing), *wh, "--quiet"]) == 0
    assert main(["keys", "rotate", "--key-file", str(key_file)]) == 0
    assert "version 2 is now active" in capsys.readouterr().out
    assert main(["keys", "retire", "--version", "1", *wh]) == 1
    assert "run `migralink keys rekey` first" in one_line_error(capsys)
    assert main(["keys", "rekey", *wh, "--quiet"]) == 0
    assert "rekeyed from version 1 to 2: 1 record," in capsys.readouterr().out
    assert main(["keys", "retire", "--version", "1", *wh]) == 0
    assert main(["keys", "retire", "--version", "2", *wh]) == 1
    assert "active version and cannot be retired" in one_line_error(capsys)


def test_review_and_export_links_commands(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import datetime as dt

    import duckdb

    from linkage.person_keys import assign_person_keys
    from linkage.review import enqueue_pairs

    write_csv("border", "2024-01-02", [row("border"), row("border", record_id="B2")])
    wh = ["--warehouse", str(tmp_path / "wh")]
    assert (
        main(["run", "--date", "2024-01-02", "--landing", str(landing), *wh, "--key-file", str(key_file), "--quiet"])
        == 0
    )
    assert main(["export", "links", "--out", str(tmp_path / "none.csv"), *wh]) == 1
    assert "no person keys yet" in one_line_error(capsys)
    con = duckdb.connect(str(tmp_path / "wh" / "migralink.duckdb"))
    con.execute(
        "CREATE TABLE tonight AS SELECT 'border' AS source, record_id, 'c1' AS cluster_id FROM border_crossings"
    )
    assign_person_keys(con, "tonight", dt.date(2024, 1, 2))
    con.execute(
        "CREATE TABLE preds AS SELECT 'border:B1' AS unique_id_l, 'border:B2' AS unique_id_r, "
        "1.5 AS match_weight, 0.7 AS match_probability, 2 AS gamma_dob"
    )
    enqueue_pairs(con, "preds", lower=-3, upper=6, night=dt.date(2024, 1, 2))
    (pair_id,) = con.execute("SELECT pair_id FROM review_queue").fetchall()[0]
    con.close()

    assert main(["review", "list", *wh]) == 0
    listing = capsys.readouterr().out
    assert pair_id in listing and "dob: 2" in listing and "MÜLLER" not in listing
    assert main(["review", "list", "--format", "csv", *wh]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "pair_id,unique_id_l,unique_id_r,match_weight,agreement",
        f"{pair_id},border:B1,border:B2,1.5,dob: 2",
    ]
    assert main(["review", "list", "--format", "json", *wh]) == 0
    assert json.loads(capsys.readouterr().out)[0]["pair_id"] == pair_id  # whole, whatever the terminal
    assert main(["review", "accept", pair_id, "--reviewer", "analyst-1", *wh]) == 0
    assert main(["review", "reject", pair_id, *wh]) == 1
    assert "already decided" in one_line_error(capsys)
    assert main(["review", "undo", pair_id, *wh]) == 2  # a revision needs its reason
    capsys.readouterr()
    assert main(["review", "undo", pair_id, "--reason", "photo differs", "--reviewer", "analyst-2", *wh]) == 0
    assert f"undid 1 decision: {pair_id} (was accepted)" in capsys.readouterr().out
    assert main(["review", "reject", pair_id, "--reviewer", "analyst-2", *wh]) == 0
    capsys.readouterr()
    assert main(["review", "log", pair_id, *wh]) == 0
    log = capsys.readouterr().out
    assert log.index("rejected") < log.index("undone") < log.index("accepted") and "photo differs" in log

    out = tmp_path / "links.csv"
    assert main(["export", "links", "--out", str(out), *wh]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "source,record_id,person_key" and len(lines) == 3
    assert len({line.split(",")[2] for line in lines[1:]}) == 1


def test_model_train_needs_enough_records(
    write_csv: WriteCsv, landing: Path, tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv("border", "2024-01-02", [row("border")])
    wh = ["--warehouse", str(tmp_path / "wh")]
    assert main(["run", "--date", "2024-01-02", "--landing", str(landing), *wh, "--key-file", str(key_file)]) == 0
    assert "linkage: 1 record: too few to train a linkage model" in capsys.readouterr().out
    assert main(["model", "train", *wh]) == 1
    assert "too few to train a linkage model" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MIGRALINK_RULE_THRESHOLD", "487", "0 < threshold < window"),
        ("MIGRALINK_HOST_COUNTRY", "D", "host_country must be a three-letter"),  # statistics need three letters
    ],
    ids=["rule threshold not below the window", "one-letter host code"],
)
def test_a_setting_the_later_steps_cannot_use_fails_before_any_step(
    variable: str,
    value: str,
    message: str,
    write_csv: WriteCsv,
    landing: Path,
    tmp_path: Path,
    key_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Settings are checked at start-up: nothing is ingested or linked before a bad setting fails."""
    write_csv("border", "2024-01-02", [row("border")])
    monkeypatch.setenv(variable, value)
    argv = ["run", "--date", "2024-01-02", "--landing", str(landing), "--warehouse", str(tmp_path / "wh")]
    assert main([*argv, "--key-file", str(key_file), "--quiet"]) == 1
    assert message in one_line_error(capsys)
    assert not (tmp_path / "wh").exists()


def test_keys_init_creates_a_missing_secrets_directory_private(tmp_path: Path) -> None:
    key = tmp_path / "secrets" / "migralink.key"
    assert main(["keys", "init", "--key-file", str(key)]) == 0
    assert key.exists() and (key.parent.stat().st_mode & 0o777) == 0o700 and (key.stat().st_mode & 0o777) == 0o600


def test_an_export_into_a_missing_directory_creates_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.warehouse.connection import connect

    connect(tmp_path / "wh").close()
    out = tmp_path / "exports" / "today" / "crossings.csv"
    assert main(["export", "crossings", "--warehouse", str(tmp_path / "wh"), "--out", str(out)]) == 0
    assert out.read_text().startswith("record_id,person_key,direction")


def test_a_missing_key_does_not_send_an_existing_warehouse_to_keys_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.key"
    assert main(["keys", "check", "--key-file", str(missing), "--warehouse", str(tmp_path / "wh")]) == 1
    assert "a warehouse built before needs its original key file" in one_line_error(capsys)


def test_counts_agree_with_their_nouns() -> None:
    from pipeline.cli.common import count

    assert [count(1, "pair"), count(0, "pair"), count(1_234, "person")] == ["1 pair", "0 pairs", "1,234 persons"]
    assert [count(1, "entry", "entries"), count(2, "entry", "entries")] == ["1 entry", "2 entries"]


def test_retention_purge_longer_than_the_register_is_one_line_and_writes_nothing(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MIGRALINK_PURPOSES", raising=False)
    monkeypatch.delenv("MIGRALINK_RETENTION_DAYS", raising=False)
    argv = ["retention", "purge", "--landing", str(landing), "--warehouse", str(tmp_path / "wh")]
    assert main([*argv, "--retention-days", "400"]) == 1
    assert one_line_error(capsys) == (
        "migralink: error: --retention-days 400 is longer than the register's 90 days for landing files "
        "(purposes public-migration-statistics, internal-monitoring, register 2026.11.1); a setting may only "
        "shorten it"
    )
    monkeypatch.setenv("MIGRALINK_RETENTION_DAYS", "120")
    assert main(argv) == 1
    assert "error: MIGRALINK_RETENTION_DAYS 120 is longer than the register's 90 days" in one_line_error(capsys)
    assert not (tmp_path / "wh").exists()


def test_retention_purge_says_which_period_applied_and_where_it_came_from(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.warehouse.connection import connect

    monkeypatch.delenv("MIGRALINK_PURPOSES", raising=False)
    monkeypatch.delenv("MIGRALINK_RETENTION_DAYS", raising=False)
    connect(tmp_path / "wh").close()
    from tests.pipeline.test_retention import purge_argv

    argv = purge_argv(landing, tmp_path / "wh")
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "retention: 90 days for landing files, from the purpose register 2026.11.1 (landing_days of purposes "
        "public-migration-statistics, internal-monitoring)",
        "removed 0 partitions dated before 2024-01-02 (0 files, 0 bytes)",
    ]
    config = tmp_path / "migralink.toml"
    config.write_text("retention_days = 7\n")
    assert main([*argv, "--config", str(config), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "retention: 7 days for landing files, from retention_days in the config file (the purpose register "
        "2026.11.1 allows up to 90)"
    )
