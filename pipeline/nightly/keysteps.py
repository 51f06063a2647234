"""Key rotation as steps: what ``migralink keys rekey`` / ``keys retire`` and the DAG ``key_rotation`` call.

A rotation is three steps, each safe to run again:

1. :func:`rotate_step`: add a new key version to the key file, make it active and register it in the warehouse
   (``meta_keys``; the privacy log's ``key_registered`` entry). Run for a DAG run (``run_id``), its privacy-log
   entries carry that run id, so running the step again for the same run finds the rotation it made and adds
   nothing. A rotation left unfinished (the key file's active version is not registered yet, or the warehouse's
   pseudonyms still use an older version: a run that stopped, or ``migralink keys rotate`` by hand) is finished
   rather than stacked: no second version is added.
2. :func:`rekey_step`: re-derive every pseudonym and re-seal every blob with the active version
   (:func:`pipeline.warehouse.rekey.rekey_warehouse`); nothing to do when the warehouse already uses it.
3. :func:`retire_step`: remove an old version from the key file once the warehouse no longer uses it; a version
   already retired is nothing to do, and a retirement interrupted between the key file and the warehouse is
   completed.

Rotation rewrites the key file, so it needs ``key_source = "file"`` and a key file this user can write
(:func:`rotation_key_file`): a key kept in the environment, an Airflow Variable or Connection, or Vault is rotated
where it is kept, not by migralink. Everything returned holds versions, counts and paths, never key material.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from pipeline.audit.trail import seal_if_configured
from pipeline.errors import ConfigError
from pipeline.ingest.load import Progress
from pipeline.ingest.retention import ARCHIVE_MAGIC, ARCHIVE_SUFFIX
from pipeline.nightly.settings import Settings
from pipeline.warehouse import mirror
from pipeline.warehouse.connection import check_key, connect, transaction, verify_key
from pipeline.warehouse.rekey import RekeySummary, rekey_warehouse, retire_check
from privacy.audit.log import run_context
from privacy.errors import KeyringError
from privacy.keys import FileKeyProvider, Keyring, retire_key_version, rotate_key_file
from privacy.providers import parse_key_source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RotateResult:
    """What :func:`rotate_step` did: versions only."""

    key_version: int  # the active version after the step
    previous_version: int | None  # the version the warehouse's pseudonyms used before this rotation
    rotated: bool  # a new version was added by this call
    resumed: str | None = None  # why no version was added (the rotation was already made), or None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class RetireResult:
    """What :func:`retire_step` did: versions only."""

    key_version: int  # the active version, kept
    retired: list[int] = field(default_factory=list)  # removed from the key file and the warehouse by this call
    already_retired: list[int] = field(default_factory=list)  # nothing to do

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def rotation_key_file(settings: Settings) -> Path:
    """The key file a rotation rewrites: ``key_source`` must be ``file`` and the file writable by this user.

    Raises:
        KeyringError: another key source, no key file, or a key file (or its directory) this user cannot write.
    """
    source = parse_key_source(settings.key_source or "file")
    if source.kind != "file":
        raise KeyringError(
            f"key rotation needs a key file, but the key comes from {source.kind} (key_source); rotate the key "
            "where it is kept, or run with a writable key file (key_file, MIGRALINK_KEY_FILE)"
        )
    path = settings.key_file
    if path is None:
        raise KeyringError("key rotation needs a key file: --key-file, MIGRALINK_KEY_FILE or key_file")
    if not path.is_file():
        raise KeyringError(f"key file {path} does not exist")
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        raise KeyringError(f"key file {path} is not writable by this user: a rotation rewrites it (and its directory)")
    return path


@contextlib.contextmanager
def _warehouse(settings: Settings, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The existing warehouse; on success (read-write) the privacy log is signed when its key is configured."""
    settings.require("warehouse")
    assert settings.warehouse is not None
    con = connect(settings.warehouse, create=False, read_only=read_only)
    try:
        yield con
        if not read_only:
            seal_if_configured(settings, con)
    finally:
        con.close()
        if not read_only:  # pseudonyms under a retired key, or sealed blobs it opens, must not stay in the mirror
            mirror.discard(settings.warehouse)


