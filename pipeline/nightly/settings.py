"""Settings: from a TOML config file, then ``MIGRALINK_*`` environment variables, then flags (flags win).

Config file (``--config F`` or ``MIGRALINK_CONFIG``)::

    landing = "/data/landing"
    warehouse = "/data/warehouse"
    key_file = "/secrets/migralink.key"
    audit_key_file = "/secrets/migralink-audit.pem"   # Ed25519 key signing the privacy log's tree heads
                                   # (default: the key file's name plus ".audit.pem")
    host_country = "UTO"
    key_source = "file"            # or "env", "env:VAR", "airflow-variable:NAME", "airflow-connection:ID",
                                   # "vault:PATH", "vault:MOUNT:PATH" (see privacy.providers)
    vault_addr = "https://vault.example:8200"   # for key_source "vault:..." (else VAULT_ADDR)
    retention_days = 30            # landing partitions older than this may be purged; optional: the purpose
                                   # register's landing_days applies by default, a setting may only shorten it
    rule_window = 487              # 12/16-month rule: window and threshold in days (e.g. 365 and 274 for 9/12)
    rule_threshold = 365
    visa_exempt = ["AUS", "GBR"]   # nationalities that may enter without a visa (host citizens always may)
    visa_free_days = 90            # how long a visa-exempt visitor may stay without a permit
    landing_archive = "/data/landing-archive"   # purge moves partitions here, sealed, instead of deleting
    linkage_backend = "duckdb"     # or "spark": full relinks score pairs on Spark (the spark extra, Java 17)
    quarantine_warn_share = 0.05   # a night quarantining more than this share of its rows exits 4 (a warning)
    spark_master = "local[2]"      # the Spark master for linkage_backend = "spark" (e.g. "spark://host:7077")
    holidays = ["2025-12-25", "2026-01-01"]   # public holidays: the quality gates allow low volumes on them
    quality_alpha = 1e-6           # false-alarm probability per night and measure of the quality gates' bands

Each setting also reads ``MIGRALINK_<NAME>`` from the environment (e.g. ``MIGRALINK_RETENTION_DAYS=90``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

ENV_PREFIX = "MIGRALINK_"
_COUNTRY = re.compile(r"[A-Z]{1,3}")
_HOST = re.compile(r"[A-Z]{3}")  # the statistics need the host's three-letter code (checked before any step)
_URL = re.compile(r"https?://[^\s/]+(/\S*)?")


@dataclass(frozen=True)
class Settings:
    """Where things are and how the host state is identified."""

    landing: Path | None = None
    warehouse: Path | None = None
    key_file: Path | None = None
    audit_key_file: Path | None = None
    host_country: str = "UTO"
    key_source: str = "file"
    vault_addr: str | None = None
    retention_days: int | None = None
    landing_archive: Path | None = None
    rule_window: int = 487
    rule_threshold: int = 365
    visa_exempt: tuple[str, ...] = ()
    visa_free_days: int = 90
    linkage_backend: str = "duckdb"
    quarantine_warn_share: float = 0.05
    spark_master: str | None = None
    holidays: tuple[dt.date, ...] = ()
    quality_alpha: float = 1e-6

    def __post_init__(self) -> None:
        # Checked now, before any step commits: the rule is applied only after ingest and linkage.
        from pipeline.histories.rule import RuleParams  # numpy: imported when settings are made, not for --help

        RuleParams(window=self.rule_window, threshold=self.rule_threshold)

    @property
    def audit_key_path(self) -> Path | None:
        """Where the privacy log's signing key is: ``audit_key_file``, else beside the key file."""
        if self.audit_key_file is not None:
            return self.audit_key_file
        return Path(f"{self.key_file}.audit.pem") if self.key_file is not None else None

    def require(self, *names: str) -> Settings:
        """Raise :class:`ConfigError` naming the first setting in ``names`` that is not set."""
        for name in names:
            if getattr(self, name) is None:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(
                    f"{flag} is required (or set {ENV_PREFIX}{name.upper()} or `{name}` in the config file)"
                )
        return self


