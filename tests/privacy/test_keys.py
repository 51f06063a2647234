"""Key files: creation, refusal to overwrite, malformed keys, fingerprints, wrong-key refusal."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from unittest import mock

import pytest

from privacy.errors import KeyMismatchError, KeyringError
from privacy.keys import EnvKeyProvider, FileKeyProvider, Keyring, verify_fingerprint, write_new_key_file


def test_new_key_file_is_private_and_at_least_256_bits(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    ring = write_new_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = FileKeyProvider(path).load()
    assert loaded == ring
    assert len(loaded.version().secret) * 8 >= 256


def test_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    write_new_key_file(path)
    before = path.read_bytes()
    with pytest.raises(KeyringError, match="already exists"):
        write_new_key_file(path)
    assert path.read_bytes() == before


def _doc(secret: bytes, **changes: object) -> str:
    doc = {
        "format": "migralink-keyring/1",
        "key_id": "abc",
        "active_version": 1,
        "versions": [{"version": 1, "created_at": "2026-01-01", "secret": base64.urlsafe_b64encode(secret).decode()}],
    }
    doc.update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not JSON"),
        ("{}", "format is not"),
        (_doc(b"x" * 16), "128 bits; at least 256"),
        (_doc(b"x" * 32, active_version=2), "active key version 2"),
        (_doc(b"x" * 32, versions=[{"version": 1}]), "malformed"),
    ],
    ids=["empty", "not a keyring", "short", "no active version", "malformed version"],
)
def test_bad_key_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "k.key"
    path.write_text(text)
    with pytest.raises(KeyringError, match=message) as info:
        FileKeyProvider(path).load()
    assert "eHh4" not in str(info.value)  # no key material in messages


def test_missing_key_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="migralink keys init"):
        FileKeyProvider(tmp_path / "nope.key").load()


def test_environment_key_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = Keyring.generate()
    monkeypatch.setenv("MIGRALINK_KEYRING", ring.to_json())
    assert EnvKeyProvider().load() == ring
    monkeypatch.setenv("MIGRALINK_KEYRING", "")
    with pytest.raises(KeyringError, match="not set or empty"):
        EnvKeyProvider().load()


def test_subkeys_differ_by_purpose_and_by_key() -> None:
    a, b = Keyring.generate(), Keyring.generate()
    keys = {a.subkey("token/family_name"), a.subkey("token/given_names"), b.subkey("token/family_name")}
    assert len(keys) == 3
    assert a.subkey("token/family_name") == a.subkey("token/family_name")


def test_wrong_key_is_refused_with_a_constant_time_comparison() -> None:
    a, b = Keyring.generate(), Keyring.generate()
    verify_fingerprint(a, 1, a.fingerprint())
    with (
        mock.patch("privacy.keys.hmac.compare_digest", wraps=__import__("hmac").compare_digest) as cmp,
        pytest.raises(KeyMismatchError, match="not the key this warehouse was built with"),
    ):
        verify_fingerprint(b, 1, a.fingerprint())
    assert cmp.called
    with pytest.raises(KeyMismatchError, match="lacks version 2"):
        verify_fingerprint(a, 2, a.fingerprint())
