"""The pipeline's side of the privacy log: the signing key, the run entries and the signed tree heads.

Steps append their entries inside their own transactions (:func:`privacy.audit.log.append`); this module adds
what brackets them: ``run_started`` (command, DAG run id, code version, hashes of the settings and of the purpose
register) and ``run_finished``, and :func:`seal_log`, which signs the tree as it stands with the log's Ed25519
key (separate from the pseudonymization key: ``audit_key_file``, by default the key file's name plus
``.audit.pem``). The key is made on the first seal of a log that has no head yet; once the log has a head, a
missing key or another key is refused in one line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import asdict
from importlib import metadata
from typing import TYPE_CHECKING, Any

import duckdb

from pipeline.errors import ConfigError
from pipeline.warehouse.connection import transaction
from privacy.audit.heads import key_id, load_signing_key, new_signing_key_file
from privacy.audit.log import append, seal, signing_key_of_log

if TYPE_CHECKING:
    from pipeline.nightly.settings import Settings
    from privacy.audit.heads import TreeHead

log = logging.getLogger(__name__)


def code_version() -> str:
    try:
        return metadata.version("migralink")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
        return "unknown"


def settings_sha256(settings: Settings) -> str:
    """SHA-256 of the settings in force (paths and parameters; no key material is in them)."""
    text = json.dumps(asdict(settings), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def signing_key(settings: Settings, con: duckdb.DuckDBPyConnection) -> Any:
    """The log's private signing key; made (mode 0600) when the log has no signed head yet.

    Raises:
        ConfigError: no place for the key is configured, or the log was signed by another key than the file's.
    """
    path = settings.audit_key_path
    signed_by = signing_key_of_log(con)
    if path is None:
        raise ConfigError("the privacy log needs a signing key: set audit_key_file (MIGRALINK_AUDIT_KEY_FILE)")
    if not path.exists():
        if signed_by is not None:
            raise ConfigError(
                f"the privacy log's signing key {path} is missing: the log is signed by key {signed_by[:16]}; "
                "restore that key file (audit_key_file)"
            )
        new_signing_key_file(path)
        log.warning("made a new signing key for the privacy log: %s (export its public key for the auditors)", path)
    private = load_signing_key(path)
    mine = key_id(private.public_key())
    if signed_by is not None and mine != signed_by:
        raise ConfigError(
            f"{path} is not the key that signed the privacy log (key {mine[:16]}, the log's is {signed_by[:16]})"
        )
    return private


def seal_log(settings: Settings, con: duckdb.DuckDBPyConnection) -> TreeHead | None:
    """Sign the log's tree as it stands (one transaction) when it grew since the last head."""
    private = signing_key(settings, con)
    with transaction(con):
        return seal(con, private)


def seal_if_configured(settings: Settings, con: duckdb.DuckDBPyConnection) -> TreeHead | None:
    """:func:`seal_log` when the settings name the log's signing key (``audit_key_file`` or a key file); without
    one the entries stay unsigned until the next night signs them (``audit verify`` counts them)."""
    return seal_log(settings, con) if settings.audit_key_path is not None else None


def run_started(
    settings: Settings, con: duckdb.DuckDBPyConnection, command: str, run_date: dt.date | None, dag_run_id: str | None
) -> None:
    """Append ``run_started`` in its own transaction."""
    from privacy.register import load_register

    register = load_register()
    with transaction(con):
        append(
            con,
            "run_started",
            command=command,
            dag_run_id=dag_run_id,
            code_version=code_version(),
            config_sha256=settings_sha256(settings),
            register_version=register.version,
            register_sha256=register.sha256,
            run_date=run_date.isoformat() if run_date else None,
        )


def run_finished(settings: Settings, con: duckdb.DuckDBPyConnection, command: str, status: str) -> TreeHead | None:
    """Append ``run_finished`` and sign the tree (the end of a run)."""
    with transaction(con):
        append(con, "run_finished", command=command, status=status)
    return seal_log(settings, con)