def _coerce(name: str, value: Any) -> Any:
    if name == "host_country":
        code = str(value).strip().upper()
        if not _HOST.fullmatch(code):
            raise ConfigError(
                f"host_country must be a three-letter ISO 3166-1 alpha-3 or ICAO code, e.g. UTO (got {code!r})"
            )
        return code
    if name in ("retention_days", "rule_window", "rule_threshold", "visa_free_days"):
        return _coerce_days(value, name)
    if name == "visa_exempt":
        items = value if isinstance(value, list | tuple) else str(value).split(",")
        codes = tuple(sorted({str(v).strip().upper() for v in items if str(v).strip()}))
        bad = [c for c in codes if not _COUNTRY.fullmatch(c)]
        if bad:
            raise ConfigError(f"visa_exempt must list country codes such as AUS, GBR (got {bad[0]!r})")
        return codes
    if name == "key_source":
        from privacy.errors import KeyringError
        from privacy.providers import parse_key_source

        try:
            return parse_key_source(str(value)).text
        except KeyringError as exc:
            raise ConfigError(str(exc)) from None
    if name == "linkage_backend":
        from linkage import BACKENDS

        backend = str(value).strip().lower()
        if backend not in BACKENDS:
            raise ConfigError(f"linkage_backend must be one of {', '.join(BACKENDS)} (got {backend!r})")
        return backend
    if name == "quarantine_warn_share":
        try:
            share = float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"quarantine_warn_share must be a share between 0 and 1, e.g. 0.05 (got {value!r})"
            ) from None
        if not 0 <= share <= 1:
            raise ConfigError(f"quarantine_warn_share must be between 0 and 1 (got {share})")
        return share
    if name == "holidays":
        items = value if isinstance(value, list | tuple) else [v for v in str(value).split(",") if v.strip()]
        try:
            days = {v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v).strip()) for v in items}
            return tuple(sorted(days))
        except ValueError:
            raise ConfigError('holidays must list dates as YYYY-MM-DD, e.g. ["2025-12-25"]') from None
    if name == "quality_alpha":
        try:
            alpha = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"quality_alpha must be a probability such as 1e-6 (got {value!r})") from None
        if not 0 < alpha < 0.5:
            raise ConfigError(f"quality_alpha must be between 0 and 0.5 (got {alpha})")
        return alpha
    if name == "spark_master":
        return str(value).strip()
    if name == "vault_addr":
        addr = str(value).strip()
        if not _URL.fullmatch(addr):
            raise ConfigError("vault_addr must be an http:// or https:// address, e.g. https://vault.example:8200")
        return addr
    return Path(str(value)).expanduser()


def _coerce_days(value: Any, name: str = "retention_days") -> int:
    """A whole number of days, at least 1 (TOML integers, or digits from the environment or a flag)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{name} must be a whole number of days, at least 1")
    try:
        days = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of days, at least 1") from None
    if days < 1:
        raise ConfigError(f"{name} must be at least 1 (got {days})")
    return days


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Merge the config file, the environment and the flags (``None`` flags are ignored)."""
    names = {f.name for f in fields(Settings)}
    merged: dict[str, Any] = {}
    config_file = config_file or (
        Path(os.environ[f"{ENV_PREFIX}CONFIG"]) if os.environ.get(f"{ENV_PREFIX}CONFIG") else None
    )
    if config_file is not None:
        try:
            doc = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {config_file} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from None
        unknown = sorted(set(doc) - names)
        if unknown:
            raise ConfigError(f"config file {config_file}: unknown setting(s) {', '.join(unknown)}")
        merged.update(doc)
    for name in names:
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env:
            merged[name] = env
    merged.update({k: v for k, v in flags.items() if v is not None})
    return replace(Settings(), **{k: _coerce(k, v) for k, v in merged.items() if k in names})
