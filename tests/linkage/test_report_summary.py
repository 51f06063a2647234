"""The operator's summary at the top of the linkage report: tonight against the recent nights, and what to act on."""

from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import asdict, replace
from pathlib import Path

import duckdb
import pytest

from linkage.nights import COLUMNS, NightFigures
from linkage.report import (
    HIGH,
    NORMAL,
    TOO_FEW,
    operator_summary,
    poisson_quantile,
    summarise,
    summary_html,
    write_report,
)
from linkage.schema import NIGHTS_TABLE, REVIEW_DECISIONS_TABLE, ensure_schema
from tests.linkage.conftest import LinkedWarehouse

ROOT = Path(__file__).resolve().parents[2]

FIRST = dt.date(2025, 3, 1)
TONIGHT = FIRST + dt.timedelta(days=20)


def ordinary(i: int, night: dt.date | None = None) -> NightFigures:
    """An ordinary incremental night: about 1,000 new records, a few merges and splits, slowly rising totals."""
    night = night or FIRST + dt.timedelta(days=i)
    new_records = 970 + (i * 37) % 61
    joined = new_records * 3 // 5 + i % 5 - 2
    return NightFigures(
        night=night,
        finished_at=dt.datetime.combine(night, dt.time(2, 30)),
        mode="incremental",
        model_version=1,
        new_records=new_records,
        records=100_000 + 1_000 * i,
        persons=60_000 + 400 * i,
        new_persons=new_records - joined - 8 + i % 4,
        joined_existing=joined,
        merged_keys=(0, 1, 0, 2)[i % 4],
        split_keys=1 if i % 3 == 0 else 0,
        review_queued=20 + i % 7,
        review_pending=100 + i,
        largest_person_records=30 + i // 10,
        persons_incompatible_birth_dates=5 + i // 4,
        persons_concurrent_documents=10 + i // 3,
        persons_repeated_direction=200 + 2 * i,
    )


def abnormal() -> NightFigures:
    """Night 20: ordinary volumes, but 40 person keys merged, and the largest person and the persons with
    incompatible birth dates jumped (+9 where +0 or +1 is usual)."""
    night = ordinary(20, TONIGHT)
    return replace(
        night,
        merged_keys=40,
        largest_person_records=night.largest_person_records + 25,
        persons_incompatible_birth_dates=night.persons_incompatible_birth_dates + 8,
        review_pending=137,
    )


def store(con: duckdb.DuckDBPyConnection, *nights: NightFigures) -> None:
    ensure_schema(con)
    for f in nights:
        values = asdict(f)
        con.execute(
            f"INSERT INTO {NIGHTS_TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [values[c] for c in COLUMNS],
        )


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    return con


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_an_abnormal_merge_count_is_flagged_and_ordinary_values_are_normal(con: duckdb.DuckDBPyConnection) -> None:
    store(con, *(ordinary(i) for i in range(20)), abnormal())
    summary = operator_summary(con, TONIGHT)
    assert summary.nights == 20 and summary.enough_nights
    verdicts = {m.field: m.verdict for m in summary.measures}
    assert verdicts == {
        "new_records": NORMAL,
        "joined_share": NORMAL,
        "new_persons": NORMAL,
        "merged_keys": HIGH,
        "split_keys": NORMAL,
        "review_queued": NORMAL,
        "largest_person_records": HIGH,
        "persons_incompatible_birth_dates": HIGH,
        "persons_concurrent_documents": NORMAL,
    }
    merged = summary.measure("merged_keys")
    assert merged.median == 0.5 and merged.low == 0 and 2 <= (merged.high or 0) < 40
    births = summary.measure("persons_incompatible_birth_dates")
    assert births.change == 9  # totals are judged by their change since the previous night
    actions = " ".join(summary.actions)
    assert (
        "More person keys changed than usual: 40 person keys merged (usually up to" in actions
        and "Person keys changed tonight" in actions
    )
    assert "persons with birth dates more than one keying error apart by 9 (usually +0 to +" in actions
    assert "No review decision was taken since the previous night" in actions


def test_review_decisions_since_the_previous_night_point_to_undo(con: duckdb.DuckDBPyConnection) -> None:
    store(con, *(ordinary(i) for i in range(20)), abnormal())
    con.execute(
        f"INSERT INTO {REVIEW_DECISIONS_TABLE} VALUES ('p1', 'accepted', 'ana', ?, NULL), "
        "('p0', 'accepted', 'ana', ?, NULL)",
        [dt.datetime.combine(TONIGHT - dt.timedelta(days=1), dt.time(12)), dt.datetime(2025, 3, 2, 12)],
    )
    actions = " ".join(operator_summary(con, TONIGHT).actions)
    assert "1 review decision was taken since the previous night" in actions
    assert "`migralink review undo PAIR_ID" in actions and "`migralink review log`" in actions


