"""Per-person migration histories: crossings classified with the 12/16-month rule, stays and their permission.

Built from the linked warehouse (``linkage_clusters`` gives every record its ``person_key``) into analyst
tables that hold pseudonymous keys and coarse attributes only:

* ``crossing_classification``: one row per border crossing: the person, direction and date, its position in
  the person's history, residence before and after (``RESIDENT`` / ``NON_RESIDENT``, statistical residence),
  whether it is a long-term migration (``NULL`` while pending), ``status`` (``final`` or ``pending``: its
  resolution date lies after the data cut-off), the resolution date, a sequence ``anomaly`` (two arrivals or
  two departures in a row: usually a missed crossing or a linkage error; counted, never fatal), citizenship, sex,
  birth year, country of birth (from the person's permits) and the visa or permit category valid on the day;
* ``person_stays``: one row per stay in the country (an arrival up to the next departure, or open at the
  cut-off), with the last day covered by a valid visa or permit, entry without a required visa, and the
  overstay (days in the country after the cover ended) with its first day;
* ``stay_authorizations``: for each stay, the visas and permits valid during it, clipped to the stay (the
  visa or permit valid on each day in the country);
* ``crossing_vintages``: every change of a crossing's classification from one night to the next (new, pending
  to final, or revised), so published provisional figures can be traced.

Initial residence before a person's first crossing: citizens of the host state (``host_country``) and holders
of a permanent permit valid on that day are residents; everybody else is not. The rule itself is
:mod:`pipeline.histories.rule` (Stats NZ's ``migrbc`` semantics). Nightly runs recompute only the persons
touched tonight: persons with new or re-keyed records, persons whose key disappeared (merged or split), and
persons with a pending crossing that may resolve by the new cut-off. :func:`build_histories` with ``full=True``
recomputes everybody and gives identical tables (tested).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from linkage import linked_at
from pipeline.errors import PipelineError
from pipeline.histories.rule import ANOMALY_NAMES, ANOMALY_NONE, RuleParams, classify
from pipeline.warehouse.tables import UNINDEXED_KEYS

log = logging.getLogger(__name__)

EPOCH = dt.date(1970, 1, 1)
RESIDENT, NON_RESIDENT = "RESIDENT", "NON_RESIDENT"
PERMANENT_PERMITS = ("PERMANENT",)

HISTORY_TABLES = ("crossing_classification", "person_stays", "stay_authorizations")
VIEWS = [
    # Spells in and out of the country: each crossing starts one, up to the next crossing (open at the end).
    """CREATE OR REPLACE VIEW person_spells AS
    SELECT person_key, record_id AS start_record_id, CASE direction WHEN 'ARR' THEN 'in' ELSE 'out' END AS location,
           crossing_date AS spell_start, lead(crossing_date) OVER w AS spell_end, residence_after, status
    FROM crossing_classification WINDOW w AS (PARTITION BY person_key ORDER BY seq)""",
    # Every visa decision (granted or refused) and permit of each person, in date order.
    """CREATE OR REPLACE VIEW person_authorizations AS
    SELECT c.person_key, 'visa' AS source, v.record_id, v.visa_category AS category, v.decision,
           v.decision_date AS decided_on, v.valid_from, v.valid_until
    FROM visa_decisions v JOIN linkage_clusters c ON c.source = 'visa' AND c.record_id = v.record_id
    UNION ALL
    SELECT c.person_key, 'permit', p.record_id, p.permit_type, 'GRANTED', p.issue_date, p.valid_from, p.valid_until
    FROM residence_permits p JOIN linkage_clusters c ON c.source = 'permit' AND c.record_id = p.record_id""",
]
EXPORT_COLUMNS = (
    "record_id",
    "person_key",
    "direction",
    "crossing_date",
    "residence_before",
    "residence_after",
    "long_term_migration",
    "resolved_date",
)
EXPORT_SQL = """SELECT record_id, person_key, direction, crossing_date, residence_before, residence_after,
       CASE WHEN status = 'pending' THEN 'pending' WHEN long_term_migration THEN 'true' ELSE 'false' END
         AS long_term_migration,
       resolved_date