def confirmation_text(warehouse: Path) -> str:
    """What an operator types to confirm the rotation of ``warehouse``'s key: ``rotate <directory name>``."""
    return f"rotate {warehouse.name}"


def check_rotation(settings: Settings, confirm: str | None) -> dict[str, object]:
    """Everything a rotation needs, checked before anything changes: the confirmation (:func:`confirmation_text`),
    a writable key file, and that it is the warehouse's key. Reads only; returns versions and paths.

    Raises:
        ConfigError: not confirmed, or no warehouse.
        KeyringError: no writable key file (:func:`rotation_key_file`).
        KeyMismatchError: the key file is not the warehouse's key.
    """
    settings.require("warehouse")
    assert settings.warehouse is not None
    expected = confirmation_text(settings.warehouse)
    if (confirm or "").strip() != expected:
        raise ConfigError(
            f"key rotation not confirmed: trigger it with the param confirm set to '{expected}' to rotate the key of "
            f"the warehouse {settings.warehouse}; nothing was changed"
        )
    path = rotation_key_file(settings)
    ring = FileKeyProvider(path).load()
    with _warehouse(settings, read_only=True) as con:
        verify_key(con, ring)
        version = _token_version(con)
    return {
        "warehouse": str(settings.warehouse),
        "key_file": str(path),
        "key_version": ring.active_version,
        "warehouse_key_version": version,
    }


def _token_version(con: duckdb.DuckDBPyConnection) -> int | None:
    row = con.execute("SELECT version FROM meta_token_version").fetchall()
    return int(row[0][0]) if row else None


def _registered(con: duckdb.DuckDBPyConnection) -> set[int]:
    return {int(v) for (v,) in con.execute("SELECT version FROM meta_keys WHERE retired_at IS NULL").fetchall()}


def rotation_of_run(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, int | None] | None:
    """The key version a run rotated to, and the version it rekeyed from (if it got that far), from the privacy
    log's entries of that run (``key_registered``, ``rekeyed``); None when the run has not rotated."""
    needle = f'"run":{json.dumps(run_id)}'
    rows = con.execute(
        "SELECT decode(entry) FROM audit_log WHERE contains(decode(entry), ?) ORDER BY leaf_index", [needle]
    ).fetchall()
    version: int | None = None
    previous: int | None = None
    for (text,) in rows:
        entry = json.loads(text)
        if entry.get("run") != run_id:
            continue
        if entry.get("kind") == "key_registered":
            version = max(version or 0, int(entry["key_version"]))
        elif entry.get("kind") == "rekeyed":
            version = max(version or 0, int(entry["to_version"]))
            previous = int(entry["from_version"])
    return None if version is None else (version, previous)


def rotate_step(settings: Settings, *, run_id: str | None = None) -> RotateResult:
    """Add a new key version, make it active and register it in the warehouse; see the module docstring.

    Args:
        settings: ``warehouse`` and a writable key file (:func:`rotation_key_file`).
        run_id: The DAG run (or command) this rotation belongs to: its privacy-log entries carry it, and a second
            call with the same id finds the rotation made and adds nothing.

    Raises:
        KeyringError: no writable key file.
        KeyMismatchError: the key file is not the warehouse's key.
    """
    path = rotation_key_file(settings)
    ring = FileKeyProvider(path).load()
    with _warehouse(settings) as con, run_context(run_id):
        verify_key(con, ring)
        before = _token_version(con)
        if run_id is not None and (done := rotation_of_run(con, run_id)) is not None:
            version, rekeyed_from = done
            previous = rekeyed_from if rekeyed_from is not None else before
            log.info("key rotation: this run rotated to key version %d already", version)
            return RotateResult(version, previous, rotated=False, resumed="this run rotated the key already")
        if ring.active_version not in _registered(con) or (before is not None and before != ring.active_version):
            check_key(con, ring)  # registers the version (key_registered, under this run)
            log.info("key rotation: finishing the rotation to key version %d made before", ring.active_version)
            return RotateResult(
                ring.active_version,
                before,
                rotated=False,
                resumed=f"key version {ring.active_version} was added before and is not in use yet: it is finished, "
                "not rotated again",
            )
        rotated = rotate_key_file(path)
        check_key(con, rotated)
        log.info("key rotation: key version %d added and active", rotated.active_version)
        return RotateResult(rotated.active_version, before, rotated=True)


