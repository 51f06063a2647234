"""The linkage quality report of one run: an HTML page of charts, pseudonymous throughout.

The page opens with a summary for the operator (:func:`operator_summary`): tonight's counts against the recent
linked nights (``linkage_nights``, :mod:`linkage.nights`), whether each is normal, and what to act on.

Charts (Vega-Lite through Altair, rendered to inline SVG so the page opens anywhere, without a network):

* match-weight distribution of the scored pairs, split into linked, queued for review and not linked;
* the model's m and u probabilities and the match weight of every comparison level;
* waterfall charts of sample pairs around the review band (per-comparison partial match weights);
* the distribution of cluster (person) sizes;
* tonight's new persons, merges and splits of person keys;
* coherence (:mod:`linkage.coherence`): persons holding birth dates more than one keying error apart, documents of
  one issuer used at the same time, repeated-direction crossings, and their distributions;
* weights per naming tradition: the name evidence (family name, given names and nationality, term-frequency
  adjustments included) of pairs that agree exactly on both names, for the nationalities with most entities, so
  that a common name (NGUYEN among Vietnamese) can be seen to count for less than a rare one.

No chart or table shows a name, date or number: pairs are identified by source and record id only.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import altair as alt
import duckdb
import pandas as pd

from linkage.charts import ChartCache, chart_svg, signed_color, tips
from linkage.coherence import Coherence, Distribution, coherence_figures
from linkage.input import INPUT_TABLE
from linkage.link import CLUSTERS_TABLE, PAIRS_TABLE
from linkage.model import LinkageModel
from linkage.nights import RECENT_NIGHTS, NightFigures, night_figures, recent_nights
from linkage.schema import REVIEW_DECISIONS_TABLE, REVIEW_TABLE

NAME_COMPARISONS = ("family_name", "given_names", "nationality")  # the name evidence of a pair (mw_* columns)
TOP_NATIONALITIES = 15


def match_weight_chart(con: duckdb.DuckDBPyConnection) -> alt.Chart:
    frame = con.execute(
        f"""SELECT round(match_weight * 2) / 2 AS match_weight,
                   CASE WHEN linked THEN 'linked' WHEN review THEN 'review' ELSE 'not linked' END AS outcome,
                   count(*) AS pairs
            FROM {PAIRS_TABLE} GROUP BY ALL ORDER BY ALL"""
    ).df()
    return (
        alt.Chart(frame, title="Match weights of scored pairs")
        .mark_bar()
        .encode(
            x=alt.X("match_weight:Q", bin=alt.Bin(step=0.5), title="match weight"),
            y=alt.Y("sum(pairs):Q", title="pairs", scale=alt.Scale(type="symlog")),
            color=alt.Color("outcome:N", scale=alt.Scale(domain=["linked", "review", "not linked"])),
            tooltip=tips("match_weight", "outcome", "sum(pairs)"),
        )
        .properties(width=640, height=220)
    )


def m_u_frame(model: LinkageModel) -> pd.DataFrame:
    """One row per non-null comparison level: m, u and the match weight log2(m/u)."""
    rows: list[dict[str, Any]] = []
    for comparison in model.settings["comparisons"]:
        name = comparison["output_column_name"]
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            if m is None or u is None:
                continue
            rows.append(
                {
                    "comparison": name,
                    "level": level.get("label_for_charts", level["sql_condition"])[:40],
                    "m": m,
                    "u": u,
                    "match_weight": math.log2(m / u) if m > 0 and u > 0 else 0.0,
                }
            )
    return pd.DataFrame(rows)


def m_u_chart(model: LinkageModel) -> alt.VConcatChart:
    frame = m_u_frame(model)
    base = alt.Chart(frame).encode(
        y=alt.Y("level:N", sort=None, title=None), tooltip=tips("comparison", "level", "m", "u")
    )
    weights = base.mark_bar().encode(
        x=alt.X("match_weight:Q", title="match weight log2(m/u)"),
        color=signed_color("datum.match_weight > 0"),
    )
    return alt.vconcat(
        *[
            weights.transform_filter(alt.datum.comparison == name).properties(title=name, width=480, height=18 * n)
            for name, n in frame.groupby("comparison", sort=False).size().items()
        ],
        title="Model parameters: match weight of each comparison level",
    )


def waterfall_charts(con: duckdb.DuckDBPyConnection, samples: int = 4) -> alt.HConcatChart | None:
    columns = [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {PAIRS_TABLE})").fetchall()]
    partial = [c for c in columns if c.startswith("mw_") and not c.startswith("mw_tf_adj_")]
    if not partial:
        return None
    # Each comparison's weight includes its term-frequency adjustment; the prior is what the parts leave over.
    terms = [
        f"{c} + coalesce({'mw_tf_adj_' + c[3:]}, 0) AS {c}" if "mw_tf_adj_" + c[3:] in columns else c for c in partial
    ]
    pairs = con.execute(
        f"""SELECT unique_id_l || ' ~ ' || unique_id_r AS pair, match_weight, {", ".join(terms)}
            FROM {PAIRS_TABLE} ORDER BY abs(match_weight - 3), pair LIMIT ?""",
        [samples],
    ).df()
    if pairs.empty:
        return None
    pairs.insert(2, "mw_prior", pairs["match_weight"] - pairs[partial].fillna(0).sum(axis=1))
    long = pairs.melt(
        id_vars=["pair", "match_weight"], value_vars=["mw_prior", *partial], var_name="comparison", value_name="weight"
    )
    long["comparison"] = long["comparison"].str.removeprefix("mw_")
    long["weight"] = long["weight"].fillna(0)
    charts = []
    for pair, rows in long.groupby("pair", sort=False):
        rows = rows.assign(end=rows["weight"].cumsum())
        rows = rows.assign(start=rows["end"] - rows["weight"])
        charts.append(
            alt.Chart(rows, title=f"{pair}: match weight {rows['match_weight'].iloc[0]:.1f}")
            .mark_bar()
            .encode(
                x=alt.X("comparison:N", sort=None, title=None),
                y=alt.Y("start:Q", title="cumulative match weight"),
                y2=alt.Y2("end:Q"),
                color=signed_color("datum.weight > 0"),
                tooltip=tips("comparison", "weight"),
            )
            .properties(width=300, height=180)
        )
    return alt.hconcat(*charts, title="Waterfalls of sample pairs near the review band (partial match weights)")


def cluster_size_chart(con: duckdb.DuckDBPyConnection) -> alt.Chart:
    frame = con.execute(
        f"""SELECT least(size, 30) AS records_per_person, count(*) AS persons
            FROM (SELECT count(*) AS size FROM {CLUSTERS_TABLE} GROUP BY cluster_id) GROUP BY ALL ORDER BY ALL"""
    ).df()
    return (
        alt.Chart(frame, title="Records per person (30 = 30 or more)")
        .mark_bar()
        .encode(
            x=alt.X("records_per_person:O", title="records per person"),
            y=alt.Y("persons:Q", scale=alt.Scale(type="symlog")),
            tooltip=tips("records_per_person", "persons"),
        )
        .properties(width=640, height=200)
    )


def coherence_table(c: Coherence) -> str:
    """The coherence counts as an HTML table (counts only)."""
    rows = [
        ("persons", c.persons),
        ("records", c.records),
        ("largest person (records)", c.largest_person_records),
        ("persons with more than one full birth date", c.persons_several_birth_dates),
        ("persons with birth dates more than one keying error apart", c.persons_incompatible_birth_dates),
        ("persons with more than one document", c.persons_several_documents),
        (
            "persons with two documents of one issuer (more than one keying error apart)",
            c.persons_same_issuer_documents,
        ),
        ("of which used at the same time", c.persons_concurrent_documents),
        ("persons with two or more border crossings", c.persons_several_crossings),
        ("persons with repeated-direction crossings", c.persons_repeated_direction),
        ("repeated-direction crossings", c.repeated_direction_crossings),
    ]
    cells = "".join(f'<tr><td style="text-align:left">{html.escape(k)}</td><td>{v:,}</td></tr>' for k, v in rows)
    return f"<table><tr><th>figure</th><th>count</th></tr>{cells}</table>"


def _distribution_chart(values: Distribution, title: str, axis: str) -> alt.Chart:
    frame = pd.DataFrame(values, columns=["bucket", "persons"])
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X("bucket:O", sort=None, title=axis, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("persons:Q", scale=alt.Scale(type="symlog")),
            tooltip=tips("bucket", "persons"),
        )
        .properties(width=230, height=160)
    )


def coherence_charts(c: Coherence) -> alt.VConcatChart:
    """Persons by distinct full birth dates, by distinct documents, by records and by repeated crossings."""
    return alt.vconcat(
        alt.hconcat(
            _distribution_chart(c.by_birth_dates, "Persons by distinct full birth dates", "birth dates"),
            _distribution_chart(c.by_documents, "Persons by distinct documents", "documents"),
        ),
        alt.hconcat(
            _distribution_chart(c.by_records, "Persons by records", "records"),
            _distribution_chart(
                c.by_repeated_crossings,
                "Persons with 2+ crossings by repeated-direction crossings",
                "repeated-direction crossings",
            ),
        ),
    )


def name_weight_frame(con: duckdb.DuckDBPyConnection, top: int = TOP_NATIONALITIES) -> pd.DataFrame | str:
    """Name evidence of scored pairs agreeing exactly on both names, per nationality: quantiles per nationality.

    The evidence of a pair is the sum of its partial match weights (``mw_*``, with the term-frequency adjustments
    ``mw_tf_adj_*`` where the pairs table has them) for family name, given names and nationality. Only pairs of
    entities of the same nationality, one of the ``top`` nationalities by entities, count. Returns a one-line
    reason instead when the pairs table lacks the weight columns (a model that did not keep them).
    """
    columns = {c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE {PAIRS_TABLE})").fetchall()}
    missing = [f"mw_{n}" for n in NAME_COMPARISONS if f"mw_{n}" not in columns]
    if missing:
        return f"not shown: the scored pairs have no {', '.join(missing)} column (a model without them)"
    terms = [f"coalesce(p.{c}, 0)" for n in NAME_COMPARISONS for c in (f"mw_{n}", f"mw_tf_adj_{n}") if c in columns]
    frame = con.execute(
        f"""WITH top AS (
              SELECT nationality FROM {INPUT_TABLE} WHERE nationality IS NOT NULL
              GROUP BY nationality ORDER BY count(*) DESC, nationality LIMIT ?),
            evidence AS (
              SELECT a.nationality, {" + ".join(terms)} AS weight
              FROM {PAIRS_TABLE} p
              JOIN {INPUT_TABLE} a ON a.entity_id = p.entity_id_l
              JOIN {INPUT_TABLE} b ON b.entity_id = p.entity_id_r
              WHERE a.tok_family_name = b.tok_family_name AND a.tok_given_names = b.tok_given_names
                AND a.nationality = b.nationality AND a.nationality IN (SELECT nationality FROM top))
            SELECT nationality, count(*) AS pairs, quantile_cont(weight, 0.1) AS p10,
                   quantile_cont(weight, 0.25) AS p25, median(weight) AS median,
                   quantile_cont(weight, 0.75) AS p75, quantile_cont(weight, 0.9) AS p90
            FROM evidence GROUP BY nationality ORDER BY median, nationality""",
        [top],
    ).df()
    return frame if not frame.empty else "not shown: no scored pair agrees exactly on both names"


def name_weight_chart(frame: pd.DataFrame) -> alt.TopLevelMixin:
    """Box per nationality: quartiles (box), 10th to 90th percentile (line), median (tick)."""
    base = alt.Chart(frame).encode(
        x=alt.X("nationality:N", sort=list(frame["nationality"]), title="nationality (sorted by median)"),
        tooltip=tips("nationality", "pairs", "p10", "p25", "median", "p75", "p90"),
    )
    return alt.layer(
        base.mark_rule().encode(
            y=alt.Y("p10:Q", title="name evidence (match weight)", scale=alt.Scale(zero=False)), y2=alt.Y2("p90:Q")
        ),
        base.mark_bar(size=14, color="#74c0fc").encode(y=alt.Y("p25:Q"), y2=alt.Y2("p75:Q")),
        base.mark_tick(color="black", size=14, thickness=2).encode(y=alt.Y("median:Q")),
        title="Name evidence of pairs agreeing exactly on both names (family, given, nationality, with frequencies)",
    ).properties(width=640, height=240)


# --- The operator's summary -------------------------------------------------------------------------------------

MIN_NIGHTS = 7  # fewer recent nights than this: too few to say what is usual
TAIL = 0.001  # probability in each tail of the noise band (Poisson or binomial)
FENCE = 1.5  # Tukey's fences: quartiles widened by 1.5 times the interquartile range

NORMAL = "normal"
HIGH = "unusually high"
LOW = "unusually low"
TOO_FEW = "too few nights to compare"
NOTHING_NEW = "no new records tonight"

COUNT, SHARE, TOTAL = "count", "share", "total"


@dataclass(frozen=True)
class MeasureSpec:
    """A measure of the summary: its ``linkage_nights`` figure, its name in the report and how it is judged."""

    field: str
    name: str
    kind: str  # COUNT (a count of tonight's run), SHARE (a proportion) or TOTAL (a count over the warehouse)
    value: Callable[[NightFigures], float | None]


def _figure(field: str) -> Callable[[NightFigures], float | None]:
    return lambda f: float(getattr(f, field))


MEASURES = (
    MeasureSpec("new_records", "records linked for the first time", COUNT, _figure("new_records")),
    MeasureSpec("joined_share", "share of them joining a known person", SHARE, lambda f: f.joined_share),
    MeasureSpec("new_persons", "new persons", COUNT, _figure("new_persons")),
    MeasureSpec("merged_keys", "person keys merged", COUNT, _figure("merged_keys")),
    MeasureSpec("split_keys", "person keys split", COUNT, _figure("split_keys")),
    MeasureSpec("review_queued", "pairs queued for review tonight", COUNT, _figure("review_queued")),
    MeasureSpec("largest_person_records", "largest person (records)", TOTAL, _figure("largest_person_records")),
    MeasureSpec(
        "persons_incompatible_birth_dates",
        "persons with birth dates more than one keying error apart",
        TOTAL,
        _figure("persons_incompatible_birth_dates"),
    ),
    MeasureSpec(
        "persons_concurrent_documents",
        "persons with two documents of one issuer used at the same time",
        TOTAL,
        _figure("persons_concurrent_documents"),
    ),
)


@dataclass(frozen=True)
class Measure:
    """One line of the summary (counts only).

    For a TOTAL (a count over the whole warehouse) ``change`` is tonight's change since the previous linked night
    and ``median``, ``low`` and ``high`` describe the recent nightly changes; otherwise they describe the values.
    ``low`` and ``high`` are the usual range (inclusive), None with too few nights.
    """

    field: str
    name: str
    kind: str
    tonight: float | None
    change: float | None
    median: float | None
    low: float | None
    high: float | None
    verdict: str

    @property
    def unusual(self) -> bool:
        return self.verdict in (HIGH, LOW)


@dataclass(frozen=True)
class Summary:
    """The operator's summary of one night: the measures against the recent nights and what to act on.

    ``figures`` is None when the night has no row in ``linkage_nights``; ``nights`` is how many recent nights
    tonight was compared with.
    """

    night: dt.date
    figures: NightFigures | None
    previous: NightFigures | None
    nights: int
    measures: tuple[Measure, ...]
    actions: tuple[str, ...]

    @property
    def enough_nights(self) -> bool:
        return self.nights >= MIN_NIGHTS

    def measure(self, field: str) -> Measure:
        """The measure of ``linkage_nights`` figure ``field`` (``joined_share`` for the share)."""
        return next(m for m in self.measures if m.field == field)


def poisson_quantile(mean: float, p: float) -> int:
    """The smallest k with P(X <= k) >= p for X Poisson with ``mean``; the normal approximation (with continuity
    correction) above a mean of 100."""
    if mean <= 0:
        return 0
    if mean > 100:
        return max(0, math.ceil(mean + statistics.NormalDist().inv_cdf(p) * math.sqrt(mean) - 0.5))
    k, pmf = 0, math.exp(-mean)
    cdf = pmf
    while cdf < p:
        k += 1
        pmf *= mean / k
        cdf += pmf
    return k


def usual_range(values: Sequence[float], kind: str, tonight_records: int = 0) -> tuple[float, float]:
    """The usual range (low, high) of a measure, from its values on the recent nights.

    Tukey's fences: the lower and upper quartile widened by 1.5 times the interquartile range (the outlier rule
    of a box plot). Quartiles ignore up to a quarter of odd nights (a full relink, a night of missing input), so
    one odd night does not widen the range for a month. When the recent nights happen to agree (a count that was
    0 on most nights), the range is widened to the chance variation of the count itself, so that one merge more
    than usual is no alarm:

    * COUNT and TOTAL (a total is judged by its nightly changes, which are counts of new events too): at least
      the 0.1% to 99.9% quantiles (a COUNT; a TOTAL only up to the 99.9% quantile) of a Poisson count whose mean
      is that of the recent nights winsorized at the fences (each night counted at most at the upper fence, or at
      1 if that is lower, and at least at the lower fence). The mean keeps a rare event (one merge in twenty
      nights) in the range; winsorizing keeps one odd night from widening it much;
    * SHARE: at least the quartiles plus or minus 3.09 binomial standard errors (0.1% each side) for tonight's
      number of new records.

    Counts are rounded inwards to whole numbers (the range of a count holds whole numbers); a share stays in
    [0, 1].
    """
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    low, high = q1 - FENCE * (q3 - q1), q3 + FENCE * (q3 - q1)
    if kind == SHARE:
        z = statistics.NormalDist().inv_cdf(1 - TAIL)
        n = max(tonight_records, 1)
        low = min(low, q1 - z * math.sqrt(q1 * (1 - q1) / n))
        high = max(high, q3 + z * math.sqrt(q3 * (1 - q3) / n))
        return max(low, 0.0), min(high, 1.0)
    mean = max(statistics.fmean(min(max(v, low), max(high, 1.0)) for v in values), 0.0)
    high = max(high, poisson_quantile(mean, 1 - TAIL))
    if kind == COUNT:
        low = max(min(low, poisson_quantile(mean, TAIL)), 0.0)
    return float(math.ceil(low - 1e-9)), float(math.floor(high + 1e-9))


def judge(spec: MeasureSpec, tonight: NightFigures, recent: Sequence[NightFigures]) -> Measure:
    """Tonight's value of one measure against the recent nights (oldest first): its usual range and verdict."""
    value = spec.value(tonight)
    change: float | None = None
    if spec.kind == TOTAL:
        levels = [v for v in (spec.value(f) for f in recent) if v is not None]
        history = [b - a for a, b in itertools.pairwise(levels)]
        if levels and value is not None:
            change = value - levels[-1]
        judged = change
    else:
        history = [v for v in (spec.value(f) for f in recent) if v is not None]
        judged = value
    if spec.kind == SHARE and value is None:
        return Measure(spec.field, spec.name, spec.kind, None, None, None, None, None, NOTHING_NEW)
    needed = MIN_NIGHTS - 1 if spec.kind == TOTAL else MIN_NIGHTS  # a total's history is its changes
    if len(recent) < MIN_NIGHTS or len(history) < needed or judged is None:
        return Measure(spec.field, spec.name, spec.kind, value, change, None, None, None, TOO_FEW)
    low, high = usual_range(history, spec.kind, tonight.new_records)
    verdict = HIGH if judged > high else LOW if judged < low else NORMAL
    return Measure(spec.field, spec.name, spec.kind, value, change, statistics.median(history), low, high, verdict)


