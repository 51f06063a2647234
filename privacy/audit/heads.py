"""Signed tree heads (RFC 6962 §3.5) made with Ed25519, and the log's signing key.

A tree head commits to the log's size and root hash at one moment. What is signed is the TLS encoding of RFC 6962
§3.5's ``TreeHeadSignature`` (50 bytes, integers big-endian)::

    struct {
        Version version;                 /* v1: uint8 0 */
        SignatureType signature_type;    /* tree_hash: uint8 1 */
        uint64 timestamp;                /* milliseconds since the Unix epoch, UTC */
        uint64 tree_size;
        opaque sha256_root_hash[32];
    } TreeHeadSignature;

The signature is a plain Ed25519 signature (RFC 8032, 64 bytes) of those 50 bytes, with no pre-hashing and without
RFC 6962's ``DigitallySigned`` wrapper (which has no code point for Ed25519). An auditor checks a head with the
log's public key (PEM, SubjectPublicKeyInfo) and any Ed25519 library.

The key identifier is the hex SHA-256 of the public key's DER SubjectPublicKeyInfo, which is how RFC 6962 §3.2
defines a log's ``LogID``; from the exported PEM an auditor gets it with
``openssl pkey -pubin -in log.pub -outform DER | sha256sum``.

Security properties:
    * The signing key is its own file (PKCS#8 PEM, mode 0600), separate from the pseudonymization keyring: one
      leaking does not give away the other, and the signing key can be handed to whoever signs without giving
      them the power to pseudonymize.
    * :func:`verify_tree_head` returns False for any bad signature and never raises for one; it also refuses a
      head whose key identifier is not the key's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from privacy.audit.merkle import HASH_SIZE, AuditError
from privacy.errors import KeyringError

VERSION_V1 = 0
"""``Version.v1`` of RFC 6962 §3.2."""

SIGNATURE_TYPE_TREE_HASH = 1
"""``SignatureType.tree_hash`` of RFC 6962 §3.2 (``certificate_timestamp`` is 0)."""

SIGNED_LENGTH = 1 + 1 + 8 + 8 + HASH_SIZE
"""Length of the encoded ``TreeHeadSignature``: 50 bytes."""

SIGNATURE_LENGTH = 64
"""Length of an Ed25519 signature (RFC 8032)."""

_UINT64_MAX = 2**64 - 1
_KEY_ID = re.compile(r"[0-9a-f]{64}")


def new_signing_key_file(path: Path) -> Ed25519PrivateKey:
    """Create a new Ed25519 signing key and write it to ``path``; never overwrite an existing file.

    The file is an unencrypted PKCS#8 PEM with mode 0600. A missing parent directory is created with mode 0700.
    Keep the file apart from the pseudonymization key file.

    Returns:
        The new private key.

    Raises:
        KeyringError: the file exists, or it or its directory cannot be created.
    """
    if path.exists():
        raise KeyringError(f"signing key file {path} already exists; refusing to overwrite it")
    parent = path.parent
    if not parent.exists():
        try:
            parent.mkdir(mode=0o700, parents=True)
            os.chmod(parent, 0o700)
        except OSError as exc:
            raise KeyringError(f"cannot create the directory {parent}: {exc.strerror}") from None
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyringError(f"signing key file {path} already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise KeyringError(f"cannot create signing key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o600)
    return key


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read the Ed25519 signing key written by :func:`new_signing_key_file`.

    Raises:
        KeyringError: the file is missing or unreadable, or does not hold an unencrypted Ed25519 private key.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyringError(
            f"signing key file {path} does not exist; create one for a new log, or restore the log's key"
        ) from None
    except OSError as exc:
        raise KeyringError(f"cannot read signing key file {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyringError(
            f"signing key file {path} is not an unencrypted PEM private key (is it the pseudonymization key file?)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyringError(f"signing key file {path} holds a key that is not Ed25519")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """Return the public key as PEM (SubjectPublicKeyInfo), the form handed to auditors."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Read an Ed25519 public key from PEM (SubjectPublicKeyInfo), as exported by :func:`public_key_pem`.

    Raises:
        KeyringError: the data are not a PEM public key, or the key is not Ed25519.
    """
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyringError("the public key is not a PEM SubjectPublicKeyInfo") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyringError("the public key is not an Ed25519 key")
    return key


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Return the key identifier: hex SHA-256 of the DER SubjectPublicKeyInfo (RFC 6962 §3.2 ``LogID``)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def tree_head_signature_input(tree_size: int, timestamp_ms: int, root_hash: bytes) -> bytes:
    """Return the TLS encoding of RFC 6962 §3.5 ``TreeHeadSignature``: the 50 bytes that are signed.

    Raises:
        AuditError: a size or timestamp outside uint64, or a root hash that is not 32 bytes.
    """
    for name, value in (("tree size", tree_size), ("timestamp", timestamp_ms)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _UINT64_MAX:
            raise AuditError(f"the {name} of a tree head is an unsigned 64-bit integer")
    if not isinstance(root_hash, bytes) or len(root_hash) != HASH_SIZE:
        raise AuditError(f"the root hash of a tree head is {HASH_SIZE} bytes")
    return struct.pack(">BBQQ", VERSION_V1, SIGNATURE_TYPE_TREE_HASH, timestamp_ms, tree_size) + root_hash


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head: the log's size and root hash at a moment, signed with the log's key.

    Attributes:
        tree_size: number of entries in the log.
        timestamp_ms: when the head was made, milliseconds since the Unix epoch (UTC).
        root_hash: the RFC 6962 root hash of the first ``tree_size`` entries (32 bytes).
        signature: Ed25519 signature of :meth:`signed_bytes` (64 bytes).
        key_id: identifier of the signing key (:func:`key_id`), 64 lowercase hex digits; not signed, it says
            which key to check the signature with.
    """

    tree_size: int
    timestamp_ms: int
    root_hash: bytes
    signature: bytes
    key_id: str

    def __post_init__(self) -> None:
        tree_head_signature_input(self.tree_size, self.timestamp_ms, self.root_hash)
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_LENGTH:
            raise AuditError(f"the signature of a tree head is {SIGNATURE_LENGTH} bytes (Ed25519)")
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise AuditError("the key id of a tree head is 64 lowercase hex digits")

    def signed_bytes(self) -> bytes:
        """Return the 50 bytes the signature covers (RFC 6962 §3.5 ``TreeHeadSignature``)."""
        return tree_head_signature_input(self.tree_size, self.timestamp_ms, self.root_hash)

    def to_dict(self) -> dict[str, Any]:
        """Return the head as plain data: hex root hash, standard base64 signature."""
        return {
            "tree_size": self.tree_size,
            "timestamp_ms": self.timestamp_ms,
            "root_hash": self.root_hash.hex(),
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "key_id": self.key_id,
        }

    def to_json(self) -> str:
        """Return the head as one line of JSON (see :meth:`to_dict`), for a JSON-lines export."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, doc: object) -> TreeHead:
        """Rebuild a head from :meth:`to_dict`'s output.

        Raises:
            AuditError: a field is missing or malformed.
        """
        fields = ("tree_size", "timestamp_ms", "root_hash", "signature", "key_id")
        if not isinstance(doc, dict) or set(doc) != set(fields):
            raise AuditError(f"malformed tree head: expected exactly the fields {', '.join(fields)}")
        root_hex, signature_b64 = doc["root_hash"], doc["signature"]
        if not isinstance(root_hex, str) or not isinstance(signature_b64, str):
            raise AuditError("malformed tree head: root_hash is hex and signature is base64 text")
        try:
            root_hash = bytes.fromhex(root_hex)
            signature = base64.b64decode(signature_b64, validate=True)
        except (ValueError, binascii.Error):
            raise AuditError("malformed tree head: root_hash is not hex or signature is not base64") from None
        return cls(doc["tree_size"], doc["timestamp_ms"], root_hash, signature, doc["key_id"])

    @classmethod
    def from_json(cls, text: str | bytes) -> TreeHead:
        """Rebuild a head from one line of :meth:`to_json`'s output.

        Raises:
            AuditError: the text is not JSON or not a valid tree head.
        """
        try:
            doc = json.loads(text)
        except ValueError:
            raise AuditError("malformed tree head: not JSON") from None
        return cls.from_dict(doc)


def sign_tree_head(private: Ed25519PrivateKey, tree_size: int, timestamp_ms: int, root: bytes) -> TreeHead:
    """Sign the tree head (``tree_size``, ``timestamp_ms``, ``root``) with the log's key.

    Args:
        private: the log's signing key (:func:`load_signing_key`).
        tree_size: number of entries in the log.
        timestamp_ms: milliseconds since the Unix epoch (UTC); passed in so that heads can be tested.
        root: the root hash of the first ``tree_size`` entries.

    Raises:
        AuditError: a size or timestamp outside uint64, or a root hash that is not 32 bytes.
    """
    signature = private.sign(tree_head_signature_input(tree_size, timestamp_ms, root))
    return TreeHead(tree_size, timestamp_ms, root, signature, key_id(private))


def verify_tree_head(public: Ed25519PublicKey, head: TreeHead) -> bool:
    """Check a tree head's signature with the log's public key.

    Returns:
        True if ``head.key_id`` is the key's identifier and the signature of :meth:`TreeHead.signed_bytes` is valid;
        False otherwise (wrong key, or any change to the size, timestamp, root or signature). Never raises for a
        bad signature.
    """
    if not hmac.compare_digest(head.key_id.encode("ascii"), key_id(public).encode("ascii")):
        return False
    try:
        public.verify(head.signature, head.signed_bytes())
    except InvalidSignature:
        return False
    return True
