"""The data team's report of a release: what was released, what was protected and how much, and the monthly
flows as released.

Written to the warehouse's ``reports/`` (``release-<date>-<purpose>.html``), never into the release itself: the
deviation figures (mean absolute deviation of the released from the unprotected counts) are computed inside
the warehouse and are for the data team only.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import altair as alt
import duckdb

from linkage import chart_svg, tips

if TYPE_CHECKING:
    from pipeline.publish.release import PurposeReleased

_METHOD_WORDS = {
    "cell_key": "cell key perturbation",
    "rr3": "random rounding to base 3",
    "suppression": "threshold and secondary suppression",
    "dp": "differential privacy",
}


def released_flows_chart(con: duckdb.DuckDBPyConnection, release_id: str) -> alt.Chart | None:
    """Monthly arrivals, departures and net migration as released (withheld months left out), or None when the
    release holds no monthly flows."""
    frame = con.execute(
        """SELECT period AS month, measure, released FROM release_cells
           WHERE release_id = ? AND table_name = 'stat_migration_flows' AND dimension = 'total'
             AND period_type = 'month' AND released IS NOT NULL ORDER BY period""",
        [release_id],
    ).df()
    if frame.empty:
        return None
    frame["measure"] = frame["measure"].str.replace("_", " ")
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("month:O", title="month"),
            y=alt.Y("released:Q", title="persons (as released)"),
            color=alt.Color("measure:N", title=None),
            tooltip=tips("month", "measure", "released"),
        )
        .properties(width=760, height=260, title="Long-term migration per month, as released")
    )


def write_release_report(con: duckdb.DuckDBPyConnection, release: PurposeReleased, out_dir: Path) -> Path:
    """Write ``out_dir/release-<date>-<purpose>.html`` for one purpose's release and return its path."""
    ledger = con.execute(
        """SELECT table_name, method, cells, suppressed, perturbed, mean_abs_deviation, file, sha256
           FROM release_ledger WHERE release_id = ? ORDER BY table_name""",
        [release.release_id],
    ).fetchall()
    release_date, vintage, cutoff, version, off_calendar, reason, budget_spent = con.execute(
        """SELECT release_date, vintage, cutoff, register_version, off_calendar, reason, budget_spent
           FROM release_ledger WHERE release_id = ? LIMIT 1""",
        [release.release_id],
    ).fetchall()[0]
    rows = "".join(
        f"<tr><td>{html.escape(str(table))}</td><td>{html.escape(_METHOD_WORDS.get(str(method), str(method)))}</td>"
        f"<td>{cells:,}</td><td>{withheld:,}</td><td>{changed:,}</td><td>{deviation:.2f}</td>"
        f"<td>{html.escape(str(file))}</td><td><code>{str(digest)[:16]}</code></td></tr>"
        for table, method, cells, withheld, changed, deviation, file, digest in ledger
    )
    chart = released_flows_chart(con, release.release_id)
    figure = f"<figure>{chart_svg(chart)}</figure>" if chart is not None else "<p>No monthly flows released.</p>"
    off = f"<p><b>Off-calendar release.</b> Reason: {html.escape(str(reason))}</p>" if off_calendar else ""
    budget = (
        f"<p>Privacy-loss budget spent by this release: {html.escape(str(budget_spent))} per table.</p>"
        if budget_spent is not None
        else ""
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Release {html.escape(release.purpose)} {release_date}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} td,th{{padding:2px 10px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}</style></head><body>
<h1>Release of {html.escape(release.purpose)}, {release_date}</h1>
<p>Audience: {html.escape(release.audience)}. Statistics vintage {vintage}, data cut-off {cutoff}; purpose
register {html.escape(str(version))}. Files in <code>{html.escape(str(release.directory))}</code>.</p>
{off}{budget}
<h2>What was released and how it was protected</h2>
<p>Withheld: cells suppressed (primary and secondary). Changed: released cells whose value differs from the
unprotected count. Mean absolute deviation: over the released cells, from the unprotected counts (computed in the
warehouse; not part of the release).</p>
<table><tr><th>table</th><th>method</th><th>cells</th><th>withheld</th><th>changed</th>
<th>mean absolute deviation</th><th>file</th><th>SHA-256</th></tr>{rows}</table>
<h2>Monthly flows as released</h2>{figure}
</body></html>"""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"release-{release_date}-{release.purpose}.html"
    path.write_text(page, encoding="utf-8")
    return path
