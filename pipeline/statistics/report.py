"""The statistics report: one HTML page per night with the vintage's migration chart and yearly totals.

Written from committed statistics (:mod:`pipeline.statistics.tables`); it holds counts only.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import altair as alt
import duckdb
import pandas as pd

from pipeline.errors import WarehouseError
from pipeline.statistics.tables import (
    FLOWS_TABLE,
    OVERSTAYS_TABLE,
    PERMITS_TABLE,
    REVISIONS_TABLE,
    STOCK_TABLE,
)


def _line_segments(frame: pd.DataFrame) -> pd.DataFrame:
    """Split the monthly points into runs of equal ``figure``; each run also starts at the previous point, so
    the line is unbroken and the segment leading into a provisional month is drawn as provisional."""
    frame = frame.reset_index(drop=True)
    run = (frame["figure"] != frame["figure"].shift()).cumsum()
    frame = frame.assign(segment=run)
    starts = frame.index[(run != run.shift()) & (frame.index > 0)]
    joins = frame.loc[starts - 1].assign(
        segment=frame.loc[starts, "segment"].to_numpy(), figure=frame.loc[starts, "figure"].to_numpy()
    )
    return pd.concat([frame, joins], ignore_index=True)


def migration_chart(con: duckdb.DuckDBPyConnection, vintage: dt.date) -> alt.LayerChart:
    """Monthly long-term arrivals (up), departures (down) and net migration (line) of one vintage.

    Final months are solid bars, a solid line and filled points; provisional months are pale bars, a dashed
    line and hollow points.
    """
    # Months without any crossing have no row: they are shown as final zeros, so the axis has no gaps.
    wide = con.execute(
        f"""WITH flows AS (SELECT period, arrivals, departures, net_migration, figure FROM {FLOWS_TABLE}
                           WHERE vintage = ? AND period_type = 'month' AND dimension = 'total'),
            months AS (SELECT strftime(unnest(generate_series(min(period || '-01')::DATE,
                                                              max(period || '-01')::DATE, INTERVAL 1 MONTH)),
                                       '%Y-%m') AS period FROM flows)
        SELECT period, coalesce(arrivals, 0) AS arrivals, coalesce(departures, 0) AS departures,
               coalesce(net_migration, 0) AS net_migration, coalesce(figure, 'final') AS figure
        FROM months LEFT JOIN flows USING (period) ORDER BY period""",
        [vintage],
    ).df()
    bars = pd.concat(
        [
            wide.assign(flow="arrivals", migrants=wide["arrivals"]),
            wide.assign(flow="departures", migrants=-wide["departures"]),
        ]
    )[["period", "flow", "migrants", "figure"]]
    figures = ["final", "provisional"]
    # One legend for the three encodings of ``figure`` (bar opacity, line dash, point fill).
    legend = alt.Legend(title="figure", symbolType="circle", symbolStrokeWidth=1.5)
    x = alt.X("period:O", title="month")
    columns = (
        alt.Chart(bars)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("migrants:Q", title="long-term migrants (departures below zero)", axis=alt.Axis(format="d")),
            color=alt.Color("flow:N", scale=alt.Scale(domain=["arrivals", "departures"], range=["#1c7ed6", "#e8590c"])),
            opacity=alt.Opacity("figure:N", scale=alt.Scale(domain=figures, range=[1.0, 0.35]), legend=legend),
            tooltip=["period", "flow", "migrants", "figure"],
        )
    )
    line = (
        alt.Chart(_line_segments(wide))
        .mark_line(color="black")
        .encode(
            x=x,
            y="net_migration:Q",
            detail="segment:N",
            strokeDash=alt.StrokeDash(
                "figure:N", scale=alt.Scale(domain=figures, range=[[1, 0], [5, 4]]), legend=legend
            ),
        )
    )
    points = (
        alt.Chart(wide)
        .mark_point(color="black", size=40, opacity=1)
        .encode(
            x=x,
            y=alt.Y("net_migration:Q"),
            fill=alt.Fill(
                "figure:N",
                scale=alt.Scale(domain=figures, range=["black", "white"]),
                legend=legend,
            ),
            stroke=alt.Stroke("figure:N", scale=alt.Scale(domain=figures, range=["black", "black"]), legend=legend),
            tooltip=[alt.Tooltip("period"), alt.Tooltip("net_migration", title="net migration"), "figure"],
        )
    )
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(color="#868e96").encode(y="y:Q")
    title = f"Long-term migration per month, vintage {vintage} (pale bars, dashed line: provisional)"
    return alt.LayerChart(layer=[columns, zero, line, points], title=title, width=760, height=300)


def _year_totals(con: duckdb.DuckDBPyConnection, vintage: dt.date) -> list[tuple[object, ...]]:
    return con.execute(
        f"""WITH flows AS (SELECT period, arrivals, departures, net_migration, figure FROM {FLOWS_TABLE}
                           WHERE vintage = $v AND period_type = 'year' AND dimension = 'total'),
            permits AS (SELECT period, first_permits FROM {PERMITS_TABLE}
                        WHERE vintage = $v AND period_type = 'year' AND dimension = 'total'),
            stock AS (SELECT left(period, 4) AS period, arg_max(residents, period) AS residents,
                             arg_max(figure, period) AS figure, max(reference_date) AS on_day
                      FROM {STOCK_TABLE} WHERE vintage = $v AND dimension = 'total' GROUP BY 1),
            overstays AS (SELECT period, overstays, entries_without_visa FROM {OVERSTAYS_TABLE}
                          WHERE vintage = $v AND period_type = 'year' AND dimension = 'total'),
            years AS (SELECT period FROM flows UNION SELECT period FROM permits UNION SELECT period FROM stock
                      UNION SELECT period FROM overstays)
        SELECT y.period, f.arrivals, f.departures, f.net_migration, f.figure, p.first_permits, s.residents,
               s.on_day, s.figure, o.overstays, o.entries_without_visa
        FROM years y LEFT JOIN flows f USING (period) LEFT JOIN permits p USING (period)
             LEFT JOIN stock s USING (period) LEFT JOIN overstays o USING (period) ORDER BY y.period""",
        {"v": vintage},
    ).fetchall()


def _cell(value: object) -> str:
    if value is None:
        return "<td>–</td>"
    if isinstance(value, int):
        return f"<td>{value:,}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def write_statistics_report(con: duckdb.DuckDBPyConnection, night: dt.date, out_dir: Path) -> Path:
    """Write ``out_dir/statistics-<night>.html`` (the flows chart as inline SVG, year totals, revisions).

    Aggregates only: the page holds totals per year and per month, never a person key or record.

    Raises:
        WarehouseError: no statistics were computed for ``night``.
    """
    found = con.execute(f"SELECT max(cutoff) FROM {FLOWS_TABLE} WHERE vintage = ?", [night]).fetchall()[0][0]
    if found is None:
        raise WarehouseError(f"no statistics for the night of {night}: compute them first")
    out_dir.mkdir(parents=True, exist_ok=True)
    years = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in _year_totals(con, night))
    revised = con.execute(
        f"""SELECT table_name, count(*),
                   count(*) FILTER (WHERE previous_figure = 'provisional' AND current_figure = 'final'),
                   any_value(previous_vintage)
            FROM {REVISIONS_TABLE} WHERE vintage = ? GROUP BY ALL ORDER BY ALL""",
        [night],
    ).fetchall()
    revisions = (
        "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in revised)
        or "<tr><td colspan=4>no revisions against the previous vintage</td></tr>"
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Migration statistics {night}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} td,th{{padding:2px 12px;text-align:right}}</style>
</head><body><h1>Migration statistics, vintage {night}</h1>
<p>Data cut-off {found}. Long-term migration by the 12/16-month rule; a figure is provisional while a crossing in
it is still unresolved, and is revised each night until final. Counts before disclosure control: not for
publication as they stand.</p>
<figure id="chart-0">{_chart_svg(migration_chart(con, night))}</figure>
<h2>Year totals</h2><table><tr><th>year</th><th>arrivals</th><th>departures</th><th>net migration</th>
<th>flows</th><th>first permits</th><th>non-citizen residents</th><th>on</th><th>stock</th><th>overstays</th>
<th>entries without visa</th></tr>{years}</table>
<h2>Revisions against the previous vintage</h2><table><tr><th>table</th><th>revised values</th>
<th>provisional to final</th><th>previous vintage</th></tr>{revisions}</table>
</body></html>"""
    path = out_dir / f"statistics-{night.isoformat()}.html"
    path.write_text(page, encoding="utf-8")
    return path


def _chart_svg(chart: alt.TopLevelMixin) -> str:
    """One chart rendered to inline SVG (no JavaScript, no network)."""
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(chart.to_json()))
