"""Key providers for Airflow and HashiCorp Vault, and the choice of provider from a ``key_source`` setting.

Every provider implements :class:`privacy.keys.KeyProvider`: building one reads nothing (so a DAG file may
build it at parse time); :meth:`load` fetches the keyring document and parses it, raising
:class:`~privacy.errors.KeyringError` with a one-line message when it is missing, malformed or too short.
Messages name where the key was looked for, never its content.

``key_source`` syntax (setting ``key_source``, env ``MIGRALINK_KEY_SOURCE``):

=============================  ===========================================================================
``file`` (default)             the key file of setting ``key_file``
``env`` / ``env:VAR``          the keyring JSON in ``MIGRALINK_KEYRING`` / in ``VAR``
``airflow-variable:NAME``      the keyring JSON in Airflow Variable ``NAME``
``airflow-connection:ID``      the keyring JSON in the password of Airflow connection ``ID``, or in its extra
                               field ``keyring``
``vault:PATH``                 the KV v2 secret ``PATH`` under mount ``secret`` of the Vault at setting
``vault:MOUNT:PATH``           ``vault_addr`` (or ``VAULT_ADDR``); token from ``VAULT_TOKEN``
=============================  ===========================================================================

Examples:
    >>> parse_key_source("vault:kv:migralink/keyring")
    KeySource(kind='vault', arg='migralink/keyring', mount='kv')
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from privacy.errors import KeyringError
from privacy.keys import EnvKeyProvider, FileKeyProvider, KeyProvider, Keyring

DEFAULT_VAULT_MOUNT = "secret"
VAULT_FIELD = "keyring"  # the field of the Vault secret, or of the connection's extra, holding the document
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_VAULT_PATH = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")
_KINDS = ("file", "env", "airflow-variable", "airflow-connection", "vault")


@dataclass(frozen=True)
class KeySource:
    """A parsed ``key_source`` setting."""

    kind: str
    arg: str = ""
    mount: str = ""

    @property
    def text(self) -> str:
        """The canonical setting text."""
        if self.kind == "vault":
            return f"vault:{self.arg}" if self.mount == DEFAULT_VAULT_MOUNT else f"vault:{self.mount}:{self.arg}"
        return f"{self.kind}:{self.arg}" if self.arg else self.kind


def parse_key_source(text: str) -> KeySource:
    """Parse a ``key_source`` setting (syntax in the module docstring).

    Raises:
        KeyringError: the text is not one of the documented forms.
    """
    kind, _, arg = text.strip().partition(":")
    kind = kind.lower()
    # The text is never echoed: a key pasted into the wrong setting must not reach a message.
    usage = f"key_source must start with one of {', '.join(_KINDS)} (see the operator guide)"
    if kind not in _KINDS:
        raise KeyringError(usage)
    if kind == "file":
        if arg:
            raise KeyringError("key_source 'file' takes no argument; set the key file with key_file / --key-file")
        return KeySource("file")
    if kind == "env":
        if arg and not _NAME.fullmatch(arg):
            raise KeyringError("key_source 'env:VAR' needs an environment variable name, e.g. env:MIGRALINK_KEYRING")
        return KeySource("env", arg)
    if kind == "vault":
        mount, _, path = arg.rpartition(":")
        mount = mount or DEFAULT_VAULT_MOUNT
        if not _VAULT_PATH.fullmatch(path) or not _VAULT_PATH.fullmatch(mount):
            raise KeyringError("key_source 'vault:[MOUNT:]PATH' needs a secret path such as vault:migralink/keyring")
        return KeySource("vault", path, mount)
    if not _NAME.fullmatch(arg):
        raise KeyringError(f"key_source '{kind}:…' needs a name, e.g. {kind}:migralink_keyring")
    return KeySource(kind, arg)


def _keyring_from(document: Any, origin: str) -> Keyring:
    """Parse a keyring given as JSON text or as an already decoded mapping, and mask it in Airflow logs."""
    if isinstance(document, Mapping):
        document = json.dumps(dict(document))
    if not isinstance(document, str) or not document.strip():
        raise KeyringError(f"{origin} holds no keyring")
    try:
        ring = Keyring.from_json(document, origin=origin)
    except KeyringError as exc:
        message = str(exc)
        if origin in message:
            raise
        raise KeyringError(f"{origin}: {message}") from None  # say where the short or bad key came from
    _mask_in_airflow_logs(document, ring)
    return ring


def _mask_in_airflow_logs(document: str, ring: Keyring) -> None:
    """Register the document and every secret with Airflow's log masker, when running under Airflow."""
    if "airflow.sdk" not in sys.modules:  # not inside Airflow: nothing to mask, and no import cost
        return
    from airflow.sdk.log import mask_secret

    mask_secret(document)
    for v in ring.versions:
        mask_secret(base64.urlsafe_b64encode(v.secret).decode())


@dataclass(frozen=True)
class AirflowVariableKeyProvider:
    """Reads the keyring JSON from an Airflow Variable (metadata DB, secrets backend or ``AIRFLOW_VAR_<NAME>``).

    Airflow is imported only in :meth:`load`, so building the provider at DAG parse time reads nothing.
    """

    name: str

    def load(self) -> Keyring:
        try:
            from airflow.sdk import Variable
        except ImportError:
            raise KeyringError("key source airflow-variable needs Airflow: install migralink[airflow]") from None
        origin = f"Airflow Variable {self.name}"
        try:
            value = Variable.get(self.name, default=None)
        except Exception as exc:  # the SDK raises several types; none may leak a value
            raise KeyringError(f"cannot read {origin} ({type(exc).__name__})") from None
        if value is None:
            raise KeyringError(f"{origin} does not exist")
        return _keyring_from(value, origin)


