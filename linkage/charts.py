"""Charts of the reports: Vega-Lite specs (Altair) rendered to inline SVG by vl-convert, without a network.

Shared by the linkage report (:mod:`linkage.report`) and the pipeline's statistics and release reports.

Two costs are kept out of a night's critical path:

* vl-convert starts its JavaScript engine on the first chart of a process (about 1 s, more on a busy machine).
  :func:`warm_up` starts it in a background thread when a night begins; the engine runs outside the GIL, so
  the night's own work goes on meanwhile, and the first chart finds it ready.
* Altair turns an encoding given as a string or a dict into a channel object by searching every class of the
  Vega-Lite schema (about 25 ms each). The reports build their tooltips and sign colours with the helpers below,
  which create the channel objects directly: same spec, a tenth of the time.

:class:`ChartCache` keeps charts already rendered, by the SHA-256 of their spec.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
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


def warm_up() -> None:
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


class ChartCache:
    """Charts already rendered, by the SHA-256 of their Vega-Lite spec (data included): a chart whose spec is the
    same as on an earlier night (the model's parameters, until a new model is promoted: 0.5 s to render) is read
    back instead of rendered again. Aggregates only, as in the reports; files not used for :attr:`KEEP_DAYS` days
    are removed. Without a directory, every chart is rendered."""

    KEEP_DAYS = 7

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def svg(self, spec: str) -> str:
        if self.directory is None:
            return render_svg(spec)
        path = self.directory / f"{hashlib.sha256(spec.encode('utf-8')).hexdigest()}.svg"
        try:
            found = path.read_text(encoding="utf-8")
            path.touch()  # used: kept another KEEP_DAYS
            return found
        except OSError:  # not rendered before (or unreadable): rendered now
            pass
        svg = render_svg(spec)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(svg, encoding="utf-8")
        os.replace(partial, path)  # whole or not at all
        return svg

    def prune(self) -> None:
        if self.directory is None or not self.directory.is_dir():
            return
        oldest = time.time() - self.KEEP_DAYS * 86400
        for path in self.directory.iterdir():  # charts, and the half-written file of a killed night
            if path.stat().st_mtime < oldest:
                path.unlink(missing_ok=True)


def chart_svg(chart: alt.TopLevelMixin, cache: ChartCache | None = None) -> str:
    """One chart rendered to inline SVG (no JavaScript, no network), read back from ``cache`` when it has it."""
    return (cache or ChartCache(None)).svg(chart.to_json())
