"""Charts of the reports: Vega-Lite specs (Altair) rendered to inline SVG by vl-convert, without a network.

Shared by the linkage report (:mod:`linkage.report`) and the pipeline's statistics and release reports.

Three costs are kept out of a night's critical path:

* vl-convert starts its JavaScript engine on the first chart of a process (about 1 s, more on a busy machine).
  :func:`warm_up_charts` starts it when a step that draws charts begins (the renderer process's inside
  :func:`deferred_charts`, else this process's in a background thread: the start-up runs outside the GIL), so the
  first chart finds it ready.
* Altair turns an encoding given as a string or a dict into a channel object by searching every class of the
  Vega-Lite schema (about 25 ms each). The reports build their tooltips and sign colours with the helpers below,
  which create the channel objects directly: same spec, a tenth of the time.
* Altair checks every spec against the Vega-Lite JSON schema when it is serialized (about 0.05 s a chart, 0.45 s
  of a small night's 6.5 s). The specs are built by this project's code, not by users, so a night serializes them
  unchecked; the test suite switches the check on (:data:`CHECK_SPECS`) for every chart any test draws, once per
  shape of spec (:func:`check_spec`).
* Rendering itself (0.1 to 0.6 s a chart): inside :func:`deferred_charts` (a whole night run by ``migralink run``), a
  chart not rendered before is queued to a renderer process of its own (vl-convert holds the GIL while it renders,
  so a thread would stop the night meanwhile) and the page gets a marker in its place; the night goes on with its
  next steps on the other core, and when the block ends the markers of the pages in its directory are replaced by
  the SVGs (a failed rendering fails the block). Outside it (an Airflow task, a report asked for on
  its own), a chart is rendered when it is asked for (the engine warmed up as above).

:class:`ChartCache` keeps charts already rendered, by the SHA-256 of their spec.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import altair as alt

alt.data_transformers.disable_max_rows()

POSITIVE, NEGATIVE = "#2b8a3e", "#c92a2a"  # a weight for (green) or against (red) a match

# Check each spec against the Vega-Lite schema before rendering it: on in the test suite (tests/conftest.py), off
# in a night (the specs' shapes are this project's own code, checked there).
CHECK_SPECS = False

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
    """Start vl-convert's engine (once per process; inside :func:`deferred_charts`, the renderer process's);
    returns at once."""
    if _DEFERRED:
        _renderer()
        return
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


# The renderer: a Python process that imports only vl-convert and renders the specs it reads from its standard
# input, in order (length-prefixed UTF-8; each answer a length, 0 or 1 for SVG or error message, and the text). It
# ends when its input closes, which the system does when the process that started it ends, even by SIGKILL.
_RENDERER_CODE = r"""
import struct, sys
import vl_convert as vlc
read, write = sys.stdin.buffer.read, sys.stdout.buffer.write
while len(head := read(4)) == 4:
    spec = read(struct.unpack(">I", head)[0]).decode("utf-8")
    try:
        body, failed = str(vlc.vegalite_to_svg(spec)).encode("utf-8"), 0
    except Exception as exc:
        body, failed = str(exc).encode("utf-8"), 1
    write(struct.pack(">IB", len(body), failed) + body)
    sys.stdout.buffer.flush()
"""


class _Renderer:
    """The renderer process and the answers it owes, in the order asked."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _RENDERER_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.waiting: collections.deque[Future[str]] = collections.deque()
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._answers, name="chart renderer", daemon=True).start()

    def render(self, spec: str) -> Future[str]:
        future: Future[str] = Future()
        data = spec.encode("utf-8")
        with self.lock:
            self.waiting.append(future)
            if self.stopped:  # fails it, as every chart a stopped renderer owes
                self._stop()
                return future
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(struct.pack(">I", len(data)) + data)
                self.process.stdin.flush()
            except OSError:
                self._stop()
        return future

    def _answers(self) -> None:
        out = self.process.stdout
        assert out is not None
        while len(head := out.read(5)) == 5:
            size, failed = struct.unpack(">IB", head)
            body = out.read(size)
            if len(body) < size:  # the renderer ended mid-answer: it owes this one too
                break
            text = body.decode("utf-8")
            with self.lock:
                future = self.waiting.popleft()
            if failed:
                future.set_exception(ValueError(text))
            else:
                future.set_result(text)
        with self.lock:
            self._stop()

    def _stop(self) -> None:
        """Under the lock: nothing more is asked of a renderer that stopped; whatever it owed fails."""
        self.stopped = True
        while self.waiting:
            self.waiting.popleft().set_exception(RuntimeError("the chart renderer process stopped"))


