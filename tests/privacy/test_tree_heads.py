"""Signed tree heads: the RFC 6962 §3.5 byte layout, signatures, wrong keys, tampering, JSON, key files."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from privacy.audit.heads import (
    SIGNED_LENGTH,
    TreeHead,
    key_id,
    load_public_key,
    load_signing_key,
    new_signing_key_file,
    public_key_pem,
    sign_tree_head,
    verify_tree_head,
)
from privacy.audit.merkle import AuditError
from privacy.errors import KeyringError
from privacy.keys import write_new_key_file

KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"test signing key").digest())
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"another signing key").digest())
ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")  # 8-leaf reference root
NOON = 1_767_268_800_000  # 2026-01-01T12:00:00Z in milliseconds


def _head(**changes: object) -> TreeHead:
    head = sign_tree_head(KEY, 8, NOON, ROOT)
    doc = head.to_dict() | changes
    return TreeHead.from_dict(doc)


def test_a_signed_head_verifies_with_the_key() -> None:
    head = sign_tree_head(KEY, 8, NOON, ROOT)
    assert (head.tree_size, head.timestamp_ms, head.root_hash) == (8, NOON, ROOT)
    assert len(head.signature) == 64
    assert head.key_id == key_id(KEY.public_key())
    assert verify_tree_head(KEY.public_key(), head) is True


def test_signed_bytes_are_the_tree_head_signature_structure_byte_by_byte() -> None:
    root = bytes(range(32))
    head = sign_tree_head(KEY, 0x0102030405060708, 0x1112131415161718, root)
    signed = head.signed_bytes()
    assert len(signed) == SIGNED_LENGTH == 1 + 1 + 8 + 8 + 32 == 50
    assert signed[0] == 0  # version v1
    assert signed[1] == 1  # signature_type tree_hash
    assert signed[2:10] == bytes([0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18])  # uint64 timestamp, big-endian
    assert signed[10:18] == bytes([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08])  # uint64 tree_size
    assert signed[18:] == root  # opaque sha256_root_hash[32]
    assert signed.hex() == "0001" + "1112131415161718" + "0102030405060708" + root.hex()


def test_an_auditor_checks_a_head_with_nothing_but_ed25519_and_the_pem() -> None:
    head = sign_tree_head(KEY, 8, NOON, ROOT)
    doc = json.loads(head.to_json())
    message = b"\x00\x01" + doc["timestamp_ms"].to_bytes(8, "big") + doc["tree_size"].to_bytes(8, "big")
    message += bytes.fromhex(doc["root_hash"])
    public = serialization.load_pem_public_key(public_key_pem(KEY))
    assert isinstance(public, Ed25519PublicKey)
    public.verify(base64.b64decode(doc["signature"]), message)  # raises if invalid
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert doc["key_id"] == hashlib.sha256(der).hexdigest()


def test_a_head_signed_by_another_key_fails() -> None:
    forged = sign_tree_head(OTHER_KEY, 8, NOON, ROOT)
    assert verify_tree_head(OTHER_KEY.public_key(), forged)
    assert verify_tree_head(KEY.public_key(), forged) is False
    relabelled = TreeHead.from_dict(forged.to_dict() | {"key_id": key_id(KEY)})
    assert verify_tree_head(KEY.public_key(), relabelled) is False


def test_the_right_head_fails_with_a_wrong_public_key() -> None:
    head = sign_tree_head(KEY, 8, NOON, ROOT)
    assert verify_tree_head(OTHER_KEY.public_key(), head) is False
    assert verify_tree_head(Ed25519PrivateKey.generate().public_key(), head) is False


@given(
    tree_size=st.integers(0, 2**64 - 1),
    timestamp_ms=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    part=st.sampled_from(["root_hash", "tree_size", "timestamp_ms", "signature"]),
    data=st.data(),
)
def test_any_single_byte_change_in_a_head_is_detected(
    tree_size: int, timestamp_ms: int, root: bytes, part: str, data: st.DataObject
) -> None:
    head = sign_tree_head(KEY, tree_size, timestamp_ms, root)
    assert verify_tree_head(KEY.public_key(), head)
    raw = {
        "root_hash": head.root_hash,
        "tree_size": tree_size.to_bytes(8, "big"),
        "timestamp_ms": timestamp_ms.to_bytes(8, "big"),
        "signature": head.signature,
    }[part]
    position = data.draw(st.integers(0, len(raw) - 1), label="byte")
    mask = data.draw(st.integers(1, 255), label="xor")
    changed = raw[:position] + bytes([raw[position] ^ mask]) + raw[position + 1 :]
    value: object = int.from_bytes(changed, "big") if part in ("tree_size", "timestamp_ms") else changed
    tampered = TreeHead(**(vars(head) | {part: value}))
    assert verify_tree_head(KEY.public_key(), tampered) is False


@given(position=st.integers(0, 63), digit=st.sampled_from("0123456789abcdef"))
def test_a_changed_key_id_is_detected(position: int, digit: str) -> None:
    head = sign_tree_head(KEY, 8, NOON, ROOT)
    changed = head.key_id[:position] + digit + head.key_id[position + 1 :]
    tampered = TreeHead(**(vars(head) | {"key_id": changed}))
    assert verify_tree_head(KEY.public_key(), tampered) is (changed == head.key_id)


def test_json_round_trip() -> None:
    head = sign_tree_head(KEY, 8, NOON, ROOT)
    line = head.to_json()
    assert "\n" not in line
    doc = json.loads(line)
    assert doc == {
        "tree_size": 8,
        "timestamp_ms": NOON,
        "root_hash": ROOT.hex(),
        "signature": base64.b64encode(head.signature).decode(),
        "key_id": key_id(KEY),
    }
    again = TreeHead.from_json(line)
    assert again == head
    assert verify_tree_head(KEY.public_key(), again)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "expected exactly the fields"),
        (json.dumps({"tree_size": 8}), "expected exactly the fields"),
        (_head().to_json()[:-1] + ',"extra":1}', "expected exactly the fields"),
        (json.dumps(_head().to_dict() | {"root_hash": "zz"}), "not hex"),
        (json.dumps(_head().to_dict() | {"root_hash": 5}), "root_hash is hex"),
        (json.dumps(_head().to_dict() | {"signature": "!!!!"}), "not base64"),
        (json.dumps(_head().to_dict() | {"root_hash": ROOT.hex()[:62]}), "root hash of a tree head is 32 bytes"),
        (json.dumps(_head().to_dict() | {"signature": base64.b64encode(b"x" * 63).decode()}), "64 bytes"),
        (json.dumps(_head().to_dict() | {"tree_size": -1}), "tree size of a tree head is an unsigned 64-bit"),
        (json.dumps(_head().to_dict() | {"tree_size": 2**64}), "unsigned 64-bit"),
        (json.dumps(_head().to_dict() | {"tree_size": True}), "unsigned 64-bit"),
        (json.dumps(_head().to_dict() | {"timestamp_ms": 1.5}), "timestamp of a tree head"),
        (json.dumps(_head().to_dict() | {"key_id": key_id(KEY).upper()}), "64 lowercase hex"),
    ],
    ids=[
        "not JSON",
        "not an object",
        "missing fields",
        "extra field",
        "bad hex",
        "root not text",
        "bad base64",
        "short root",
        "short signature",
        "negative size",
        "size beyond uint64",
        "boolean size",
        "fractional timestamp",
        "upper-case key id",
    ],
)
def test_malformed_heads_are_audit_errors(text: str, message: str) -> None:
    with pytest.raises(AuditError, match=message):
        TreeHead.from_json(text)


def test_signing_refuses_what_the_structure_cannot_hold() -> None:
    with pytest.raises(AuditError, match="32 bytes"):
        sign_tree_head(KEY, 8, NOON, ROOT[:31])
    with pytest.raises(AuditError, match="unsigned 64-bit"):
        sign_tree_head(KEY, -1, NOON, ROOT)


# --- Key files ---


def test_new_signing_key_file_is_private_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "audit-signing.pem"
    key = new_signing_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
    loaded = load_signing_key(path)
    assert public_key_pem(loaded) == public_key_pem(key)
    assert verify_tree_head(key.public_key(), sign_tree_head(loaded, 1, NOON, ROOT))


def test_existing_signing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "audit-signing.pem"
    new_signing_key_file(path)
    before = path.read_bytes()
    with pytest.raises(KeyringError, match="already exists; refusing to overwrite"):
        new_signing_key_file(path)
    assert path.read_bytes() == before


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o750)
    new_signing_key_file(tmp_path / "k.pem")
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o750


def _ec_private_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _encrypted_pem() -> bytes:
    return KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("keyring", "not an unencrypted PEM private key"),
        (b"garbage", "not an unencrypted PEM private key"),
        (_encrypted_pem(), "not an unencrypted PEM private key"),
        (_ec_private_pem(), "not Ed25519"),
    ],
    ids=["missing", "the pseudonymization key file", "garbage", "encrypted", "an EC key"],
)
def test_unusable_signing_key_files_are_clear_errors(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "k.pem"
    if content == "keyring":
        write_new_key_file(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(KeyringError, match=message) as info:
        load_signing_key(path)
    assert "PRIVATE" not in str(info.value)


def test_public_key_pem_export_and_import() -> None:
    pem = public_key_pem(KEY)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert public_key_pem(KEY.public_key()) == pem
    public = load_public_key(pem)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert public.public_bytes(*raw) == KEY.public_key().public_bytes(*raw)
    assert verify_tree_head(public, sign_tree_head(KEY, 3, NOON, ROOT))


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (b"not a key", "not a PEM SubjectPublicKeyInfo"),
        (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
            "not an Ed25519 key",
        ),
    ],
    ids=["garbage", "an EC key"],
)
def test_unusable_public_keys_are_clear_errors(pem: bytes, message: str) -> None:
    with pytest.raises(KeyringError, match=message):
        load_public_key(pem)


def test_key_id_is_sha256_of_the_der_subject_public_key_info() -> None:
    raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    # RFC 8410: an Ed25519 SubjectPublicKeyInfo is this 12-byte DER prefix and the 32-byte public key.
    der = bytes.fromhex("302a300506032b6570032100") + raw
    assert key_id(KEY.public_key()) == key_id(KEY) == hashlib.sha256(der).hexdigest()
    assert key_id(OTHER_KEY) != key_id(KEY)
