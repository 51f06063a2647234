"""Charts of the reports: Vega-Lite specs (Altair) rendered to inline SVG by vl-convert, without a network.

Shared by the linkage report (:mod:`linkage.report`) and the pipeline's statistics and release reports.

Three costs are kept out of a night's critical path:

* vl-convert starts its JavaScript engine on the first chart of a process (about 1 s, more on a busy machine).
  :func:`warm_up_charts` starts it in a background thread when a night begins; the engine runs outside the GIL, so
  the night's own work goes on meanwhile, and the first chart finds it ready.
* Altair turns an encoding given as a string or a dict into a channel object by searching every class of the
  Vega-Lite schema (about 25 ms each). The reports build their tooltips and sign colours with the helpers below,
  which create the channel objects directly: same spec, a tenth of the time.

:class:`ChartCache` keeps charts already rendered, by the SHA-256 of their spec.

* Rendering itself (0.1 to 0.6 s a chart): inside :func:`deferred_charts` (a whole night run by ``migralink run``), a
  chart not rendered before is queued to one background thread and the page gets a marker in its place; the night
  goes on with its next steps meanwhile, and when the block ends the markers of the pages in its directory are
  replaced by the SVGs (a failed rendering fails the block). Outside it (an Airflow task, a report asked for on
  its own), a chart is rendered when it is asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import altair as alt

alt.data_transformers.disable_max_rows()

POSITIVE, NEGATIVE = "#2b8a3e", "#c92a2a"  # a weight for (green) or against (red) a match

_WARM: dict[str, threading.Thread] = {}
_WARM_LOCK = threading.Lock()
_WARM_SPEC = json.dumps({"data": {"values": [{"a": 1}]}, "mark": "point", "encoding": {"x": {"field": "a"}}})


def tips(*fields: str) -> list[alt.Tooltip]:
    """Tooltip channels for ``fields`` (Altair shorthand, e.g. ``"sum(pairs)"``)."""
    return [alt.Tooltip(field) for field in fields]


def signed_color(test: str) -> alt.ColorValue:
    """Green where the Vega expression ``test`` holds (a weight for a match), red elsewhere."""
    return alt.ColorValue(NEGATIVE, condition={"test": test, "value": POSITIVE})


def warm_up_charts() -> None:
    """Start vl-convert's engine in a background thread (once per process); returns at once."""
    with _WARM_LOCK:
        if "engine" in _WARM:
            return
        thread = threading.Thread(target=_render, args=(_WARM_SPEC,), name="vl-convert warm-up", daemon=True)
        _WARM["engine"] = thread
        thread.start()


def _render(spec: str) -> str:
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(spec))


def render_svg(spec: str) -> str:
    """The SVG of a Vega-Lite spec (JSON); waits for a warm-up still under way rather than starting a second."""
    thread = _WARM.get("engine")
    if thread is not None and thread is not threading.current_thread():
        thread.join()
    return _render(spec)


_MARKER = "<!--migralink-chart {}-->"
_MARKERS = re.compile(r"<!--migralink-chart ([0-9a-f]{64})-->")


class _Later:
    """Charts queued to one background thread, by the SHA-256 of their spec."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="charts")
        self.jobs: dict[str, Future[str]] = {}

    def submit(self, spec: str, digest: str, store: Callable[[str], None] | None) -> str:
        if digest not in self.jobs:
            self.jobs[digest] = self.executor.submit(self._render, spec, store)
        return _MARKER.format(digest)

    @staticmethod
    def _render(spec: str, store: Callable[[str], None] | None) -> str:
        svg = render_svg(spec)
        if store is not None:
            store(svg)
        return svg

    def finish(self, directory: Path) -> int:
        """Wait for every chart and put it into the pages of ``directory``; returns the pages completed."""
        svgs = {digest: job.result() for digest, job in self.jobs.items()}  # the first failure is raised here
        completed = 0
        for page in sorted(directory.glob("*.html")) if directory.is_dir() else ():
            text = page.read_text(encoding="utf-8")
            if _MARKERS.search(text) is None:
                continue
            unknown = set(_MARKERS.findall(text)) - svgs.keys()
            if unknown:
                raise RuntimeError(f"{page.name}: {len(unknown)} chart(s) were not queued by this block")
            partial = page.with_name(page.name + ".partial")
            partial.write_text(_MARKERS.sub(lambda m: svgs[m.group(1)], text), encoding="utf-8")
            os.replace(partial, page)
            completed += 1
        return completed

    def abandon(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


_DEFERRED: list[_Later] = []  # the block of :func:`deferred_charts` under way in this process, if any


@contextlib.contextmanager
def deferred_charts(directory: Path) -> Iterator[None]:
    """Render the charts of the pages written to ``directory`` in the background while the block goes on; the pages
    are complete when the block ends (see the module docstring). Not nested; one block at a time per process."""
    if _DEFERRED:
        raise RuntimeError("charts are already deferred by another block")
    later = _Later()
    _DEFERRED.append(later)
    try:
        yield
        later.finish(directory)
    finally:
        _DEFERRED.clear()
        later.abandon()


def _digest(spec: str) -> str:
    return hashlib.sha256(spec.encode("utf-8")).hexdigest()


class ChartCache:
    """Charts already rendered, by the SHA-256 of their Vega-Lite spec (data included): a chart whose spec is the
    same as on an earlier night (the model's parameters, until a new model is promoted: 0.5 s to render) is read
    back instead of rendered again. Aggregates only, as in the reports; files not used for :attr:`KEEP_DAYS` days
    are removed. Without a directory, every chart is rendered."""

    KEEP_DAYS = 7

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def svg(self, spec: str) -> str:
        """The chart's SVG; inside :func:`deferred_charts`, a marker in its place unless it is in the cache."""
        digest = _digest(spec)
        if self.directory is not None:
            path = self.directory / f"{digest}.svg"
            try:
                found = path.read_text(encoding="utf-8")
                path.touch()  # used: kept another KEEP_DAYS
                return found
            except OSError:  # not rendered before (or unreadable): rendered now
                pass
        if _DEFERRED:
            return _DEFERRED[0].submit(spec, digest, self._store(digest))
        svg = render_svg(spec)
        store = self._store(digest)
        if store is not None:
            store(svg)
        return svg

    def _store(self, digest: str) -> Callable[[str], None] | None:
        directory = self.directory
        if directory is None:
            return None

        def store(svg: str) -> None:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = directory / f"{digest}.svg"
            partial = path.with_name(path.name + ".partial")
            partial.write_text(svg, encoding="utf-8")
            os.replace(partial, path)  # whole or not at all

        return store

    def prune(self) -> None:
        if self.directory is None or not self.directory.is_dir():
            return
        oldest = time.time() - self.KEEP_DAYS * 86400
        for path in self.directory.iterdir():  # charts, and the half-written file of a killed night
            try:
                if path.stat().st_mtime < oldest:
                    path.unlink(missing_ok=True)
            except FileNotFoundError:  # a chart being stored meanwhile (its .partial renamed): not stale
                continue


def chart_svg(chart: alt.TopLevelMixin, cache: ChartCache | None = None) -> str:
    """One chart rendered to inline SVG (no JavaScript, no network), read back from ``cache`` when it has it."""
    return (cache or ChartCache(None)).svg(chart.to_json())