def test_the_review_queue_bullet_names_the_pending_count() -> None:
    summary = summarise(TONIGHT, abnormal(), [ordinary(i) for i in range(20)])
    (bullet,) = [a for a in summary.actions if "waiting for review" in a]
    assert bullet.startswith("137 pairs are waiting for review (26 queued tonight)")
    assert "`migralink review list`" in bullet
    busy = summarise(TONIGHT, replace(abnormal(), review_queued=90), [ordinary(i) for i in range(20)])
    assert "(90 queued tonight, more than usual: " in " ".join(busy.actions)
    rendered = summary_html(summary)
    assert "<code>migralink review list</code>" in rendered


def test_an_ordinary_night_with_an_empty_queue_needs_nothing() -> None:
    summary = summarise(TONIGHT, replace(ordinary(20, TONIGHT), review_pending=0), [ordinary(i) for i in range(20)])
    assert {m.verdict for m in summary.measures} == {NORMAL}
    assert summary.actions == (
        "Nothing needs action tonight: every measure is within its usual range and no pair is waiting for review.",
    )


def test_with_three_nights_the_summary_says_too_few_nights(con: duckdb.DuckDBPyConnection) -> None:
    store(con, *(ordinary(i) for i in range(17, 20)), abnormal())
    summary = operator_summary(con, TONIGHT)
    assert summary.nights == 3 and not summary.enough_nights
    assert {m.verdict for m in summary.measures} == {TOO_FEW}
    assert all(m.low is None and m.high is None for m in summary.measures)
    assert "too few nights to compare" in text(summary_html(summary))
    assert any("137 pairs are waiting for review" in a for a in summary.actions)


def test_a_full_relink_explains_its_merges() -> None:
    tonight = replace(abnormal(), mode="full", model_version=2, split_keys=15)
    actions = summarise(TONIGHT, tonight, [ordinary(i) for i in range(20)]).actions
    assert actions[0].startswith("Tonight was a full relink (every record linked again, model version 2, was 1)")
    assert "40 keys merged, 15 keys split" in actions[0]
    assert not any(a.startswith("More person keys changed than usual") for a in actions)


def test_one_odd_night_does_not_widen_the_usual_range() -> None:
    recent = [ordinary(i) for i in range(20)]
    recent[5] = replace(recent[5], merged_keys=500, mode="full")
    assert summarise(TONIGHT, abnormal(), recent).measure("merged_keys").verdict == HIGH


def test_small_counts_get_the_poisson_noise_of_their_size() -> None:
    assert [poisson_quantile(0, 0.999), poisson_quantile(1, 0.999), poisson_quantile(10, 0.001)] == [0, 5, 2]
    assert poisson_quantile(10_000, 0.999) == pytest.approx(10_000 + 3.09 * 100, abs=2)
    # One merge on a quarter of the nights, none on the others: two merges tonight is chance, ten is not.
    recent = [replace(ordinary(i), merged_keys=int(i % 4 == 0)) for i in range(20)]

    def verdict(merged_keys: int) -> str:
        tonight = replace(ordinary(20, TONIGHT), merged_keys=merged_keys)
        return summarise(TONIGHT, tonight, recent).measure("merged_keys").verdict

    assert (verdict(2), verdict(10)) == (NORMAL, HIGH)


def test_the_report_opens_with_the_summary(linked: LinkedWarehouse, tmp_path: Path) -> None:
    night = dt.date(2024, 12, 31)
    con = linked.con
    con.begin()
    try:
        store(con, *(ordinary(i, night - dt.timedelta(days=20 - i)) for i in range(20)), ordinary(20, night))
        page = write_report(con, linked.model, night, tmp_path).read_text(encoding="utf-8")
    finally:
        con.rollback()
    start, end = page.index('<section id="summary">'), page.index("</section>")
    assert page.index("</h1>") < start < page.index("Model version") < page.index("<figure")
    summary = text(page[start:end])
    assert "measure tonight usual (recent 20 nights) verdict" in summary
    assert "person keys merged" in summary and "What to act on" in summary
    assert not re.search(r"P[0-9a-f]{32}", summary)  # counts only: never a person key


def test_a_night_without_figures_says_so(con: duckdb.DuckDBPyConnection) -> None:
    summary = operator_summary(con, TONIGHT)
    assert summary.figures is None and summary.measures == ()
    assert "No linkage figures were recorded for this night" in summary_html(summary)


