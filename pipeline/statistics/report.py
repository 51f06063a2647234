"""The statistics report: one HTML page per night with the vintage's migration chart, yearly totals (with their
status and a definition of every measure) and revisions.

Written from committed statistics (:mod:`pipeline.statistics.tables`); it holds counts only.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import duckdb
import pandas as pd

from linkage import chart_svg, tips
from pipeline.errors import WarehouseError
from pipeline.histories.rule import RuleParams
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
            tooltip=tips("period", "flow", "migrants", "figure"),
        )
    )
    line = (
        alt.Chart(_line_segments(wide))
        .mark_line(color="black")
        .encode(
            x=x,
            y=alt.Y("net_migration:Q"),
            detail=alt.Detail("segment:N"),
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
            tooltip=[alt.Tooltip("period"), alt.Tooltip("net_migration", title="net migration"), alt.Tooltip("figure")],
        )
    )
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(color="#868e96").encode(y=alt.Y("y:Q"))
    title = f"Long-term migration per month, vintage {vintage} (pale bars, dashed line: provisional)"
    return alt.LayerChart(layer=[columns, zero, line, points], title=title, width=760, height=300)


# The year table's headers, in order; each is also a term of the page's definitions list.
YEAR_COLUMNS: tuple[str, ...] = (
    "year",
    "arrivals",
    "departures",
    "net migration",
    "first permits",
    "non-citizen residents",
    "residents on",
    "overstays",
    "entries without visa",
    "status",
)


@dataclass(frozen=True)
class YearRow:
    """One row of the year table: the year's totals, the stock's reference date and which totals are provisional."""

    year: int
    arrivals: int
    departures: int
    net_migration: int
    first_permits: int
    residents: int
    residents_on: dt.date
    overstays: int
    entries_without_visa: int
    provisional: tuple[str, ...]  # headers of the provisional totals, in table order; empty when all are final

    @property
    def status(self) -> str:
        """``final``, or ``provisional: `` and the headers of the provisional totals."""
        return "provisional: " + ", ".join(self.provisional) if self.provisional else "final"

    def cells(self) -> str:
        """The row's ``<td>`` cells in the order of :data:`YEAR_COLUMNS`."""
        numbers = (self.arrivals, self.departures, self.net_migration, self.first_permits, self.residents)
        return (
            f"<td>{self.year}</td>"  # a year, not a count: no thousands separator
            + "".join(_number(n) for n in numbers)
            + _text(self.residents_on.isoformat())
            + _number(self.overstays)
            + _number(self.entries_without_visa)
            + _text(self.status)
        )


