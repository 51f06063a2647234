"""Key providers: Airflow Variable and connection, Vault KV v2 (fake client), the key_source factory."""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.errors import ConfigError
from pipeline.nightly.settings import Settings, load_settings
from privacy.errors import KeyringError
from privacy.keys import EnvKeyProvider, FileKeyProvider, Keyring
from privacy.providers import (
    AirflowConnectionKeyProvider,
    AirflowVariableKeyProvider,
    VaultKeyProvider,
    key_provider_from_settings,
    parse_key_source,
)

# Airflow reads its home when first imported: never touch a real one (tests/dags sets a throw-away home too).
if "airflow" not in sys.modules and "migralink-airflow-" not in os.environ.get("AIRFLOW_HOME", ""):
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="migralink-airflow-providers-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)


def secret_of(ring: Keyring) -> str:
    return base64.urlsafe_b64encode(ring.version().secret).decode()


def short_key_document() -> str:
    doc = json.loads(Keyring.generate().to_json())
    doc["versions"][0]["secret"] = base64.urlsafe_b64encode(b"k" * 16).decode()
    return json.dumps(doc)


BAD_DOCUMENTS = [
    # (id, document, message)
    ("not JSON", "not json at all", "not JSON"),
    ("wrong format", json.dumps({"format": "other"}), "format is not"),
    ("key too short", short_key_document(), "128 bits; at least 256 bits are required"),
]


def no_airflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "airflow", None)
    monkeypatch.setitem(sys.modules, "airflow.sdk", None)


@pytest.mark.airflow
def test_airflow_variable_happy_path_and_errors(ring: Keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("airflow.sdk")
    monkeypatch.setenv("AIRFLOW_VAR_MIGRALINK_KEYRING", ring.to_json())
    assert AirflowVariableKeyProvider("migralink_keyring").load() == ring
    with pytest.raises(KeyringError, match=r"^Airflow Variable missing_keyring does not exist$"):
        AirflowVariableKeyProvider("missing_keyring").load()
    for _id, document, message in BAD_DOCUMENTS:
        monkeypatch.setenv("AIRFLOW_VAR_BAD_KEYRING", document)
        with pytest.raises(KeyringError, match=message) as exc:
            AirflowVariableKeyProvider("bad_keyring").load()
        assert "Airflow Variable bad_keyring" in str(exc.value) and "kkkk" not in str(exc.value)


@pytest.mark.airflow
def test_airflow_connection_password_or_extra(ring: Keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("airflow.sdk")
    conns = {
        "KEY_IN_PASSWORD": {"conn_type": "generic", "password": ring.to_json()},
        "KEY_IN_EXTRA": {"conn_type": "generic", "extra": {"keyring": json.loads(ring.to_json())}},
        "KEY_IN_EXTRA_TEXT": {"conn_type": "generic", "extra": {"keyring": ring.to_json()}},
        "NO_KEY": {"conn_type": "generic", "login": "someone"},
        "BAD_KEY": {"conn_type": "generic", "password": short_key_document()},
    }
    for conn_id, spec in conns.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id}", json.dumps(spec))
    for conn_id in ("key_in_password", "key_in_extra", "key_in_extra_text"):
        assert AirflowConnectionKeyProvider(conn_id).load() == ring
    cases = [
        ("no_key", "^Airflow connection no_key has no password and no extra field keyring$"),
        ("missing", "^Airflow connection missing does not exist$"),
        ("bad_key", "password of Airflow connection bad_key: .*at least 256 bits"),
    ]
    for conn_id, message in cases:
        with pytest.raises(KeyringError, match=message):
            AirflowConnectionKeyProvider(conn_id).load()


def test_airflow_providers_read_nothing_when_built_and_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    no_airflow(monkeypatch)
    providers = [AirflowVariableKeyProvider("k"), AirflowConnectionKeyProvider("c")]  # as at DAG parse time
    for provider in providers:
        with pytest.raises(KeyringError, match=r"install migralink\[airflow\]$"):
            provider.load()


class FakeKV2:
    """The ``client.secrets.kv.v2`` part of hvac: returns a stored response or raises a stored error."""

    def __init__(self, response: Any = None, error: Exception | None = None) -> None:
        self.response, self.error, self.calls = response, error, []
        self.secrets = SimpleNamespace(kv=SimpleNamespace(v2=self))

    def read_secret_version(self, *, path: str, mount_point: str, raise_on_deleted_version: bool) -> Any:
        self.calls.append((path, mount_point, raise_on_deleted_version))
        if self.error:
            raise self.error
        return self.response


def kv2(data: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"data": data, "metadata": {"version": 3}}}


def vault(client: FakeKV2) -> VaultKeyProvider:
    return VaultKeyProvider("https://vault.test:8200", "migralink/keyring", mount_point="kv", client=client)


def test_vault_reads_the_keyring_field_or_the_document_itself(ring: Keyring) -> None:
    as_text = FakeKV2(kv2({"keyring": ring.to_json()}))
    assert vault(as_text).load() == ring
    assert as_text.calls == [("migralink/keyring", "kv", True)]
    assert vault(FakeKV2(kv2({"keyring": json.loads(ring.to_json())}))).load() == ring
    assert vault(FakeKV2(kv2(json.loads(ring.to_json())))).load() == ring


