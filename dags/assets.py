"""Assets of the migralink pipeline, defined once and imported by every DAG that produces or consumes them.

Names are stable nouns: renaming one breaks the lineage history and every DAG scheduled on it.
"""

from __future__ import annotations

from airflow.sdk import Asset

MIGRALINK_RECORDS = Asset(name="migralink_records", uri="migralink://warehouse/records", group="migralink")
"""The pseudonymized border, visa and permit records (and quarantine) in the DuckDB warehouse."""

MIGRALINK_PERSONS = Asset(name="migralink_persons", uri="migralink://warehouse/persons", group="migralink")
"""Person keys of every record (linkage clusters), their merge/split history and the review queue."""

MIGRALINK_STATISTICS = Asset(name="migralink_statistics", uri="migralink://warehouse/statistics", group="migralink")
"""Classified crossings (12/16-month rule), stays and overstays, and the migration statistics tables."""

MIGRALINK_RELEASES = Asset(name="migralink_releases", uri="migralink://warehouse/releases", group="migralink")
"""Protected releases of the purposes of the register (SDMX-CSV files and manifests) and the release ledger."""

__all__ = ["MIGRALINK_PERSONS", "MIGRALINK_RECORDS", "MIGRALINK_RELEASES", "MIGRALINK_STATISTICS"]
