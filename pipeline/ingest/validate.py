"""Contract checks of landed rows, as SQL over the raw text table.

:func:`checked_rows_sql` turns the raw table (all text, plus ``_file``, ``_line``, ``_partition``,
``_problem``) into typed columns and one ``_reason`` per row: ``NULL`` for a valid row, otherwise every
failed check joined by ``"; "``. Reasons name columns and rules, never values.
"""

from __future__ import annotations

from functools import cache

from pipeline.ingest.contract import Column, SourceContract
from pipeline.ingest.countries import known_country_codes
from privacy.sql import quote_identifier

EARLIEST_EVENT = "1950-01-01"
EARLIEST_BIRTH = "1880-01-01"
LATEST_VALIDITY = "2200-12-31"
EVENT_COLUMN = {"border": "crossing_time", "visa": "decision_date", "permit": "issue_date"}


@cache
def _country_list() -> str:
    """The accepted codes as an SQL list of literals (fixed reference data, letters only)."""
    codes = known_country_codes()
    assert all(c.isalpha() and c.isupper() for c in codes)
    return ", ".join(f"'{c}'" for c in codes)


def typed_expr(col: Column) -> str:
    """SQL that turns the raw text of ``col`` into its typed value (``NULL`` when empty or unparseable)."""
    raw = f"nullif(trim({quote_identifier(col.name)}), '')"
    if col.type == "date":
        return f"try_strptime({raw}, '%Y-%m-%d')::DATE"
    if col.type == "timestamp":
        return f"try_cast({raw} AS TIMESTAMPTZ)::TIMESTAMP"
    if col.type in ("enum", "country"):
        return f"upper({raw})"
    return raw


def _checks(col: Column, contract: SourceContract) -> list[tuple[str, str]]:
    """(condition that marks a failure, reason) pairs for one column; conditions refer to t_<col>."""
    raw = f"nullif(trim({quote_identifier(col.name)}), '')"
    typed = quote_identifier("t_" + col.name)
    out: list[tuple[str, str]] = []
    if not col.nullable:
        out.append((f"{raw} IS NULL", f"{col.name} is empty"))
    if col.type == "date":
        out.append((f"{raw} IS NOT NULL AND {typed} IS NULL", f"{col.name} is not a date (YYYY-MM-DD)"))
    elif col.type == "timestamp":
        out.append((f"{raw} IS NOT NULL AND {typed} IS NULL", f"{col.name} is not an ISO 8601 date-time"))
    elif col.type == "enum":
        allowed = ", ".join(f"'{v}'" for v in col.values)
        out.append(
            (f"{typed} IS NOT NULL AND {typed} NOT IN ({allowed})", f"{col.name} is not one of {', '.join(col.values)}")
        )
    elif col.type == "country":
        out.append(
            (
                f"{typed} IS NOT NULL AND {typed} NOT IN ({_country_list()})",
                f"{col.name} is not an ISO 3166-1 alpha-3 or ICAO 9303 code",
            )
        )
    event = EVENT_COLUMN[contract.source]
    event_day = f"{quote_identifier('t_' + event)}::DATE"
    if col.name == "date_of_birth":
        out += [
            (f"{typed} > _partition", "date_of_birth is in the future"),
            (f"{typed} < DATE '{EARLIEST_BIRTH}'", f"date_of_birth is before {EARLIEST_BIRTH}"),
            (f"{typed} <= _partition AND {typed} > {event_day}", f"date_of_birth is after {event}"),
        ]
    elif col.name == event:
        out += [
            (f"{typed}::DATE > _partition + 1", f"{event} is after the partition date"),
            (f"{typed}::DATE < DATE '{EARLIEST_EVENT}'", f"{event} is before {EARLIEST_EVENT}"),
        ]
    elif col.name in ("valid_from", "valid_until"):
        out.append(
            (
                f"{typed} NOT BETWEEN DATE '{EARLIEST_EVENT}' AND DATE '{LATEST_VALIDITY}'",
                f"{col.name} is outside {EARLIEST_EVENT}..{LATEST_VALIDITY}",
            )
        )
    if col.name == "valid_until":
        out.append((f"{typed} < {quote_identifier('t_valid_from')}", "valid_until is before valid_from"))
    return out


def checked_rows_sql(contract: SourceContract, raw_table: str, stored_table: str) -> str:
    """SQL selecting every raw row with typed ``t_<col>`` columns, ``_reason`` and the raw text columns.

    Rows whose
    ``record_id`` repeats an earlier valid row of the batch, or a record already stored in
    ``stored_table``, fail with a duplicate reason.
    """
    typed = ",\n  ".join(f"{typed_expr(c)} AS {quote_identifier('t_' + c.name)}" for c in contract.columns)
    checks = [chk for c in contract.columns for chk in _checks(c, contract)]
    reasons = ",\n    ".join(f"CASE WHEN {cond} THEN '{reason}' END" for cond, reason in checks)
    return f"""
WITH typed AS (
  SELECT *, {typed}
  FROM {quote_identifier(raw_table)}
), checked AS (
  SELECT *, coalesce(_problem, nullif(concat_ws('; ',
    {reasons}), '')) AS _reason_1
  FROM typed
), ranked AS (
  SELECT *,
    CASE WHEN _reason_1 IS NULL THEN row_number() OVER (
      PARTITION BY t_record_id, _reason_1 IS NULL ORDER BY _partition, _file, _line) END AS _seen
  FROM checked
)
SELECT r.*,
  CASE
    WHEN r._reason_1 IS NOT NULL THEN r._reason_1
    WHEN s.record_id IS NOT NULL THEN 'duplicate record_id (already ingested)'
    WHEN r._seen > 1 THEN 'duplicate record_id (repeated in this batch)'
  END AS _reason
FROM ranked r
LEFT JOIN {quote_identifier(stored_table)} s ON s.record_id = r.t_record_id
"""