def _named_error(name: str) -> Exception:
    return type(name, (Exception,), {})("server said: secret=" + "k" * 40)


VAULT_ERRORS = [
    # (id, fake client, message)
    ("missing secret", FakeKV2(error=_named_error("InvalidPath")), "Vault secret kv/migralink/keyring does not exist"),
    ("forbidden", FakeKV2(error=_named_error("Forbidden")), r"access to Vault secret kv/migralink/keyring .*policy$"),
    (
        "server down",
        FakeKV2(error=_named_error("VaultDown")),
        r"cannot read Vault secret kv/migralink/keyring \(VaultDown\)$",
    ),
    ("not kv v2", FakeKV2({"data": "x"}), "is not a KV version 2 secret$"),
    ("empty field", FakeKV2(kv2({"keyring": ""})), "holds no keyring$"),
    ("short key", FakeKV2(kv2({"keyring": short_key_document()})), "at least 256 bits"),
]


@pytest.mark.parametrize(("client", "message"), [c[1:] for c in VAULT_ERRORS], ids=[c[0] for c in VAULT_ERRORS])
def test_vault_errors_are_one_line_and_reveal_nothing(client: FakeKV2, message: str) -> None:
    with pytest.raises(KeyringError, match=message) as exc:
        vault(client).load()
    assert "\n" not in str(exc.value) and "kkkk" not in str(exc.value)


def test_vault_builds_an_hvac_client_from_url_and_token(ring: Keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hvac", None)
    with pytest.raises(KeyringError, match=r"install migralink\[vault\]$"):
        VaultKeyProvider("https://vault.test", "p").load()
    built: list[tuple[str, str]] = []

    def client(*, url: str, token: str) -> FakeKV2:
        built.append((url, token))
        return FakeKV2(kv2({"keyring": ring.to_json()}))

    monkeypatch.setitem(sys.modules, "hvac", SimpleNamespace(Client=client))
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    with pytest.raises(KeyringError, match=r"no Vault token for Vault secret secret/p: set VAULT_TOKEN$"):
        VaultKeyProvider("https://vault.test", "p").load()
    monkeypatch.setenv("VAULT_TOKEN", "s.env-token")
    assert VaultKeyProvider("https://vault.test", "p").load() == ring
    assert VaultKeyProvider("https://vault.test", "p", token="s.given").load() == ring
    assert built == [("https://vault.test", "s.env-token"), ("https://vault.test", "s.given")]
    assert "s.given" not in repr(VaultKeyProvider("https://vault.test", "p", token="s.given"))


FACTORY = [
    # (id, settings, expected provider)
    ("file", Settings(key_file=Path("/k.key")), FileKeyProvider(Path("/k.key"))),
    ("env", Settings(key_source="env"), EnvKeyProvider()),
    ("env var", Settings(key_source="env:MY_KEYRING"), EnvKeyProvider("MY_KEYRING")),
    ("variable", Settings(key_source="airflow-variable:mk"), AirflowVariableKeyProvider("mk")),
    ("connection", Settings(key_source="airflow-connection:mk_conn"), AirflowConnectionKeyProvider("mk_conn")),
    (
        "vault",
        Settings(key_source="vault:migralink/keyring", vault_addr="https://v:8200"),
        VaultKeyProvider("https://v:8200", "migralink/keyring"),
    ),
    (
        "vault with mount",
        Settings(key_source="vault:kv:migralink/keyring", vault_addr="https://v:8200"),
        VaultKeyProvider("https://v:8200", "migralink/keyring", mount_point="kv"),
    ),
]


@pytest.mark.parametrize(("settings", "expected"), [c[1:] for c in FACTORY], ids=[c[0] for c in FACTORY])
def test_factory_builds_the_provider_the_setting_names(settings: Settings, expected: object) -> None:
    assert key_provider_from_settings(settings) == expected


def test_factory_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    with pytest.raises(KeyringError, match="needs a key file"):
        key_provider_from_settings(Settings())
    with pytest.raises(KeyringError, match="needs the Vault address"):
        key_provider_from_settings(Settings(key_source="vault:p"))
    monkeypatch.setenv("VAULT_ADDR", "https://from-env:8200")
    provider = key_provider_from_settings(Settings(key_source="vault:p"))
    assert isinstance(provider, VaultKeyProvider) and provider.url == "https://from-env:8200"


BAD_SOURCES = [
    "nope",
    "file:/k",
    "env:1 2",
    "airflow-variable:",
    "airflow-connection",
    "vault:",
    "vault:a//b",
    '{"secret": "x"}',
]


@pytest.mark.parametrize("text", BAD_SOURCES)
def test_malformed_key_source_is_a_config_error_that_does_not_echo_it(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(KeyringError) as exc:
        parse_key_source(text)
    assert '"secret"' not in str(exc.value)  # a key pasted into the wrong setting is never echoed
    monkeypatch.setenv("MIGRALINK_KEY_SOURCE", text)
    with pytest.raises(ConfigError, match="key_source"):
        load_settings()


def test_key_source_setting_is_canonical(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRALINK_KEY_SOURCE", " Vault:secret:migralink/keyring ")
    assert load_settings().key_source == "vault:migralink/keyring"
    assert load_settings().key_source == parse_key_source("vault:migralink/keyring").text