def load_rotation_ring(settings: Settings) -> Keyring:
    """The key file's keyring for a rekey or a retirement (``key_file`` must be set)."""
    settings.require("warehouse", "key_file")
    assert settings.key_file is not None
    return FileKeyProvider(settings.key_file).load()


def rekey_step(
    settings: Settings,
    *,
    run_id: str | None = None,
    expect_version: int | None = None,
    progress: Progress | None = None,
) -> RekeySummary:
    """Move every pseudonym and sealed blob to the key file's active version (nothing to do when they use it).

    Args:
        expect_version: The version a rotation made; refused when the key file's active version is another one
            (the key file changed in between).

    Raises:
        KeyringError: the active version is not ``expect_version``.
        KeyMismatchError, InvalidCiphertext, PipelineError: see :func:`pipeline.warehouse.rekey.rekey_warehouse`.
    """
    ring = load_rotation_ring(settings)
    if expect_version is not None and ring.active_version != expect_version:
        raise KeyringError(
            f"the key file's active version is {ring.active_version}, not {expect_version} as rotated: it changed "
            "since; rekey by hand (`migralink keys rekey`) once you know why"
        )
    with _warehouse(settings) as con, run_context(run_id):
        return rekey_warehouse(con, ring, progress=progress)


def archives_sealed_with(archive: Path | None, version: int) -> int:
    """How many landing archives under ``archive`` are sealed with key ``version`` (read from their headers)."""
    if archive is None or not archive.is_dir():
        return 0
    found = 0
    header = len(ARCHIVE_MAGIC) + 5 + 5  # magic, the first chunk's flag and length, then b"ML1" and the version
    for path in archive.glob(f"*/*{ARCHIVE_SUFFIX}"):
        with path.open("rb") as fh:
            head = fh.read(header)
        if len(head) == header and int.from_bytes(head[-2:], "big") == version:
            found += 1
    return found


def retire_step(settings: Settings, version: int | None = None, *, run_id: str | None = None) -> RetireResult:
    """Remove key ``version`` (every version but the active one when None) from the key file and the warehouse.

    A version must no longer be used by the warehouse (its pseudonyms, sealed identities and quarantine) nor seal
    a landing archive (``landing_archive``: restoring it would need the version). A version that is not in the key
    file any more is already retired (nothing to do). The warehouse records the retirement first, then the version
    leaves the key file; a call stopped in between is completed by the next one (either way round).

    Raises:
        KeyringError: ``version`` is the active one, or landing archives are sealed with it.
        PipelineError: the warehouse still uses it (run the rekey first).
        KeyMismatchError: the key file is not the warehouse's key.
    """
    ring = load_rotation_ring(settings)
    assert settings.key_file is not None
    if version == ring.active_version:
        raise KeyringError(f"key version {version} is the active version and cannot be retired")
    in_file = {v.version for v in ring.versions}
    result = RetireResult(ring.active_version)
    with _warehouse(settings) as con, run_context(run_id):
        listed = _registered(con)
        others = (in_file | listed) - {ring.active_version}
        # versions already out of the key file first: the warehouse must stop listing them before a key check
        wanted = [version] if version is not None else sorted(others, key=lambda v: (v in in_file, v))
        for number in wanted:
            if number not in in_file:
                if number in listed:  # out of the key file already: finish its retirement in the warehouse
                    with transaction(con):
                        retire_check(con, number)
                    result.retired.append(number)
                else:
                    result.already_retired.append(number)
                continue
            sealed = archives_sealed_with(settings.landing_archive, number)
            if sealed:
                raise KeyringError(
                    f"key version {number} seals {sealed} landing archive(s) under {settings.landing_archive}: "
                    "restoring them needs it, so it is kept"
                )
            check_key(con, ring)  # registers versions of the key file the warehouse has not seen
            if number in _registered(con):
                with transaction(con):  # the warehouse first: a key file that still holds a retired version is
                    retire_check(con, number)  # harmless, and the next call removes it from there
            retire_key_version(settings.key_file, number)
            result.retired.append(number)
    for number in result.retired:
        log.info("key version %d retired", number)
    return result
