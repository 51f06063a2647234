"""The linkage quality report of one run: an HTML page of charts, pseudonymous throughout.

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
import math
from pathlib import Path
from typing import Any

import altair as alt
import duckdb
import pandas as pd

from linkage.coherence import Coherence, Distribution, coherence_figures
from linkage.input import INPUT_TABLE
from linkage.link import CLUSTERS_TABLE, PAIRS_TABLE
from linkage.model import LinkageModel

alt.data_transformers.disable_max_rows()

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
            tooltip=["match_weight", "outcome", "sum(pairs)"],
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
    base = alt.Chart(frame).encode(y=alt.Y("level:N", sort=None, title=None), tooltip=["comparison", "level", "m", "u"])
    weights = base.mark_bar().encode(
        x=alt.X("match_weight:Q", title="match weight log2(m/u)"),
        color=alt.condition("datum.match_weight > 0", alt.value("#2b8a3e"), alt.value("#c92a2a")),
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
                y2="end:Q",
                color=alt.condition("datum.weight > 0", alt.value("#2b8a3e"), alt.value("#c92a2a")),
                tooltip=["comparison", "weight"],
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
            tooltip=["records_per_person", "persons"],
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
            tooltip=["bucket", "persons"],
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
        tooltip=["nationality", "pairs", "p10", "p25", "median", "p75", "p90"],
    )
    return alt.layer(
        base.mark_rule().encode(
            y=alt.Y("p10:Q", title="name evidence (match weight)", scale=alt.Scale(zero=False)), y2="p90:Q"
        ),
        base.mark_bar(size=14, color="#74c0fc").encode(y="p25:Q", y2="p75:Q"),
        base.mark_tick(color="black", size=14, thickness=2).encode(y="median:Q"),
        title="Name evidence of pairs agreeing exactly on both names (family, given, nationality, with frequencies)",
    ).properties(width=640, height=240)


def write_report(
    con: duckdb.DuckDBPyConnection,
    model: LinkageModel,
    night: dt.date,
    out_dir: Path,
    *,
    coherence: Coherence | None = None,
) -> Path:
    """Write ``out_dir/linkage-<night>.html`` and return its path.

    ``coherence`` are the figures of :func:`linkage.coherence.coherence_figures` when the caller has them already
    (computed here otherwise).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    coherence = coherence or coherence_figures(con)
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
    body = "\n".join(_chart_html(c, i) for i, c in enumerate(charts))
    names = name_weight_frame(con)
    weights = (
        f"<p>{html.escape(names)}</p>"
        if isinstance(names, str)
        else _chart_html(name_weight_chart(names), len(charts) + 1)
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
{_chart_html(coherence_charts(coherence), len(charts))}
<h2>Weights per naming tradition</h2>
<p>For the {TOP_NATIONALITIES} nationalities with most entities: the name evidence of scored pairs of the same
nationality that agree exactly on family and given names. A common name counts for less than a rare one.</p>
{weights}</body></html>"""
    path = out_dir / f"linkage-{night.isoformat()}.html"
    path.write_text(page, encoding="utf-8")
    return path


def _chart_html(chart: alt.TopLevelMixin, index: int) -> str:
    """One chart rendered to inline SVG (no JavaScript, no network)."""
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(chart.to_json())
    return f'<figure id="chart-{index}">{svg}</figure>'
