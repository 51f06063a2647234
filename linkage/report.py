"""The linkage quality report of one run: an HTML page of charts, pseudonymous throughout.

Charts (Vega-Lite through Altair, rendered to inline SVG so the page opens anywhere, without a network):

* match-weight distribution of the scored pairs, split into linked, queued for review and not linked;
* the model's m and u probabilities and the match weight of every comparison level;
* waterfall charts of sample pairs around the review band (per-comparison partial match weights);
* the distribution of cluster (person) sizes;
* tonight's new persons, merges and splits of person keys.

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

from linkage.link import CLUSTERS_TABLE, PAIRS_TABLE
from linkage.model import LinkageModel

alt.data_transformers.disable_max_rows()


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


def write_report(con: duckdb.DuckDBPyConnection, model: LinkageModel, night: dt.date, out_dir: Path) -> Path:
    """Write ``out_dir/linkage-<night>.html`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
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
{body}</body></html>"""
    path = out_dir / f"linkage-{night.isoformat()}.html"
    path.write_text(page, encoding="utf-8")
    return path


def _chart_html(chart: alt.TopLevelMixin, index: int) -> str:
    """One chart rendered to inline SVG (no JavaScript, no network)."""
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(chart.to_json())
    return f'<figure id="chart-{index}">{svg}</figure>'