def summarise(
    night: dt.date,
    tonight: NightFigures | None,
    recent: Sequence[NightFigures],
    *,
    decisions_since_previous: int | None = None,
    pending: int | None = None,
) -> Summary:
    """The summary of ``night`` from its figures and those of the recent nights (oldest first).

    ``decisions_since_previous`` is how many review decisions were taken between the previous linked night and
    tonight (None: unknown); ``pending`` the pairs waiting for review when ``tonight`` is None.
    """
    previous = recent[-1] if recent else None
    if tonight is None:
        actions = [_review_action(pending or 0, None)] if pending else []
        return Summary(night, None, previous, len(recent), (), tuple(actions))
    measures = tuple(judge(spec, tonight, recent) for spec in MEASURES)
    summary = Summary(night, tonight, previous, len(recent), measures, ())
    return replace(summary, actions=tuple(_actions(summary, decisions_since_previous)))


def operator_summary(con: duckdb.DuckDBPyConnection, night: dt.date, n: int = RECENT_NIGHTS) -> Summary:
    """The operator's summary of ``night``: its ``linkage_nights`` row against the ``n`` linked nights before it."""
    tonight = night_figures(con, night)
    recent = recent_nights(con, before=night, n=n)
    decisions = pending = None
    if tonight is not None and recent:
        decisions = int(
            con.execute(
                f"SELECT count(*) FROM {REVIEW_DECISIONS_TABLE} WHERE decided_at > ? AND decided_at <= ?",
                [recent[-1].finished_at, tonight.finished_at],
            ).fetchall()[0][0]
        )
    if tonight is None:
        pending = int(con.execute(f"SELECT count(*) FROM {REVIEW_TABLE} WHERE status = 'pending'").fetchall()[0][0])
    return summarise(night, tonight, recent, decisions_since_previous=decisions, pending=pending)


