"""`migralink audit`: the privacy log for auditors — verify it, prove an entry or the consistency of two trees,
export the public key and the signed tree heads, and write the auditor's HTML view.

Everything here reads the warehouse read only, except nothing: an auditor's command never changes the log.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.cli.common import ConfigOpt, WarehouseOpt, console, open_warehouse
from pipeline.errors import PipelineError
from pipeline.nightly.settings import load_settings

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident privacy log: verify, prove, export, report.")
out = console()

KeyOpt = Annotated[
    Path | None,
    typer.Option("--key-file", help="The secret key file: the log's signing key is beside it (<key file>.audit.pem)."),
]
PublicKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--public-key",
        help="The log's public key (PEM) as the auditor keeps it (default: derived from the signing key file).",
    ),
]


def _public_key(settings: Any, pem: Path | None) -> Any:
    from privacy.audit.heads import load_public_key, load_signing_key

    if pem is not None:
        try:
            return load_public_key(pem.read_bytes())
        except (OSError, ValueError) as exc:
            raise PipelineError(f"cannot read the public key {pem}: {exc}") from None
    path = settings.audit_key_path
    if path is None or not path.exists():
        raise PipelineError(
            "give the log's public key with --public-key (or --key-file: the signing key beside it is used)"
        )
    return load_signing_key(path).public_key()


def _read_heads(path: Path) -> list[Any]:
    from privacy.audit.heads import TreeHead

    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [TreeHead.from_json(line) for line in lines]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"cannot read exported tree heads from {path}: {type(exc).__name__}") from None


@audit_app.command("verify")
def audit_verify(
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    public_key: PublicKeyOpt = None,
    key_file: KeyOpt = None,
    heads: Annotated[
        Path | None, typer.Option("--heads", help="Tree heads exported earlier (JSON lines) to check the log against.")
    ] = None,
) -> None:
    """Recompute the tree from the entries and check every signed tree head (exit 1 naming the first failure)."""
    from privacy.audit.log import verify

    settings = load_settings(config, warehouse=warehouse, key_file=key_file)
    key = _public_key(settings, public_key)
    exported = _read_heads(heads) if heads is not None else []
    with open_warehouse(settings, read_only=True) as con:
        result = verify(con, key, exported)
    if not result.ok:
        raise PipelineError(result.summary)
    out.print(result.summary)


@audit_app.command("prove")
def audit_prove(
    entry: Annotated[int, typer.Option("--entry", min=0, help="The leaf index of the entry.")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The entry's inclusion proof against the smallest signed tree head holding it (JSON, RFC 6962 §2.1.1)."""
    from privacy.audit.log import AuditError, prove

    with open_warehouse(load_settings(config, warehouse=warehouse), read_only=True) as con:
        try:
            proof = prove(con, entry)
        except AuditError as exc:
            raise PipelineError(str(exc)) from None
    sys.stdout.write(json.dumps(proof, indent=1) + "\n")


@audit_app.command("consistency")
def audit_consistency(
    first: Annotated[int, typer.Option("--first", min=1, help="The smaller tree size.")],
    second: Annotated[int, typer.Option("--second", min=1, help="The larger tree size.")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The consistency proof between two tree sizes (JSON, RFC 6962 §2.1.2)."""
    from privacy.audit.log import AuditError, consistency

    with open_warehouse(load_settings(config, warehouse=warehouse), read_only=True) as con:
        try:
            proof = consistency(con, first, second)
        except AuditError as exc:
            raise PipelineError(str(exc)) from None
    sys.stdout.write(json.dumps(proof, indent=1) + "\n")


@audit_app.command("public-key")
def audit_public_key(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the public key (PEM).")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    key_file: KeyOpt = None,
) -> None:
    """Export the log's public key (PEM) for the auditors to keep."""
    from privacy.audit.heads import key_id, public_key_pem

    key = _public_key(load_settings(config, warehouse=warehouse, key_file=key_file), None)
    if out_file.exists():
        raise PipelineError(f"{out_file} already exists; choose another --out")
    out_file.write_bytes(public_key_pem(key))
    out.print(f"public key {key_id(key)[:16]} written to {out_file}")


@audit_app.command("export-heads")
def audit_export_heads(
    out_file: Annotated[Path, typer.Option("--out", help="JSON lines file to write the signed tree heads to.")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Export every signed tree head (JSON lines) to keep outside the warehouse."""
    from privacy.audit.log import heads

    with open_warehouse(load_settings(config, warehouse=warehouse), read_only=True) as con:
        found = heads(con)
    if out_file.exists():
        raise PipelineError(f"{out_file} already exists; choose another --out")
    out_file.write_text("".join(h.to_json() + "\n" for h in found), encoding="utf-8")
    out.print(f"{len(found):,} signed tree heads written to {out_file}")


@audit_app.command("report")
def audit_report(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the auditor's HTML view.")],
    warehouse: WarehouseOpt = None,
    config: ConfigOpt = None,
    public_key: PublicKeyOpt = None,
    key_file: KeyOpt = None,
) -> None:
    """Write the auditor's view (static HTML): verification status, runs, entries with their proofs, heads."""
    from pipeline.audit.report import AuditRow, HeadRow, Verification, write_audit_report
    from privacy.audit.log import entries, heads, verify
    from privacy.audit.merkle import inclusion_proof

    settings = load_settings(config, warehouse=warehouse, key_file=key_file)
    key = _public_key(settings, public_key)
    with open_warehouse(settings, read_only=True) as con:
        result = verify(con, key)
        found = entries(con)
        signed = heads(con)
    hashes = [h for _i, _e, h in found]
    rows = []
    for index, entry, digest in found:
        head = next((h for h in signed if h.tree_size > index), None)
        path = [p.hex() for p in inclusion_proof(hashes, index, head.tree_size)] if head else []
        rows.append(AuditRow(index, entry, digest.hex(), path, head.tree_size if head else 0))
    head_rows = [
        HeadRow(h.tree_size, h.timestamp_ms, h.root_hash.hex(), str(h.to_dict()["signature"]), h.key_id) for h in signed
    ]
    page = write_audit_report(rows, head_rows, Verification(result.ok, result.summary), out_dir)
    out.print(f"auditor's view written to {page} ({result.summary})")