FROM crossing_classification ORDER BY person_key, seq, record_id"""


@dataclass(frozen=True)
class HistoryPolicy:
    """What the histories depend on besides the data: the host state, the rule and the visa policy."""

    host_country: str = "UTO"
    params: RuleParams = field(default_factory=RuleParams)
    visa_exempt: tuple[str, ...] = ()
    visa_free_days: int = 90


@dataclass(frozen=True)
class HistorySummary:
    """What one history run did (counts and timings only)."""

    mode: str  # full or incremental
    reason: str
    persons: int
    crossings: int
    pending: int
    became_final: int
    revised: int
    anomalies: int
    stays: int
    overstays: int
    entries_without_visa: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _day(value: dt.date) -> int:
    return (value - EPOCH).days


def _authorizations_sql() -> str:
    """Granted visas and permits with their person, category and validity (open end = far future)."""
    return """
SELECT 'visa' AS source, v.record_id, c.person_key, v.visa_category AS category, coalesce(v.valid_from,
       v.decision_date) AS valid_from, coalesce(v.valid_until, DATE '9999-12-31') AS valid_until, 1 AS rank_
FROM visa_decisions v JOIN linkage_clusters c ON c.source = 'visa' AND c.record_id = v.record_id
WHERE v.decision = 'GRANTED'
UNION ALL
SELECT 'permit', p.record_id, c.person_key, p.permit_type, coalesce(p.valid_from, p.issue_date),
       coalesce(p.valid_until, DATE '9999-12-31'), 0
FROM residence_permits p JOIN linkage_clusters c ON c.source = 'permit' AND c.record_id = p.record_id"""


def touched_persons(con: duckdb.DuckDBPyConnection, night: dt.date, cutoff: dt.date) -> tuple[list[str], list[str]]:
    """Person keys to recompute tonight, and keys whose rows must go (merged or split away).

    Recomputed: keys whose records got (or changed) their key tonight, old keys of tonight's splits (they keep
    the records that did not move), and keys with a pending crossing that may resolve by ``cutoff``. Dropped
    first: old keys of tonight's merges and splits.
    """
    changed = con.execute(
        """SELECT DISTINCT person_key FROM person_keys WHERE assigned_on = ?
        UNION SELECT DISTINCT new_key FROM person_key_history WHERE night = ?
        UNION SELECT DISTINCT old_key FROM person_key_history WHERE night = ?  -- a split key keeps some records
        UNION SELECT DISTINCT person_key FROM crossing_classification WHERE status = 'pending' AND resolved_date <= ?
        UNION SELECT DISTINCT c.person_key FROM linkage_clusters c
              ANTI JOIN crossing_classification x ON x.record_id = c.record_id WHERE c.source = 'border'""",
        [night, night, night, cutoff],
    ).fetchall()
    gone = con.execute("SELECT DISTINCT old_key FROM person_key_history WHERE night = ?", [night]).fetchall()
    return [r[0] for r in changed], [r[0] for r in gone]


def _initial_residents_sql(scope: str) -> str:
    """SQL of the keys of persons in ``scope`` resident before their first crossing: host citizens (the host code
    is the bound parameter) and holders of a permanent permit valid that day."""
    return f"""
WITH persons AS (
  SELECT c.person_key, min(b.crossing_date) AS first_day
  FROM border_crossings b JOIN linkage_clusters c ON c.source = 'border' AND c.record_id = b.record_id
  WHERE c.person_key IN (SELECT person_key FROM {scope}) GROUP BY c.person_key),
citizens AS (
  SELECT DISTINCT c.person_key FROM linkage_clusters c
  JOIN (SELECT 'border' AS source, record_id, nationality FROM border_crossings
        UNION ALL SELECT 'visa', record_id, nationality FROM visa_decisions
        UNION ALL SELECT 'permit', record_id, nationality FROM residence_permits) r
    ON r.source = c.source AND r.record_id = c.record_id
  WHERE r.nationality = ? AND c.person_key IN (SELECT person_key FROM {scope})),