@dataclass(frozen=True)
class AirflowConnectionKeyProvider:
    """Reads the keyring JSON from an Airflow connection: its password, else its extra field ``keyring``.

    Airflow is imported only in :meth:`load`, so building the provider at DAG parse time reads nothing.
    """

    conn_id: str

    def load(self) -> Keyring:
        try:
            from airflow.sdk import Connection
        except ImportError:
            raise KeyringError("key source airflow-connection needs Airflow: install migralink[airflow]") from None
        origin = f"Airflow connection {self.conn_id}"
        try:
            conn = Connection.get(self.conn_id)
        except Exception as exc:
            if type(exc).__name__ == "AirflowNotFoundException":
                raise KeyringError(f"{origin} does not exist") from None
            raise KeyringError(f"cannot read {origin} ({type(exc).__name__})") from None
        if conn.password:
            return _keyring_from(conn.password, f"the password of {origin}")
        try:
            extra = conn.extra_dejson
        except Exception:
            extra = {}
        if isinstance(extra, Mapping) and extra.get(VAULT_FIELD):
            return _keyring_from(extra[VAULT_FIELD], f"the extra field {VAULT_FIELD} of {origin}")
        raise KeyringError(f"{origin} has no password and no extra field {VAULT_FIELD}")


class _KV2Client(Protocol):
    """The part of ``hvac.Client`` this module uses."""

    @property
    def secrets(self) -> Any: ...


@dataclass(frozen=True)
class VaultKeyProvider:
    """Reads the keyring from a HashiCorp Vault KV version 2 secret.

    The secret holds either a field ``keyring`` (the JSON document, as text or as an object) or the document's
    fields themselves (``format``, ``key_id``, ``active_version``, ``versions``).

    Args:
        url: Vault address, e.g. ``https://vault.example:8200``.
        path: Secret path under the mount, e.g. ``migralink/keyring``.
        mount_point: KV v2 mount, ``secret`` by default.
        token: Vault token; ``VAULT_TOKEN`` from the environment when not given.
        client: An ``hvac.Client``-like object (tests inject a fake); built from ``url`` and the token otherwise.
    """

    url: str
    path: str
    mount_point: str = DEFAULT_VAULT_MOUNT
    token: str | None = field(default=None, repr=False)
    client: Any = field(default=None, repr=False, compare=False)

    @property
    def origin(self) -> str:
        return f"Vault secret {self.mount_point}/{self.path}"

    def load(self) -> Keyring:
        response = self._read(self.client or self._client())
        try:
            data = response["data"]["data"]
        except (KeyError, TypeError):
            raise KeyringError(f"{self.origin} is not a KV version 2 secret") from None
        if not isinstance(data, Mapping):
            raise KeyringError(f"{self.origin} is not a KV version 2 secret")
        document = data.get(VAULT_FIELD) if VAULT_FIELD in data else data
        return _keyring_from(document, self.origin)

    def _client(self) -> _KV2Client:
        try:
            import hvac
        except ImportError:
            raise KeyringError("key source vault needs the hvac package: install migralink[vault]") from None
        token = self.token or os.environ.get("VAULT_TOKEN")
        if not token:
            raise KeyringError(f"no Vault token for {self.origin}: set VAULT_TOKEN")
        client: _KV2Client = hvac.Client(url=self.url, token=token)
        return client

    def _read(self, client: _KV2Client) -> Any:
        try:
            return client.secrets.kv.v2.read_secret_version(
                path=self.path, mount_point=self.mount_point, raise_on_deleted_version=True
            )
        except Exception as exc:  # hvac and requests errors; their text may quote the server, never shown
            name = type(exc).__name__
            if name == "InvalidPath":
                raise KeyringError(f"{self.origin} does not exist (or its latest version is deleted)") from None
            if name in ("Forbidden", "Unauthorized"):
                raise KeyringError(f"access to {self.origin} was refused ({name}); check the token's policy") from None
            raise KeyringError(f"cannot read {self.origin} ({name})") from None


class _KeySettings(Protocol):
    """The settings the factory reads (``pipeline.nightly.settings.Settings`` has them)."""

    @property
    def key_source(self) -> str: ...

    @property
    def key_file(self) -> Path | None: ...

    @property
    def vault_addr(self) -> str | None: ...


def key_provider_from_settings(settings: _KeySettings) -> KeyProvider:
    """Build the key provider that ``settings.key_source`` names; reads no key.

    Raises:
        KeyringError: the setting is malformed, or a setting it needs (``key_file``, ``vault_addr``) is missing.

    Examples:
        >>> from types import SimpleNamespace
        >>> settings = SimpleNamespace(key_source="airflow-variable:migralink_keyring", key_file=None, vault_addr=None)
        >>> key_provider_from_settings(settings)
        AirflowVariableKeyProvider(name='migralink_keyring')
    """
    source = parse_key_source(settings.key_source or "file")
    if source.kind == "file":
        if settings.key_file is None:
            raise KeyringError("key_source 'file' needs a key file: --key-file, MIGRALINK_KEY_FILE or key_file")
        return FileKeyProvider(settings.key_file)
    if source.kind == "env":
        return EnvKeyProvider(source.arg) if source.arg else EnvKeyProvider()
    if source.kind == "airflow-variable":
        return AirflowVariableKeyProvider(source.arg)
    if source.kind == "airflow-connection":
        return AirflowConnectionKeyProvider(source.arg)
    url = settings.vault_addr or os.environ.get("VAULT_ADDR")
    if not url:
        raise KeyringError("key_source 'vault' needs the Vault address: vault_addr, MIGRALINK_VAULT_ADDR or VAULT_ADDR")
    return VaultKeyProvider(url, source.arg, mount_point=source.mount)