@pytest.mark.charts
def test_a_chart_rendered_before_is_read_back_and_unused_ones_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import altair as alt
    import pandas as pd
    import vl_convert

    from linkage.charts import ChartCache

    chart = alt.Chart(pd.DataFrame({"x": [1, 2], "y": [3, 4]})).mark_bar().encode(x="x:Q", y="y:Q")
    other = chart.properties(title="another")
    cache = ChartCache(tmp_path / "charts")
    first = cache.svg(chart.to_json())
    assert first.startswith("<svg") and len(list((tmp_path / "charts").glob("*.svg"))) == 1

    def rendered(_spec: str) -> str:
        raise AssertionError("rendered again")

    monkeypatch.setattr(vl_convert, "vegalite_to_svg", rendered)
    assert ChartCache(tmp_path / "charts").svg(chart.to_json()) == first  # read back, not rendered
    with pytest.raises(AssertionError, match="rendered again"):  # another spec is rendered
        cache.svg(other.to_json())
    monkeypatch.undo()
    cache.svg(other.to_json())
    stale = next(p for p in (tmp_path / "charts").glob("*.svg") if p.read_text(encoding="utf-8") == first)
    old = stale.stat().st_mtime - (ChartCache.KEEP_DAYS + 1) * 86400
    os.utime(stale, (old, old))
    cache.prune()
    assert not stale.exists() and len(list((tmp_path / "charts").glob("*.svg"))) == 1
    assert ChartCache(None).svg(chart.to_json()) == first  # without a directory: rendered, nothing kept


@pytest.mark.charts
def test_charts_deferred_to_the_end_of_a_block_complete_its_pages(tmp_path: Path) -> None:
    """Inside ``deferred`` a page is written with markers while its charts render in the background; when the block
    ends every page of the directory holds the same SVGs as charts rendered on the spot, and the cache has them."""
    import altair as alt
    import pandas as pd

    from linkage.charts import ChartCache, chart_svg, deferred_charts

    charts = [
        alt.Chart(pd.DataFrame({"x": [1, 2], "y": [3, n]})).mark_bar().encode(x=alt.X("x:Q"), y=alt.Y("y:Q"))
        for n in (4, 5)
    ]
    pages, cache = tmp_path / "pages", ChartCache(tmp_path / "charts")
    pages.mkdir()
    with deferred_charts(pages):
        figures = [chart_svg(chart, cache) for chart in charts + charts[:1]]  # the first chart twice
        assert figures[0].startswith("<!--migralink-chart ")  # (the second ask may find it rendered already)
        (pages / "a.html").write_text("<p>" + "".join(figures) + "</p>", encoding="utf-8")
        (pages / "b.html").write_text("<p>no chart</p>", encoding="utf-8")
    on_the_spot = [chart_svg(chart) for chart in charts]
    assert (pages / "a.html").read_text(encoding="utf-8") == "<p>" + "".join(on_the_spot + on_the_spot[:1]) + "</p>"
    assert (pages / "b.html").read_text(encoding="utf-8") == "<p>no chart</p>"
    assert sorted(p.read_text(encoding="utf-8") for p in (tmp_path / "charts").glob("*.svg")) == sorted(on_the_spot)
    assert not list(pages.glob("*.partial"))


@pytest.mark.charts
def test_a_chart_that_fails_to_render_fails_the_deferred_block(tmp_path: Path) -> None:
    """The renderer process refuses a spec: the block fails with its error and the page is not completed; a page
    left with the failed block's marker is refused by the next block rather than published half-drawn."""
    from linkage.charts import ChartCache, deferred_charts

    broken = '{"mark": "nonsense", "data": {"values": [{"a": 1}]}}'  # vl-convert: "conversion failed"
    (tmp_path / "page.html").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="conversion failed"), deferred_charts(tmp_path):
        (tmp_path / "page.html").write_text(ChartCache(None).svg(broken), encoding="utf-8")
    assert (tmp_path / "page.html").read_text(encoding="utf-8").startswith("<!--migralink-chart ")  # not completed
    with pytest.raises(RuntimeError, match="not queued by this block"), deferred_charts(tmp_path):
        pass