permanent AS (
  SELECT DISTINCT p.person_key FROM persons p
  JOIN ({_authorizations_sql()}) a USING (person_key)
  WHERE a.source = 'permit' AND a.category IN ({", ".join(f"'{t}'" for t in PERMANENT_PERMITS)})
    AND a.valid_from <= p.first_day AND a.valid_until >= p.first_day)
SELECT person_key FROM citizens UNION SELECT person_key FROM permanent"""


def _crossings(con: duckdb.DuckDBPyConnection, scope: str, host: str) -> pa.Table:
    """Border crossings of the persons in ``scope`` (a relation of person_key), ordered for the rule, with the
    person's group number, the crossing's position in the person's history and the initial residence."""
    return con.sql(
        f"""WITH residents AS ({_initial_residents_sql(scope)})
            SELECT c.person_key, b.record_id, b.direction, b.crossing_date, b.nationality, b.sex, b.birth_year,
                   dense_rank() OVER (ORDER BY c.person_key) - 1 AS person,
                   (row_number() OVER (PARTITION BY c.person_key ORDER BY b.crossing_time, b.record_id) - 1)::INTEGER
                     AS seq,
                   b.direction = 'ARR' AS arrival,
                   c.person_key IN (SELECT person_key FROM residents) AS initial_resident
            FROM border_crossings b JOIN linkage_clusters c ON c.source = 'border' AND c.record_id = b.record_id
            WHERE c.person_key IN (SELECT person_key FROM {scope})
            ORDER BY c.person_key, b.crossing_time, b.record_id""",
        params=[host],
    ).to_arrow_table()


