"""The data cut-off of a night, checked before anything is written.

The cut-off (``--date``) is the last day the records are taken to cover: crossings whose 12/16-month rule
resolves after it stay pending, and statistics are final only up to it. Finalizing too early cannot be undone
by a later night, so three cut-offs are refused:

* a day after today (UTC): those days have not happened;
* a day after the newest partition that has arrived (any source), unless the operator states with
  ``--complete-through`` that the days up to the cut-off are complete (quiet days with no records): recorded
  in ``history_runs.complete_through``;
* a day before the last cut-off, unless ``--full`` recomputes every person at the new cut-off.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from pipeline.errors import PipelineError


class CutoffError(PipelineError):
    """The night's cut-off would finalize days that are not complete, or move backwards."""


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def check_cutoff(
    night: dt.date,
    *,
    newest: dt.date | None,
    last: dt.date | None = None,
    complete_through: dt.date | None = None,
    full: bool = False,
    today: dt.date | None = None,
) -> None:
    """Refuse a cut-off ``night`` that is in the future, after the newest partition ``newest`` (unless
    ``complete_through`` covers it), or before the last cut-off ``last`` (unless ``full``).

    Raises:
        CutoffError: with the one line an operator needs (what was asked, what is known, what to do).
    """
    today = today or today_utc()
    if night > today:
        raise CutoffError(f"--date {night} is after today ({today}, UTC): a cut-off cannot cover days to come")
    if complete_through is not None and complete_through > today:
        raise CutoffError(f"--complete-through {complete_through} is after today ({today}, UTC)")
    covered = max((d for d in (newest, complete_through) if d is not None), default=None)
    if covered is not None and night > covered:
        raise CutoffError(
            f"--date {night} is after the newest partition that has arrived ({newest}): the days after it would "
            f"be taken as complete; wait for their data, or state that they are with --complete-through {night}"
        )
    if last is not None and night < last and not full:
        raise CutoffError(
            f"--date {night} is before the last cut-off ({last}): cut-offs never move backwards, because figures "
            "published as final would become provisional again; add --full to recompute every person at this date"
        )


def newest_partition(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The newest partition the warehouse has processed, any source."""
    found = con.execute("SELECT max(partition_date) FROM meta_partitions").fetchall()[0][0]
    return found if isinstance(found, dt.date) else None


def last_cutoff(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The cut-off of the newest history run."""
    found = con.execute("SELECT cutoff FROM history_runs ORDER BY finished_at DESC LIMIT 1").fetchall()
    return found[0][0] if found else None
