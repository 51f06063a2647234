"""Writing a release so that a reader never sees half of one.

A purpose's release is built in a hidden directory beside its final place (``published/.incoming-<id>``), every
file and the directory fsynced, and then renamed into ``published/<YYYY-MM-DD>/<purpose>/`` in one step. A
release replacing an earlier one of the same day and purpose moves the earlier one aside first and deletes it
only after the new one is in place; any failure puts the earlier one back and removes the hidden directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from pipeline.warehouse.mirror import fsync_path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_file(directory: Path, name: str, data: bytes) -> str:
    """Write ``data`` to ``directory/name`` (mode 0640), fsync it, and return its SHA-256."""
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return sha256(data)


def write_manifest(directory: Path, manifest: dict[str, object]) -> str:
    """``manifest.json`` (sorted keys, UTF-8); returns its SHA-256."""
    data = (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")
    return write_file(directory, "manifest.json", data)


@contextlib.contextmanager
def atomic_release(target: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    """Yield (a hidden directory to fill, a function that puts it in place at ``target``).

    Call the function once everything is written (and, for the ledger, inside the database transaction so that a
    failed commit can still be undone: on an exception after it, the earlier release is put back). On any
    exception the hidden directory is removed and ``target`` is as it was (with the date directory above it, when
    this call made it)."""
    made = not target.parent.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.parent.parent / f".incoming-{uuid.uuid4().hex}"
    incoming.mkdir(mode=0o750)
    aside: Path | None = None
    placed = False

    def place() -> None:
        nonlocal aside, placed
        fsync_path(incoming)
        if target.exists():
            aside = target.parent.parent / f".replaced-{uuid.uuid4().hex}"
            os.replace(target, aside)
        os.replace(incoming, target)
        fsync_path(target.parent)
        placed = True

    try:
        yield incoming, place
    except BaseException:
        if placed:
            shutil.rmtree(target, ignore_errors=True)
        if aside is not None:
            os.replace(aside, target)
        shutil.rmtree(incoming, ignore_errors=True)
        if made:
            with contextlib.suppress(OSError):  # only when empty
                target.parent.rmdir()
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def discard_unrecorded(published: Path, recorded: set[str], since_ns: int) -> list[Path]:
    """Remove what releases that were not recorded left under ``published``: the hidden directories of releases
    being written (``.incoming-*``), and the release directories (``<date>/<purpose>/``) made at or after
    ``since_ns`` (nanoseconds since the epoch) whose manifest's release id is not in ``recorded``. Used when a night
    is rolled back (:mod:`pipeline.nightly.unit`): its ledger rows are gone, so must its files be. Returns what was
    removed."""
    removed: list[Path] = []
    if not published.is_dir():
        return removed
    for incoming in sorted(published.glob(".incoming-*")):
        shutil.rmtree(incoming, ignore_errors=True)
        removed.append(incoming)
    for manifest in sorted(published.glob("*/*/manifest.json")):
        release = manifest.parent
        if release.stat().st_mtime_ns < since_ns:
            continue
        try:
            release_id = json.loads(manifest.read_text(encoding="utf-8")).get("release_id")
        except (OSError, ValueError):
            release_id = None
        if release_id not in recorded:
            shutil.rmtree(release, ignore_errors=True)
            removed.append(release)
            with contextlib.suppress(OSError):  # the date's directory, when nothing else is in it
                release.parent.rmdir()
    return removed
