"""Versioned master keys, their storage and the per-purpose subkeys derived from them.

A key file is a small JSON document (mode 0600)::

    {"format": "migralink-keyring/1", "key_id": "<hex>", "active_version": 1,
     "versions": [{"version": 1, "created_at": "2026-11-27T07:00:00+00:00", "secret": "<base64url>"}]}

Security properties:
    * Secrets are 256-bit random values from :func:`os.urandom`.
    * Every pseudonym is derived from a subkey obtained with HKDF-SHA256 from one key version and a
      purpose label, so tokens of different fields or purposes are unrelated.
    * The key fingerprint (itself an HKDF output) is what the warehouse stores to recognise its key;
      it reveals nothing about the secret and is compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privacy.errors import KeyMismatchError, KeyringError

KEYRING_FORMAT = "migralink-keyring/1"
MIN_SECRET_BYTES = 32
_SUBKEY_SALT = b"migralink-subkey-v1"


@dataclass(frozen=True)
class KeyVersion:
    """One version of the master key."""

    version: int
    secret: bytes = field(repr=False)
    created_at: str

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise KeyringError(
                f"key version {self.version} is {len(self.secret) * 8} bits; at least "
                f"{MIN_SECRET_BYTES * 8} bits are required (create one with `migralink keys init`)"
            )


@dataclass(frozen=True)
class Keyring:
    """An ordered set of key versions with one active version.

    Examples:
        >>> ring = Keyring.generate(now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        >>> len(ring.subkey("token/family_name"))
        32
    """

    key_id: str
    active_version: int
    versions: tuple[KeyVersion, ...]

    def __post_init__(self) -> None:
        if not self.versions:
            raise KeyringError("the key file holds no key version")
        if self.active_version not in {v.version for v in self.versions}:
            raise KeyringError(f"active key version {self.active_version} is not in the key file")

    @classmethod
    def generate(cls, *, now: dt.datetime | None = None) -> Keyring:
        """Create a keyring with one fresh 256-bit version."""
        created = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
        return cls(
            key_id=os.urandom(8).hex(),
            active_version=1,
            versions=(KeyVersion(1, os.urandom(MIN_SECRET_BYTES), created),),
        )

    def version(self, number: int | None = None) -> KeyVersion:
        """Return key version ``number`` (default: the active one)."""
        wanted = self.active_version if number is None else number
        for v in self.versions:
            if v.version == wanted:
                return v
        raise KeyringError(f"key version {wanted} is not in the key file (it may have been retired)")

    def subkey(self, purpose: str, version: int | None = None, length: int = 32) -> bytes:
        """Derive the subkey for ``purpose`` from one key version with HKDF-SHA256.

        Args:
            purpose: A label such as ``"token/family_name"``; different labels give unrelated keys.
            version: Key version; the active one by default.
            length: Subkey length in bytes.
        """
        kdf = HKDF(
            algorithm=hashes.SHA256(),
            length=length,
            salt=_SUBKEY_SALT,
            info=f"migralink/{self.key_id}/{purpose}".encode(),
        )
        return kdf.derive(self.version(version).secret)

    def fingerprint(self, version: int | None = None) -> str:
        """A public fingerprint of one key version, safe to store and print."""
        return self.subkey("fingerprint", version, length=16).hex()

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": KEYRING_FORMAT,
                "key_id": self.key_id,
                "active_version": self.active_version,
                "versions": [
                    {
                        "version": v.version,
                        "created_at": v.created_at,
                        "secret": base64.urlsafe_b64encode(v.secret).decode(),
                    }
                    for v in self.versions
                ],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, *, origin: str) -> Keyring:
        """Parse a keyring document; ``origin`` names where it came from in error messages."""
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise KeyringError(f"{origin} is not a migralink key file (not JSON)") from None
        if not isinstance(doc, Mapping) or doc.get("format") != KEYRING_FORMAT:
            raise KeyringError(f"{origin} is not a migralink key file (format is not {KEYRING_FORMAT})")
        try:
            versions = tuple(_parse_version(v) for v in doc["versions"])
            return cls(key_id=str(doc["key_id"]), active_version=int(doc["active_version"]), versions=versions)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise KeyringError(f"{origin} is malformed: it needs key_id, active_version and versions") from None


def _parse_version(raw: Any) -> KeyVersion:
    secret = base64.urlsafe_b64decode(str(raw["secret"]).encode())
    return KeyVersion(version=int(raw["version"]), secret=secret, created_at=str(raw["created_at"]))


class KeyProvider(Protocol):
    """Where the keyring comes from (file, environment, Airflow, Vault...)."""

    def load(self) -> Keyring: ...


@dataclass(frozen=True)
class FileKeyProvider:
    """Reads the keyring from a key file."""

    path: Path

    def load(self) -> Keyring:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyringError(
                f"key file {self.path} does not exist: a warehouse built before needs its original key file (a new "
                "key would not match its pseudonyms); only for a new warehouse create one with "
                f"`migralink keys init --key-file {self.path}`"
            ) from None
        except OSError as exc:
            raise KeyringError(f"cannot read key file {self.path}: {exc.strerror}") from None
        return Keyring.from_json(text, origin=f"key file {self.path}")


@dataclass(frozen=True)
class EnvKeyProvider:
    """Reads the keyring document from an environment variable."""

    variable: str = "MIGRALINK_KEYRING"

    def load(self) -> Keyring:
        text = os.environ.get(self.variable)
        if not text:
            raise KeyringError(f"environment variable {self.variable} is not set or empty")
        return Keyring.from_json(text, origin=f"environment variable {self.variable}")


def write_new_key_file(path: Path, *, now: dt.datetime | None = None) -> Keyring:
    """Create a new key file at ``path`` with mode 0600; never overwrite an existing file."""
    if path.exists():
        raise KeyringError(f"key file {path} already exists; refusing to overwrite it")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # e.g. secrets/ on a fresh checkout
    except OSError as exc:
        raise KeyringError(f"cannot create the directory {path.parent}: {exc.strerror}") from None
    ring = Keyring.generate(now=now)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyringError(f"key file {path} already exists; refusing to overwrite it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(ring.to_json())
    os.chmod(path, 0o600)
    return ring


def _replace_key_file(path: Path, ring: Keyring) -> None:
    """Write ``ring`` to ``path`` atomically (temporary file with mode 0600, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(ring.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def rotate_key_file(path: Path, *, now: dt.datetime | None = None) -> Keyring:
    """Add a new random version to the key file and make it the active one; older versions stay readable."""
    ring = FileKeyProvider(path).load()
    created = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    number = max(v.version for v in ring.versions) + 1
    rotated = Keyring(
        key_id=ring.key_id,
        active_version=number,
        versions=(*ring.versions, KeyVersion(number, os.urandom(MIN_SECRET_BYTES), created)),
    )
    _replace_key_file(path, rotated)
    return rotated


def retire_key_version(path: Path, version: int) -> Keyring:
    """Remove ``version`` from the key file; the active version cannot be retired."""
    ring = FileKeyProvider(path).load()
    if version == ring.active_version:
        raise KeyringError(f"key version {version} is the active version and cannot be retired")
    ring.version(version)  # raises if it is not there
    kept = Keyring(ring.key_id, ring.active_version, tuple(v for v in ring.versions if v.version != version))
    _replace_key_file(path, kept)
    return kept


def verify_fingerprint(ring: Keyring, version: int, expected: str) -> None:
    """Raise :class:`KeyMismatchError` unless ``ring`` holds the key version that made ``expected``."""
    try:
        actual = ring.fingerprint(version)
    except KeyringError:
        raise KeyMismatchError(f"the key offered lacks version {version}, which the warehouse was built with") from None
    if not hmac.compare_digest(actual.encode(), expected.encode()):
        raise KeyMismatchError(
            "the key offered is not the key this warehouse was built with; "
            "use the original key file (pseudonyms made with another key would not link)"
        )
