"""A deferrable sensor waiting for one source's landing partition of the night, up to an arrival deadline.

Not a DAG: the operator ``migration_nightly`` uses, one per source. While the partition is missing the sensor
defers to the standard provider's ``FileTrigger``, so it waits in the triggerer and holds no worker slot. At the
deadline (the DAG param ``arrival_deadline_hours`` after the run's data interval end) it is skipped with the
reason: the night goes on without that source, and the raw quality gate judges the volumes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.providers.standard.triggers.file import FileTrigger
from airflow.sdk.bases.sensor import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSkipException
from migralink_tasks import fail_fast_on_permanent_errors, night, run_end, settings_from

LANDING_SUFFIXES = (".csv", ".parquet")  # as pipeline.ingest.landing.FILE_SUFFIXES (not imported at parse time)


class LandingPartitionSensor(BaseSensorOperator):
    """Succeed when ``<landing>/<source>/<night>/`` holds a landing file; skip at the arrival deadline."""

    def __init__(self, *, source: str, poke_interval: float = 300.0, **kwargs: Any) -> None:
        super().__init__(soft_fail=True, poke_interval=poke_interval, **kwargs)
        self.source = source

    def _folder(self, context: Any) -> Path:
        with fail_fast_on_permanent_errors():
            settings = settings_from(context["params"]).require("landing")
        assert settings.landing is not None
        return settings.landing / self.source / night(context).isoformat()

    def poke(self, context: Any) -> bool:
        folder = self._folder(context)
        return folder.is_dir() and any(
            f.is_file() and f.suffix.lower() in LANDING_SUFFIXES and not f.name.startswith(".")
            for f in folder.iterdir()
        )

    def execute(self, context: Any) -> None:
        if self.poke(context):
            self.log.info("the %s partition of %s has arrived", self.source, night(context))
            return
        deadline = run_end(context) + dt.timedelta(hours=float(context["params"].get("arrival_deadline_hours") or 0))
        remaining = deadline - dt.datetime.now(dt.UTC)
        if remaining <= dt.timedelta(0):
            raise AirflowSkipException(self._late(context, deadline))
        self.log.info(
            "waiting for the %s partition of %s until %s (in the triggerer)", self.source, night(context), deadline
        )
        self.defer(
            trigger=FileTrigger(filepath=str(self._folder(context) / "*"), poke_interval=self.poke_interval),
            method_name="execute_complete",
            timeout=remaining,
        )

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The trigger saw a file: the partition has arrived."""
        self.log.info("the %s partition of %s has arrived", self.source, night(context))

    def _late(self, context: Any, deadline: dt.datetime) -> str:
        return (
            f"no {self.source} partition for {night(context)} by the arrival deadline {deadline:%Y-%m-%d %H:%M} UTC: "
            "the night runs without it, and the raw quality gate judges whether that is acceptable"
        )