def classify_persons(
    con: duckdb.DuckDBPyConnection, scope: str, policy: HistoryPolicy, cutoff: dt.date, night: dt.date
) -> int:
    """Classify the crossings of the persons in ``scope`` into the temp table ``__classified``; returns rows."""
    crossings = _crossings(con, scope, policy.host_country)
    person = crossings.column("person").to_numpy().astype(np.int64)
    days = (crossings.column("crossing_date").cast(pa.int32()).to_numpy()).astype(np.int32)
    arrival = crossings.column("arrival").to_numpy(zero_copy_only=False).astype(bool)
    initial = crossings.column("initial_resident").to_numpy(zero_copy_only=False).astype(bool)
    result = classify(person, days, arrival, initial, _day(cutoff), policy.params)
    long_term = result.long_term
    table = pa.table(
        {
            "record_id": crossings.column("record_id"),
            "person_key": crossings.column("person_key"),
            "direction": crossings.column("direction"),
            "crossing_date": crossings.column("crossing_date"),
            "seq": crossings.column("seq"),
            "resident_before": pa.array(result.resident_before),
            "resident_after": pa.array(result.resident_after),
            "long_term": pa.array(long_term.astype(np.int8)),
            "resolved_day": pa.array(result.resolved_day.astype(np.int32)),
            "anomaly_code": pa.array(result.anomaly.astype(np.int8)),
            "nationality": crossings.column("nationality"),
            "sex": crossings.column("sex"),
            "birth_year": crossings.column("birth_year"),
        }
    )
    anomalies = " ".join(f"WHEN {code} THEN '{name}'" for code, name in ANOMALY_NAMES.items() if code != ANOMALY_NONE)
    con.register("__rule_output", table)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE __classified AS
            WITH birth AS (  -- country of birth from the person's permits (the most frequent; ties: first code)
              SELECT c.person_key, p.country_of_birth
              FROM residence_permits p JOIN linkage_clusters c ON c.source = 'permit' AND c.record_id = p.record_id
              WHERE p.country_of_birth IS NOT NULL AND c.person_key IN (SELECT person_key FROM {scope})
              GROUP BY c.person_key, p.country_of_birth
              QUALIFY row_number() OVER (PARTITION BY c.person_key ORDER BY count(*) DESC, p.country_of_birth) = 1),
            authorized AS (  -- the visa or permit valid on the crossing day (a permit before a visa)
              SELECT o.record_id, a.category FROM __rule_output o
              JOIN ({_authorizations_sql()}) a ON a.person_key = o.person_key
                AND o.crossing_date BETWEEN a.valid_from AND a.valid_until
              QUALIFY row_number() OVER (PARTITION BY o.record_id ORDER BY a.rank_, a.valid_from DESC,
                                         a.record_id) = 1)
            SELECT o.record_id, o.person_key, o.direction, o.crossing_date, o.seq,
                   CASE WHEN o.resident_before THEN '{RESIDENT}' ELSE '{NON_RESIDENT}' END AS residence_before,
                   CASE WHEN o.resident_after THEN '{RESIDENT}' ELSE '{NON_RESIDENT}' END AS residence_after,
                   CASE o.long_term WHEN 1 THEN true WHEN 0 THEN false END AS long_term_migration,
                   CASE WHEN o.long_term < 0 THEN 'pending' ELSE 'final' END AS status,
                   DATE '1970-01-01' + o.resolved_day AS resolved_date,
                   CASE o.anomaly_code {anomalies} END AS anomaly,
                   o.nationality, o.sex, o.birth_year, b.country_of_birth, z.category AS authorization_category,
                   ?::DATE AS computed_on
            FROM __rule_output o LEFT JOIN birth b USING (person_key) LEFT JOIN authorized z USING (record_id)""",
            [night],
        )
    finally:
        con.unregister("__rule_output")
    return len(person)


def build_stays(con: duckdb.DuckDBPyConnection, scope: str, policy: HistoryPolicy, cutoff: dt.date) -> None:
    """Stays (arrival to next departure) of the persons in ``scope`` into temp tables ``__stays``/``__stay_auth``.

    Permission is legal, not statistical: host citizens need none; nationals of ``visa_exempt`` states may stay
    ``visa_free_days`` without one; everybody else needs a granted visa or a permit (``visa_required``). A stay
    is covered up to the latest end of the visas and permits overlapping it (gaps between them are not looked
    for); the overstay is the time after that, up to the departure or the cut-off. An unknown nationality is
    treated as needing nothing (it cannot be told).
    """
    exempt = ", ".join(f"'{c}'" for c in policy.visa_exempt) or "NULL"
    host = policy.host_country
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE __stays AS
        WITH ordered AS (
          SELECT person_key, record_id, direction, crossing_date, nationality,
                 lead(direction) OVER w AS next_direction, lead(record_id) OVER w AS next_record,
                 lead(crossing_date) OVER w AS next_date
          FROM __classified WINDOW w AS (PARTITION BY person_key ORDER BY seq)),
        stays AS (
          SELECT person_key, 'S' || record_id AS stay_id, record_id AS arrival_record_id,
                 CASE WHEN next_direction = 'DEP' THEN next_record END AS departure_record_id,
                 crossing_date AS arrival_date,
                 CASE WHEN next_direction = 'DEP' THEN next_date END AS departure_date,
                 coalesce(next_date, ?::DATE) AS end_date,
                 coalesce(next_direction = 'ARR', false) AS departure_missing,
                 nationality,
                 coalesce(nationality <> '{host}', false) AS subject,
                 coalesce(nationality IN ({exempt}), false) AS exempt
          FROM ordered WHERE direction = 'ARR'),
        covered AS (
          SELECT s.stay_id, max(a.valid_until) AS permitted_until,
                 bool_or(s.arrival_date BETWEEN a.valid_from AND a.valid_until) AS valid_on_entry
          FROM stays s JOIN ({_authorizations_sql()}) a ON a.person_key = s.person_key
            AND a.valid_from <= {_stay_end_sql("s")} AND a.valid_until >= s.arrival_date
          GROUP BY s.stay_id)
        SELECT s.person_key, s.stay_id, s.arrival_record_id, s.departure_record_id, s.arrival_date,
               s.departure_date, s.end_date, s.departure_missing, s.nationality,
               s.subject AND NOT s.exempt AS visa_required,
               s.subject AS needs_permission,
               CASE WHEN s.subject THEN greatest(c.permitted_until,
                    CASE WHEN s.exempt THEN s.arrival_date + {int(policy.visa_free_days) - 1} END) END AS covered_until,
               s.subject AND NOT s.exempt AND NOT coalesce(c.valid_on_entry, false) AS entry_without_visa
        FROM stays s LEFT JOIN covered c USING (stay_id)""",
        [cutoff],
    )
    days, start = _overstay_exprs()
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __stays AS SELECT *, {days} AS overstay_days, {start} AS overstay_start "
        "FROM __stays"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE __stay_auth AS
        SELECT s.stay_id, s.person_key, a.source, a.record_id, a.category,
               greatest(a.valid_from, s.arrival_date) AS valid_from,
               CASE WHEN s.departure_date IS NULL AND NOT s.departure_missing THEN a.valid_until
                    ELSE least(a.valid_until, s.end_date) END AS valid_until
        FROM __stays s JOIN ({_authorizations_sql()}) a ON a.person_key = s.person_key
          AND a.valid_from <= {_stay_end_sql("s")} AND a.valid_until >= s.arrival_date"""
    )


def _stay_end_sql(alias: str) -> str:
    """The last day of a stay an authorization must start by to count: the departure (or the next arrival) of a
    closed stay; none for a stay still open, so that a permit already granted from a later day (a renewal)
    covers it whatever the cut-off (an open stay's figures then depend on the cut-off only through its end)."""
    return (
        f"CASE WHEN {alias}.departure_date IS NULL AND NOT {alias}.departure_missing THEN DATE '9999-12-31' "
        f"ELSE {alias}.end_date END"
    )


def _overstay_exprs(end: str = "end_date") -> tuple[str, str]:
    """SQL of ``overstay_days`` and ``overstay_start`` of a stay ending on ``end`` (over person_stays columns)."""
    days = f"""CASE WHEN NOT needs_permission THEN 0
         WHEN covered_until IS NULL THEN ({end} - arrival_date) + 1
         ELSE greatest(0, {end} - covered_until) END::INTEGER"""
    start = f"""CASE WHEN NOT needs_permission THEN NULL
         WHEN covered_until IS NULL THEN arrival_date
         WHEN {end} > covered_until THEN covered_until + 1 END"""
    return days, start


def _record_vintages(con: duckdb.DuckDBPyConnection, night: dt.date, scope: str) -> tuple[int, int]:
    """Insert tonight's changes into ``crossing_vintages``; returns (became final, revised)."""
    con.execute(
        f"""INSERT INTO crossing_vintages
        SELECT ?::DATE, n.record_id,
               CASE WHEN o.record_id IS NULL THEN 'new'
                    WHEN o.status = 'pending' AND n.status = 'final' THEN 'final'
                    ELSE 'revised' END,
               o.status, n.status, o.long_term_migration, n.long_term_migration, o.residence_after, n.residence_after
        FROM __classified n LEFT JOIN (
            SELECT * FROM crossing_classification WHERE person_key IN (SELECT person_key FROM {scope})
            UNION ALL SELECT * FROM crossing_classification WHERE person_key IN (SELECT person_key FROM __gone)
        ) o USING (record_id)
        WHERE o.record_id IS NULL OR o.status IS DISTINCT FROM n.status
           OR o.long_term_migration IS DISTINCT FROM n.long_term_migration
           OR o.residence_after IS DISTINCT FROM n.residence_after
           OR o.resolved_date IS DISTINCT FROM n.resolved_date""",
        [night],
    )
    became_final, revised = con.execute(
        "SELECT count(*) FILTER (WHERE change = 'final'), count(*) FILTER (WHERE change = 'revised') "
        "FROM crossing_vintages WHERE night = ?",
        [night],
    ).fetchall()[0]
    return int(became_final), int(revised)


def build_histories(
    con: duckdb.DuckDBPyConnection,
    *,
    night: dt.date,
    cutoff: dt.date | None = None,
    policy: HistoryPolicy | None = None,
    full: bool = False,
    complete_through: dt.date | None = None,
) -> HistorySummary:
    """Classify crossings and build stays for the persons touched tonight (everybody when ``full``).

    Runs inside the caller's transaction. ``cutoff`` (the last day the data cover) defaults to ``night``. A
    change of host state or rule parameters since the last run forces a full recompute. ``complete_through``
    (the operator's statement that the days up to it are complete although no partition arrived) is recorded.
    """
    began = time.perf_counter()
    policy = policy or HistoryPolicy()
    cutoff = cutoff or night
    for view in VIEWS:
        con.execute(view)
    reason = "asked for" if full else _needs_full(con, policy)
    con.execute("DELETE FROM crossing_vintages WHERE night = ?", [night])
    _scope(con, night, cutoff, everybody=reason is not None)
    crossings = classify_persons(con, "__scope", policy, cutoff, night)
    became_final, revised = _record_vintages(con, night, "__scope")
    for table in HISTORY_TABLES:
        con.execute(
            f"DELETE FROM {table} WHERE person_key IN (SELECT person_key FROM __scope UNION "
            "SELECT person_key FROM __gone)"
        )
    con.execute("INSERT INTO crossing_classification SELECT * FROM __classified")
    build_stays(con, "__scope", policy, cutoff)
    con.execute("INSERT INTO person_stays BY NAME SELECT * FROM __stays")
    con.execute("INSERT INTO stay_authorizations BY NAME SELECT * FROM __stay_auth")
    check_unique(con, {"crossing_classification": "__classified", "person_stays": "__stays"})
    _extend_open_stays(con, cutoff)
    persons = int(con.execute("SELECT count(*) FROM __scope").fetchall()[0][0])
    totals = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE status = 'pending'), count(anomaly),
                  (SELECT count(*) FROM person_stays), (SELECT count(*) FROM person_stays WHERE overstay_days > 0),
                  (SELECT count(*) FROM person_stays WHERE entry_without_visa)
           FROM crossing_classification"""
    ).fetchall()[0]
    mode = "incremental" if reason is None else "full"
    _record_run(con, night, cutoff, mode, (persons, *totals[:3]), policy, complete_through)
    for scratch in ("__scope", "__gone", "__classified", "__stays", "__stay_auth"):
        con.execute(f"DROP TABLE IF EXISTS {scratch}")
    summary = HistorySummary(
        mode=mode,
        reason=reason or "persons touched tonight",
        persons=persons,
        crossings=int(totals[0]),
        pending=int(totals[1]),
        became_final=became_final,
        revised=revised,
        anomalies=int(totals[2]),
        stays=int(totals[3]),
        overstays=int(totals[4]),
        entries_without_visa=int(totals[5]),
        seconds=round(time.perf_counter() - began, 3),
    )
    log.info("histories (%s): %d persons recomputed, %d crossings classified", mode, persons, crossings)
    return summary


def check_unique(con: duckdb.DuckDBPyConnection, inserted: dict[str, str]) -> None:
    """Refuse keys (:data:`pipeline.warehouse.tables.UNINDEXED_KEYS`: a crossing's ``record_id``, a stay's
    ``stay_id``) held by more than one row of their table, among the rows just inserted from ``inserted``'s
    scratch tables (table -> scratch). The tables have no index that would refuse them (the key is checked here
    instead: the night's deletes would cost seconds with one); an error rolls the night back.

    Raises:
        PipelineError: a key is held twice: the rows of a person were not removed before the person's new rows
            went in (counts only: the keys are pseudonymous but stay out of messages).
    """
    for table, key in UNINDEXED_KEYS:
        duplicated = con.execute(
            f"""SELECT count(*) FROM (SELECT {key} FROM {table} WHERE {key} IN (SELECT {key} FROM {inserted[table]})
                GROUP BY {key} HAVING count(*) > 1)"""
        ).fetchall()[0][0]
        if duplicated:
            raise PipelineError(
                f"histories: {duplicated:,} {key} values held by more than one row of {table} (the night is "
                "rolled back; `migralink histories --date D --full` recomputes every person)"
            )


def _scope(con: duckdb.DuckDBPyConnection, night: dt.date, cutoff: dt.date, *, everybody: bool) -> None:
    """Fill ``__scope`` (persons to recompute) and ``__gone`` (person keys whose rows must go): everybody, or the
    persons touched tonight (:func:`touched_persons`)."""
    if everybody:
        con.execute("CREATE OR REPLACE TEMP TABLE __scope AS SELECT DISTINCT person_key FROM linkage_clusters")
        con.execute("CREATE OR REPLACE TEMP TABLE __gone AS SELECT DISTINCT person_key FROM crossing_classification")
        return
    changed, gone = touched_persons(con, night, cutoff)
    con.execute("CREATE OR REPLACE TEMP TABLE __scope (person_key VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE __gone (person_key VARCHAR)")
    if changed:
        con.execute("INSERT INTO __scope SELECT unnest(?::VARCHAR[])", [changed])
    if gone:
        con.execute("INSERT INTO __gone SELECT unnest(?::VARCHAR[])", [gone])


def _record_run(
    con: duckdb.DuckDBPyConnection,
    night: dt.date,
    cutoff: dt.date,
    mode: str,
    counts: tuple[int, ...],
    policy: HistoryPolicy,
    complete_through: dt.date | None = None,
) -> None:
    """One ``history_runs`` row: the night, its mode, counts (persons, crossings, pending, anomalies) and the
    parameters the histories were built with (what forces a full recompute when they change)."""
    con.execute(
        """INSERT INTO history_runs (night, cutoff, finished_at, mode, persons, crossings, pending, anomalies,
            window_days, threshold_days, host_country, visa_exempt, visa_free_days, complete_through)
        VALUES (?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            night,
            cutoff,
            mode,
            *counts,
            policy.params.window,
            policy.params.threshold,
            policy.host_country,
            *_visa_policy(policy),
            complete_through,
        ],
    )