def test_pruning_the_chart_cache_passes_over_a_file_gone_meanwhile(tmp_path: Path) -> None:
    """Another process storing a chart renames its ``<digest>.svg.partial`` while this one prunes the directory: a
    file listed but gone by the time it is looked at is skipped, and stale charts are still removed."""
    import os

    from linkage.charts import ChartCache

    cache = ChartCache(tmp_path)
    stale = tmp_path / "stale.svg"
    stale.write_text("<svg/>", encoding="utf-8")
    old = stale.stat().st_mtime - (ChartCache.KEEP_DAYS + 1) * 86400
    os.utime(stale, (old, old))
    gone = tmp_path / "renamed-meanwhile.svg.partial"
    listed = [gone, stale]

    class Listing(type(tmp_path)):  # type: ignore[misc]
        def iterdir(self):  # type: ignore[no-untyped-def]
            return iter(listed)

    cache.directory = Listing(tmp_path)
    cache.prune()
    assert not stale.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_renderer_process_ends_with_a_night_killed_by_sigkill(tmp_path: Path) -> None:
    """A night killed outright (no ``finally``, no ``atexit``) leaves no renderer process waiting forever."""
    import os
    import subprocess
    import time

    script = f"""
import os, signal, sys
from pathlib import Path
from linkage import charts
with charts.deferred_charts(Path({str(tmp_path)!r})):
    charts.warm_up_charts()
    renderer = charts._RENDERER[0]
    renderer.render(charts._WARM_SPEC).result()  # the renderer is up
    renderer.render(charts._WARM_SPEC)  # and owes an answer when the night is killed
    Path({str(tmp_path / "pid")!r}).write_text(str(renderer.process.pid))
    os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr[-2000:]
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    pytest.fail(f"the renderer process {pid} outlived the killed night")


@pytest.mark.charts
def test_a_renderer_that_dies_fails_the_block_and_the_next_block_starts_another(tmp_path: Path) -> None:
    from linkage import charts
    from linkage.charts import ChartCache, deferred_charts

    spec = '{"data": {"values": [{"a": 1}]}, "mark": "bar", "encoding": {"x": {"field": "a"}}}'
    charts._RENDERER.clear()  # a renderer of its own, still starting its engine: the chart below waits in line
    with pytest.raises(RuntimeError, match="renderer process stopped"), deferred_charts(tmp_path):
        (tmp_path / "page.html").write_text(ChartCache(None).svg(spec + " "), encoding="utf-8")
        dying = charts._RENDERER[0]
        dying.process.kill()
        dying.process.wait()
    (tmp_path / "page.html").unlink()
    with deferred_charts(tmp_path):
        (tmp_path / "page.html").write_text(ChartCache(None).svg(spec), encoding="utf-8")
    assert charts._RENDERER[0] is not dying
    assert (tmp_path / "page.html").read_text(encoding="utf-8").startswith("<svg")


def test_the_suite_checks_every_chart_against_the_vega_lite_schema() -> None:
    """A night serializes its specs unchecked (``CHECK_SPECS`` off: the schema check is 0.05 s a chart); the test
    suite switches the check on, so a spec the reports draw wrongly fails the tests that draw it."""
    import altair as alt
    import pandas as pd
    from altair.utils.schemapi import SchemaValidationError

    from linkage import charts

    bad = alt.Chart(pd.DataFrame({"x": [1, 2]})).mark_bar().encode(x=alt.X("x:Q", bin="yes please"))
    assert charts.CHECK_SPECS is True  # switched on by tests/conftest.py
    with pytest.raises(SchemaValidationError, match="bin"):
        charts.chart_svg(bad)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(charts, "CHECK_SPECS", False)
        assert '"bin": "yes please"' in bad.to_json(validate=charts.CHECK_SPECS)  # what a night would pass on


def test_the_suite_checks_each_shape_of_chart_once() -> None:
    """The same chart drawn again with other rows is not checked again (a report drawn night after night); a chart
    with another encoding is."""
    import altair as alt
    import pandas as pd

    from linkage import charts

    def chart(rows: list[int], encoding: str = "x:Q") -> alt.Chart:
        return alt.Chart(pd.DataFrame({"x": rows})).mark_bar().encode(x=encoding)

    checked: list[object] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(charts, "_CHECKED", set())
        to_dict = alt.Chart.to_dict

        def counted(self: alt.Chart, *args: object, **kwargs: object) -> object:
            if kwargs.get("validate", True):
                checked.append(self)
            return to_dict(self, *args, **kwargs)

        patch.setattr(alt.Chart, "to_dict", counted)
        charts.chart_svg(chart([1, 2]))
        charts.chart_svg(chart([3, 4, 5]))  # other rows, another data set's name: the same shape
        assert len(checked) == 1
        charts.chart_svg(chart([3, 4, 5], "x:O"))  # another encoding: checked
        assert len(checked) == 2