_RENDERER: list[_Renderer] = []  # the renderer of this process's deferred charts, kept warm for its next nights


def _renderer() -> _Renderer:
    """The renderer process, started (and its engine warmed up) with the first chart deferred; a stopped one is
    replaced."""
    if not _RENDERER or _RENDERER[0].stopped:
        _RENDERER[:] = [_Renderer()]
        _RENDERER[0].render(_WARM_SPEC)  # starts the engine meanwhile
    return _RENDERER[0]


class _Later:
    """Charts queued to the renderer process, by the SHA-256 of their spec. A process, not a thread: vl-convert holds
    the GIL while it renders, so a thread would stop the night's own Python work for as long."""

    def __init__(self) -> None:
        self.jobs: dict[str, Future[str]] = {}
        self.stores: dict[str, Callable[[str], None] | None] = {}

    def submit(self, spec: str, digest: str, store: Callable[[str], None] | None) -> str:
        if digest not in self.jobs:
            self.jobs[digest] = _renderer().render(spec)
            self.stores[digest] = store
        return _MARKER.format(digest)

    def finish(self, directory: Path) -> int:
        """Wait for every chart and put it into the pages of ``directory``; returns the pages completed."""
        svgs = {digest: str(job.result()) for digest, job in self.jobs.items()}  # the first failure is raised here
        for digest, svg in svgs.items():
            store = self.stores[digest]
            if store is not None:
                store(svg)
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
        _DEFERRED.clear()  # charts still owed are dropped with the block; the renderer stays for the next one


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
            except FileNotFoundError:  # removed or renamed meanwhile (another process storing or pruning): not stale
                continue


def chart_svg(chart: alt.TopLevelMixin, cache: ChartCache | None = None) -> str:
    """One chart rendered to inline SVG (no JavaScript, no network), read back from ``cache`` when it has it."""
    spec = chart.to_json(validate=False)
    if CHECK_SPECS:
        check_spec(chart, spec)
    return (cache or ChartCache(None)).svg(spec)


_CHECKED: set[str] = set()  # the shapes (see check_spec) checked in this process


def check_spec(chart: alt.TopLevelMixin, spec: str) -> None:
    """Check ``chart`` (whose unchecked spec is ``spec``) against the Vega-Lite schema, once per shape: the spec
    without its data rows, which the schema allows as any objects. The same report drawn again with other
    figures is the same shape (0.08 s a chart saved); a chart whose marks, encodings, scales or titles differ is
    checked. Raises as Altair does for a spec the schema does not allow."""
    shape = hashlib.sha256(json.dumps(_without_rows(json.loads(spec)), sort_keys=True).encode()).hexdigest()
    if shape not in _CHECKED:
        chart.to_dict(validate=True)
        _CHECKED.add(shape)


_DATASET_NAME = re.compile(r"data-[0-9a-f]{32}")  # Altair names a data set by the hash of its rows


def _without_rows(node: object) -> object:
    """A spec with the rows of its data (``datasets``, inline ``values``, and the data sets' names, which are
    their rows' hashes) left out, at any depth."""
    if isinstance(node, list):
        return [_without_rows(item) for item in node]
    if isinstance(node, str) and _DATASET_NAME.fullmatch(node):
        return "<rows>"
    if not isinstance(node, dict):
        return node
    return {
        key: "<rows>" if key == "datasets" or (key == "values" and isinstance(value, list)) else _without_rows(value)
        for key, value in node.items()
    }