def _extend_open_stays(con: duckdb.DuckDBPyConnection, cutoff: dt.date) -> None:
    """Open stays of persons not recomputed tonight now end at the new cut-off: extend them and their overstay."""
    end = f"DATE '{cutoff.isoformat()}'"
    days, start = _overstay_exprs(end)
    con.execute(
        f"""UPDATE person_stays SET end_date = {end}, overstay_days = {days}, overstay_start = {start}
        WHERE departure_date IS NULL AND NOT departure_missing AND end_date <> {end}"""
    )


def histories_current(con: duckdb.DuckDBPyConnection, night: dt.date, policy: HistoryPolicy) -> bool:
    """True when the histories were built for ``night`` (as cut-off) with ``policy`` and nothing was linked since:
    building them again would change nothing, so a second run for the same night can leave everything as it is."""
    last = _last_run(con)
    if last is None or last[:2] != (night, night) or _needs_full(con, policy, last) is not None:
        return False
    linked = linked_at(con)
    return linked is not None and linked <= last[2]


def _visa_policy(policy: HistoryPolicy) -> tuple[str, int]:
    """The visa policy as stored in ``history_runs``: exempt states (sorted, comma-separated) and free days."""
    return ",".join(sorted(policy.visa_exempt)), int(policy.visa_free_days)


def _last_run(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The newest ``history_runs`` row: night, cut-off, finished_at, then the parameters and policy it used."""
    rows = con.execute(
        """SELECT night, cutoff, finished_at, window_days, threshold_days, host_country, visa_exempt, visa_free_days
        FROM history_runs ORDER BY finished_at DESC LIMIT 1"""
    ).fetchall()
    return tuple(rows[0]) if rows else None


def _needs_full(
    con: duckdb.DuckDBPyConnection, policy: HistoryPolicy, last: tuple[Any, ...] | None = None
) -> str | None:
    """Why every person must be recomputed (no histories yet, another rule, host or visa policy), or None.

    ``last`` is the newest run as :func:`_last_run` returns it, when the caller has read it already.
    """
    last = last or _last_run(con)
    if last is None:
        return "no histories yet"
    if last[3:6] != (policy.params.window, policy.params.threshold, policy.host_country):
        return "the rule parameters or the host state changed"
    if last[6:] != _visa_policy(policy):
        return "the visa policy changed"
    return None
