"""The nightly run: the one code path behind ``migralink run`` and the Airflow DAG."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pipeline.config import Settings
from pipeline.ingest import IngestSummary, Progress, ingest
from pipeline.linking import LinkStepSummary, link_night
from pipeline.warehouse import connect
from privacy.keys import KeyProvider
from privacy.providers import key_provider_from_settings

log = logging.getLogger(__name__)


@dataclass
class NightlyResult:
    """Counts of one nightly run (no record values)."""

    run_date: str
    ingest: IngestSummary
    linkage: LinkStepSummary | None = None

    @property
    def nothing_to_do(self) -> bool:
        return not self.ingest.partitions and (self.linkage is None or self.linkage.status != "linked")

    def as_dict(self) -> dict[str, object]:
        return {
            "run_date": self.run_date,
            "run_id": self.ingest.run_id,
            "partitions": len(self.ingest.partitions),
            "rows_read": self.ingest.rows_read,
            "rows_accepted": self.ingest.rows_accepted,
            "rows_quarantined": self.ingest.rows_quarantined,
            **({f"linkage_{k}": v for k, v in self.linkage.as_dict().items()} if self.linkage else {}),
        }


def run_nightly(
    settings: Settings,
    run_date: dt.date,
    *,
    key_provider: KeyProvider | None = None,
    progress: Progress | None = None,
) -> NightlyResult:
    """Process every landing partition dated on or before ``run_date`` not processed yet, then link.

    The key comes from ``key_provider``, else from the ``key_source`` setting (a key file by default); it is
    loaded and checked before any data are read. Idempotent: a second run for the same date
    finds nothing pending and changes nothing.
    """
    summary = ingest_step(settings, run_date, key_provider=key_provider, progress=progress)
    return NightlyResult(run_date=run_date.isoformat(), ingest=summary, linkage=link_step(settings, run_date))


def ingest_step(
    settings: Settings,
    run_date: dt.date,
    *,
    key_provider: KeyProvider | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Check, pseudonymize and store every pending partition up to ``run_date`` (one transaction)."""
    settings.require("landing", "warehouse")
    if key_provider is None:
        key_provider = key_provider_from_settings(settings)
    ring = key_provider.load()
    assert settings.landing is not None and settings.warehouse is not None
    con = connect(settings.warehouse)
    try:
        return ingest(con, landing=settings.landing, run_date=run_date, ring=ring, progress=progress)
    finally:
        con.close()


def link_step(settings: Settings, night: dt.date, *, full: bool = False) -> LinkStepSummary:
    """Link tonight's records into persons (pseudonyms only: the key is not needed); ``full`` relinks all."""
    settings.require("warehouse")
    assert settings.warehouse is not None
    con = connect(settings.warehouse)
    try:
        return link_night(con, night, reports=settings.warehouse / "reports", full=full)
    finally:
        con.close()