def _year_totals(con: duckdb.DuckDBPyConnection, vintage: dt.date) -> tuple[list[YearRow], list[str]]:
    """The year rows of ``vintage`` and the years left out of them (years before the first border crossing).

    The rows run from the year of the first border crossing in the data to the year of the cut-off: the years
    of the resident stock, which has a total for every month end of that span. Within it a table without a row
    for a year saw nothing in it (no long-term crossing, first permit, overstay or entry without a visa): 0,
    final. Before it, arrivals, departures and the stock cannot be counted at all (there are no border records
    to count them from), so a year that only permits or overstays reach back to is left out rather than shown
    with zeros that would read as "nobody migrated": a statistician expects a row to be a complete, comparable
    year. Such years are returned so the page can say which were left out.
    """
    rows = con.execute(
        f"""WITH stock AS (SELECT left(period, 4) AS year, arg_max(residents, period) AS residents,
                                  arg_max(reference_date, period) AS residents_on, arg_max(figure, period) AS figure
                           FROM {STOCK_TABLE}
                           WHERE vintage = $v AND period_type = 'month' AND dimension = 'total' GROUP BY 1),
            flows AS (SELECT period AS year, arrivals, departures, net_migration, figure FROM {FLOWS_TABLE}
                      WHERE vintage = $v AND period_type = 'year' AND dimension = 'total'),
            permits AS (SELECT period AS year, first_permits, figure FROM {PERMITS_TABLE}
                        WHERE vintage = $v AND period_type = 'year' AND dimension = 'total'),
            overstays AS (SELECT period AS year, overstays, entries_without_visa, figure FROM {OVERSTAYS_TABLE}
                          WHERE vintage = $v AND period_type = 'year' AND dimension = 'total')
        SELECT s.year::INTEGER, coalesce(f.arrivals, 0), coalesce(f.departures, 0), coalesce(f.net_migration, 0),
               coalesce(p.first_permits, 0), s.residents, s.residents_on, coalesce(o.overstays, 0),
               coalesce(o.entries_without_visa, 0),
               coalesce(f.figure = 'provisional', false), coalesce(p.figure = 'provisional', false),
               s.figure = 'provisional', coalesce(o.figure = 'provisional', false)
        FROM stock s LEFT JOIN flows f USING (year) LEFT JOIN permits p USING (year)
             LEFT JOIN overstays o USING (year) ORDER BY s.year""",
        {"v": vintage},
    ).fetchall()
    years = []
    for year, arr, dep, net, permits, residents, on, overstays, entries, *open_ in rows:
        flows_open, permits_open, stock_open, overstays_open = open_
        provisional = (
            (("arrivals", "departures", "net migration") if flows_open else ())
            + (("first permits",) if permits_open else ())
            + (("non-citizen residents",) if stock_open else ())
            + (("overstays", "entries without visa") if overstays_open else ())
        )
        years.append(YearRow(year, arr, dep, net, permits, residents, on, overstays, entries, provisional))
    left_out = con.execute(
        f"""SELECT DISTINCT period FROM (SELECT period FROM {PERMITS_TABLE} WHERE vintage = $v
                                              AND period_type = 'year' AND dimension = 'total'
                                         UNION ALL SELECT period FROM {OVERSTAYS_TABLE} WHERE vintage = $v
                                              AND period_type = 'year' AND dimension = 'total'
                                         UNION ALL SELECT period FROM {FLOWS_TABLE} WHERE vintage = $v
                                              AND period_type = 'year' AND dimension = 'total')
            WHERE period NOT IN (SELECT left(period, 4) FROM {STOCK_TABLE} WHERE vintage = $v
                                 AND period_type = 'month' AND dimension = 'total')
            ORDER BY period""",
        {"v": vintage},
    ).fetchall()
    return years, [year for (year,) in left_out]


def _rule_params(con: duckdb.DuckDBPyConnection, vintage: dt.date) -> RuleParams:
    """The rule's window and threshold of the histories ``vintage`` was computed from (the newest history run up
    to that night), or the default 12/16-month rule when no run is recorded."""
    found = con.execute(
        """SELECT window_days, threshold_days FROM history_runs WHERE night <= ?
           ORDER BY night DESC, finished_at DESC LIMIT 1""",
        [vintage],
    ).fetchall()
    return RuleParams(window=int(found[0][0]), threshold=int(found[0][1])) if found else RuleParams()


def _rule_words(params: RuleParams) -> tuple[str, str]:
    """The rule's name and the time it asks for, e.g. ``12/16-month rule`` and ``at least 12 months (365
    days) of the next 16 months (487 days)``."""
    months = {(487, 365): (12, 16), (365, 274): (9, 12)}.get((params.window, params.threshold))
    if months is None:
        return (
            f"rule of {params.threshold} of {params.window} days",
            f"at least {params.threshold} days of the next {params.window} days",
        )
    return (
        f"{months[0]}/{months[1]}-month rule",
        f"at least {months[0]} months ({params.threshold} days) of the next {months[1]} months ({params.window} days)",
    )