def _plural(n: float, noun: str, plural: str | None = None) -> str:
    return f"{_number(n)} {noun if n == 1 else plural or noun + 's'}"


def _number(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def _signed(v: float) -> str:
    return ("+" if v >= 0 else "−") + _number(abs(v))


def _range(m: Measure, per_night: bool = True) -> str:
    """The usual range in words: "900 to 1,120", "up to 3", "+0 to +2 a night", "52% to 68%"."""
    assert m.low is not None and m.high is not None
    if m.kind == SHARE:
        return f"{m.low:.0%} to {m.high:.0%}"
    if m.kind == TOTAL:
        return f"{_signed(m.low)} to {_signed(m.high)}" + (" a night" if per_night else "")
    return f"up to {_number(m.high)}" if m.low == 0 else f"{_number(m.low)} to {_number(m.high)}"


def _tonight(m: Measure) -> str:
    if m.tonight is None:
        return "–"
    if m.kind == SHARE:
        return f"{m.tonight:.0%}"
    if m.kind == TOTAL and m.change is not None:
        return f"{_number(m.tonight)} ({_signed(m.change)})"
    return _number(m.tonight)


def _usual(m: Measure) -> str:
    if m.median is None:
        return "–"
    if m.kind == SHARE:
        return f"{m.median:.0%} ({_range(m)})"
    if m.kind == TOTAL:
        return f"{_signed(m.median)} a night ({_range(m, per_night=False)})"
    return f"{_number(m.median)} ({_range(m)})"


def _review_action(pending: int, queued: Measure | None) -> str:
    waiting = f"{_plural(pending, 'pair')} {'is' if pending == 1 else 'are'} waiting for review"
    if queued is not None and queued.tonight is not None:
        waiting += f" ({_number(queued.tonight)} queued tonight"
        waiting += f", more than usual: {_range(queued)})" if queued.verdict == HIGH else ")"
    return (
        f"{waiting}: `migralink review list` shows them, `migralink review accept` and `migralink review reject` "
        "decide them; the next night applies the decisions."
    )


def _actions(s: Summary, decisions: int | None) -> list[str]:
    """The bullets of "What to act on", in plain words, most urgent first."""
    f = s.figures
    assert f is not None
    actions: list[str] = []
    keys = [s.measure("merged_keys"), s.measure("split_keys")]
    if f.mode == "full":
        model = f"model version {f.model_version}"
        if s.previous is not None and s.previous.model_version != f.model_version:
            model += f", was {s.previous.model_version}"
        actions.append(
            f"Tonight was a full relink (every record linked again, {model}): merges and splits of person keys are "
            f"expected to be higher than on an incremental night ({_plural(f.merged_keys, 'key')} merged, "
            f'{_plural(f.split_keys, "key")} split; the table "Person keys changed tonight" below lists them).'
        )
    elif any(m.verdict == HIGH for m in keys):
        what = " and ".join(
            f"{_number(m.tonight or 0)} {m.name} (usually {_range(m)})" for m in keys if m.verdict == HIGH
        )
        action = f'More person keys changed than usual: {what}. See the table "Person keys changed tonight" below.'
        if decisions:
            action += (
                f" {_plural(decisions, 'review decision was', 'review decisions were')} taken since the previous "
                "night: if one caused this, `migralink review log` shows who decided what and "
                '`migralink review undo PAIR_ID --reason "..."` returns the pair to the queue.'
            )
        else:
            action += (
                " No review decision was taken since the previous night, so tonight's records caused them: the "
                "Coherence section below shows whether the merged persons hold facts one person cannot have."
            )
        actions.append(action)
    rose = [m for m in s.measures if m.kind == TOTAL and m.verdict == HIGH]
    if rose:
        what = "; ".join(f"{m.name} by {_number(m.change or 0)} (usually {_range(m)})" for m in rose)
        actions.append(
            f"Rose more than usual tonight: {what}. These are signs of different people merged into one person: "
            "see the Coherence section below and the person keys merged tonight."
        )
    if f.review_pending:
        actions.append(_review_action(f.review_pending, s.measure("review_queued")))
    other = [m for m in s.measures if m.field in ("new_records", "joined_share", "new_persons") and m.unusual]
    if other:
        what = "; ".join(f"{m.name}: {_tonight(m)} ({m.verdict}; usually {_range(m)})" for m in other)
        actions.append(
            f"Also unusual tonight: {what}. A change in what the sources delivered is the usual cause: check "
            "tonight's ingest."
        )
    if not actions:
        actions.append(
            "Nothing needs action tonight: every measure is within its usual range and no pair is waiting for review."
            if s.enough_nights
            else "Nothing needs action tonight: no pair is waiting for review (too few nights yet to judge the rest)."
        )
    return actions


def _inline_code(text: str) -> str:
    """Escape ``text`` for HTML and show `backticked` commands as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def summary_html(s: Summary) -> str:
    """The summary as HTML: a table (measure | tonight | usual | verdict) and the bullets of what to act on."""
    if s.figures is None:
        lead = (
            "<p>No linkage figures were recorded for this night, so it cannot be compared with the recent nights.</p>"
        )
        bullets = "".join(f"<li>{_inline_code(a)}</li>" for a in s.actions) or "<li>Nothing to act on.</li>"
        return f'<section id="summary"><h2>Summary</h2>{lead}<h3>What to act on</h3><ul>{bullets}</ul></section>'
    f = s.figures
    mode = "A full relink" if f.mode == "full" else "An incremental night"
    if s.enough_nights:
        lead = (
            f"{mode}, compared with the {_plural(s.nights, 'linked night')} before it: their median and, in "
            "brackets, the usual range."
        )
    else:
        lead = (
            f"{mode}. Only {_plural(s.nights, 'linked night')} before it: too few nights to compare (at least "
            f"{MIN_NIGHTS} are needed)."
        )
    rows = "".join(
        f'<tr><td style="text-align:left">{html.escape(m.name)}</td><td>{_tonight(m)}</td><td>{_usual(m)}</td>'
        f'<td style="text-align:left">{f"<strong>{m.verdict}</strong>" if m.unusual else m.verdict}</td></tr>'
        for m in s.measures
    )
    table = (
        f"<table><tr><th>measure</th><th>tonight</th><th>usual (recent {s.nights} nights)</th><th>verdict</th></tr>"
        f"{rows}</table>"
    )
    note = (
        "<p><small>Usual range: the middle half of the recent nights widened by 1.5 times its width (the outlier "
        "rule of a box plot), and never narrower than the chance variation of a count of that size. The last "
        "three are totals over all persons, judged by their change since the previous night.</small></p>"
    )
    bullets = "".join(f"<li>{_inline_code(a)}</li>" for a in s.actions)
    return (
        f'<section id="summary"><h2>Summary</h2><p>{html.escape(lead)}</p>{table}{note}'
        f"<h3>What to act on</h3><ul>{bullets}</ul></section>"
    )


def write_report(
    con: duckdb.DuckDBPyConnection,
    model: LinkageModel,
    night: dt.date,
    out_dir: Path,
    *,
    coherence: Coherence | None = None,
    chart_cache: Path | None = None,
) -> Path:
    """Write ``out_dir/linkage-<night>.html`` and return its path.

    The page opens with the operator's summary (:func:`operator_summary`; the night's ``linkage_nights`` row is
    recorded before the report is written), then the model, the key changes and the charts.
    ``coherence`` are the figures of :func:`linkage.coherence.coherence_figures` when the caller has them already
    (computed here otherwise). ``chart_cache``: a directory of charts already rendered (see :class:`ChartCache`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = ChartCache(chart_cache)
    coherence = coherence or coherence_figures(con)
    summary = summary_html(operator_summary(con, night))
    changes = con.execute(
        "SELECT reason, count(DISTINCT old_key), sum(records) FROM person_key_history WHERE night = ? GROUP BY ALL",
        [night],
    ).fetchall()
    totals = con.execute(
        f"SELECT count(*), count(DISTINCT cluster_id), (SELECT count(*) FROM {PAIRS_TABLE} WHERE review) "
        f"FROM {CLUSTERS_TABLE}"
    ).fetchall()[0]
    charts: list[alt.TopLevelMixin] = [match_weight_chart(con), cluster_size_chart(con), m_u_chart(model)]
    waterfall = waterfall_charts(con)
    if waterfall is not None:
        charts.insert(2, waterfall)
    body = "\n".join(_chart_html(c, i, cache) for i, c in enumerate(charts))
    names = name_weight_frame(con)
    weights = (
        f"<p>{html.escape(names)}</p>"
        if isinstance(names, str)
        else _chart_html(name_weight_chart(names), len(charts) + 1, cache)
    )
    rows = (
        "".join(
            f"<tr><td>{html.escape(reason)}</td><td>{keys:,}</td><td>{records:,}</td></tr>"
            for reason, keys, records in changes
        )
        or "<tr><td colspan=3>no merges or splits tonight</td></tr>"
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Linkage report {night}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} td,th{{padding:2px 12px;text-align:right}}</style>
</head><body><h1>Linkage report, night of {night}</h1>
{summary}
<p>Model version {model.version} ({html.escape(model.model_id[:8])}); link threshold {model.link_threshold},
review threshold {model.review_threshold}. {totals[0]:,} records in {totals[1]:,} persons; {totals[2]:,} pairs for
clerical review.</p>
<h2>Person keys changed tonight</h2><table><tr><th>change</th><th>old keys</th><th>records</th></tr>{rows}</table>
{body}
<h2>Coherence</h2>
<p>Signs of different people merged into one person: birth dates more than one keying error apart (equal, day and
month swapped, one of year, month and day different, or a day equal to its month such as a defaulted 1 January
against the same year are one keying error), two documents of one issuing country used at the same time,
consecutive border crossings in the same direction (a missed crossing does this too). Counts of persons.</p>
{coherence_table(coherence)}
{_chart_html(coherence_charts(coherence), len(charts), cache)}
<h2>Weights per naming tradition</h2>
<p>For the {TOP_NATIONALITIES} nationalities with most entities: the name evidence of scored pairs of the same
nationality that agree exactly on family and given names. A common name counts for less than a rare one.</p>
{weights}</body></html>"""
    path = out_dir / f"linkage-{night.isoformat()}.html"
    path.write_text(page, encoding="utf-8")
    cache.prune()
    return path


def _chart_html(chart: alt.TopLevelMixin, index: int, cache: ChartCache | None = None) -> str:
    """One chart rendered to inline SVG (no JavaScript, no network)."""
    return f'<figure id="chart-{index}">{chart_svg(chart, cache)}</figure>'