def _definitions(params: RuleParams, vintage: dt.date, cutoff: dt.date) -> str:
    """The definitions list: one ``<dt>``/``<dd>`` per header of the year table and per term of the page."""
    name, rule = _rule_words(params)
    terms = {
        "year": "The calendar year of the border crossing, of the issue of the first permit, of the first day of "
        "the overstay or of the arrival (entries without visa). The table starts in the year of the first border "
        "crossing in the data; the last year runs to the data cut-off.",
        "arrivals": f"Long-term migrant arrivals ({name}): arrivals of non-residents, of any citizenship, who "
        f"spend {rule} in the country, not necessarily in one stay, and so become residents. Counted in the "
        "year of the arrival; an arrival not yet decided by the data cut-off counts if it would be one with no "
        "further crossing recorded (provisional).",
        "departures": f"Long-term migrant departures ({name}): departures of residents who spend {rule} abroad, "
        "not necessarily in one absence, and so stop being residents; counted like arrivals.",
        "net migration": "Arrivals minus departures of the year; negative when more long-term migrants left than "
        "arrived.",
        "first permits": "Persons issued their first residence permit (EU Regulation 862/2007): the earliest "
        "permit of each person in the data by issue date, counted in the year it was issued; later permits and "
        "renewals are not counted.",
        "non-citizen residents": "The resident stock: persons whose statistical residence, as decided by their "
        "last border crossing on or before the date in “residents on”, is resident, and whose nationality "
        "recorded on that crossing is not the host state's (unknown nationalities included). Persons with no "
        "border crossing in the data by that date are not counted.",
        "residents on": "The date the non-citizen residents are counted on: 31 December, or the data cut-off in "
        "the cut-off's year.",
        "overstays": "Stays of non-citizens (of known nationality) that went on beyond the last day their visas "
        "and permits, or for nationals of visa-exempt states their visa-free days, covered them (a stay with no "
        "cover at all from its first day); counted in the year of the first day not covered.",
        "entries without visa": "Stays that began in the year with an arrival on which the person held no valid "
        "visa or permit although they needed one (a non-citizen of known nationality, not from a visa-exempt "
        "state).",
        "status": "Final when every total of the row is final; otherwise provisional, followed by the totals of "
        "the row that are provisional.",
        "provisional": "A figure that may still change in a later vintage: it counts a border crossing whose "
        "outcome under the rule is not decided by the data cut-off (counted by its outcome if no further "
        "crossing is recorded), or, for overstays and entries without visa, an overstay still running at the "
        "cut-off. Provisional figures are revised each night until final.",
        "final": "A figure every crossing and overstay of which is decided by the data cut-off; first permits are "
        "always final. It changes only if records are added, corrected or linked differently.",
        "vintage": f"The night whose run computed the figures ({vintage}); the figures of earlier vintages are "
        "kept, and the values that differ from the previous vintage are counted under the revisions below.",
        "data cut-off": f"The last day the records cover ({cutoff}); records dated after it are not counted.",
    }
    items = "".join(
        f"<dt>{html.escape(term)}</dt><dd>{html.escape(text, quote=False)}</dd>" for term, text in terms.items()
    )
    return f'<dl id="definitions">{items}</dl>'


def _number(value: int) -> str:
    """A count cell, with thousands separators."""
    return f"<td>{value:,}</td>"


def _text(value: object) -> str:
    """A left-aligned cell of text or a date."""
    return f'<td class="text">{html.escape(str(value))}</td>'


DATA_DOCS_LINK = "../quality/gx/uncommitted/data_docs/local_site/index.html"  # from reports/ to the Data Docs


def _quality_section(con: duckdb.DuckDBPyConnection, night: dt.date) -> str:
    """Tonight's quality gates so far (those before the statistics gate) and the link to the Data Docs."""
    rows = con.execute(
        """SELECT stage, count(*), count(*) FILTER (WHERE success),
                  count(*) FILTER (WHERE NOT success AND severity = 'warning'), count(*) FILTER (WHERE accepted)
           FROM quality_results WHERE night = ? GROUP BY stage
           ORDER BY list_position(['raw', 'linkage', 'statistics', 'releases'], stage)""",
        [night],
    ).fetchall()
    body = (
        "".join(
            f"<tr>{_text(stage)}{_number(n)}{_number(met)}{_number(warned)}{_number(accepted)}</tr>"
            for stage, n, met, warned, accepted in rows
        )
        or "<tr><td colspan=5>no quality gate has run for this night yet</td></tr>"
    )
    return (
        '<h2 id="quality">Quality gates</h2><table><tr><th>stage</th><th>expectations</th><th>met</th>'
        f"<th>warnings</th><th>accepted</th></tr>{body}</table>"
        f'<p>Every expectation and its observed counts: <a href="{DATA_DOCS_LINK}">the Data Docs</a> (the '
        "statistics gate itself runs after this report).</p>"
    )


def write_statistics_report(con: duckdb.DuckDBPyConnection, night: dt.date, out_dir: Path) -> Path:
    """Write ``out_dir/statistics-<night>.html``: the flows chart as inline SVG, the year totals with their
    status and definitions, and the revisions against the previous vintage.

    Aggregates only: the page holds totals per year and per month, never a person key or record.

    Raises:
        WarehouseError: no statistics were computed for ``night``.
    """
    found = con.execute(f"SELECT max(cutoff) FROM {FLOWS_TABLE} WHERE vintage = ?", [night]).fetchall()[0][0]
    if found is None:
        raise WarehouseError(f"no statistics for the night of {night}: compute them first")
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, left_out = _year_totals(con, night)
    years = "".join(f"<tr>{row.cells()}</tr>" for row in rows)
    headers = "".join(f"<th>{html.escape(name)}</th>" for name in YEAR_COLUMNS)
    note = (
        f"<p>Not in the table: {', '.join(left_out)}, before the first border crossing in the data; arrivals, "
        f"departures and residents cannot be counted for {'it' if len(left_out) == 1 else 'them'}. Their first "
        f"permits and overstays are in the tables {PERMITS_TABLE} and {OVERSTAYS_TABLE}.</p>"
        if left_out
        else ""
    )
    revised = con.execute(
        f"""SELECT table_name, count(*),
                   count(*) FILTER (WHERE previous_figure = 'provisional' AND current_figure = 'final'),
                   any_value(previous_vintage)
            FROM {REVISIONS_TABLE} WHERE vintage = ? GROUP BY ALL ORDER BY ALL""",
        [night],
    ).fetchall()
    revisions = (
        "".join(
            f"<tr>{_text(table)}{_number(values)}{_number(finalized)}{_text(previous)}</tr>"
            for table, values, finalized, previous in revised
        )
        or "<tr><td colspan=4>no revisions against the previous vintage</td></tr>"
    )
    params = _rule_params(con, night)
    name, rule = _rule_words(params)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Migration statistics {night}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} td,th{{padding:2px 12px;text-align:right}}
td.text{{text-align:left}} dt{{font-weight:bold;margin-top:.5em}} dd{{margin-left:2em}}</style>
</head><body><h1>Migration statistics, vintage {night}</h1>
<p>Data cut-off {found}. Long-term migration by the {html.escape(name)}: a stay in, or absence from, the country
of {html.escape(rule)} after a crossing; a figure is provisional while something counted in it can
still change, and is revised each night until final (see the definitions below the year totals). Counts
before disclosure control: not for publication as they stand.</p>
<figure id="chart-0">{chart_svg(migration_chart(con, night))}</figure>
<h2>Year totals</h2><table id="year-totals"><tr>{headers}</tr>{years}</table>{note}
<h3>Definitions</h3>{_definitions(params, night, found)}
<h2>Revisions against the previous vintage</h2><table><tr><th>table</th><th>revised values</th>
<th>provisional to final</th><th>previous vintage</th></tr>{revisions}</table>
{_quality_section(con, night)}
</body></html>"""
    path = out_dir / f"statistics-{night.isoformat()}.html"
    path.write_text(page, encoding="utf-8")
    return path
