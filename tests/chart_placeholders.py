"""Charts drawn as a placeholder in the tests' nights, unless a test is about the charts themselves.

Rendering a Vega-Lite spec to SVG (vl-convert, in a renderer process of its own during a night) costs about 1.2 s
of processor time per small night: a sixth of the night's work and, over the suite's hundreds of nights, minutes on
two cores. Nights of tests about other things get :data:`PLACEHOLDER` instead. Everything before the drawing still
runs: each report builds its charts, every spec is checked against the Vega-Lite schema (``tests/conftest.py``),
parsed as JSON here, digested, cached and put into its page (deferred, as in a night, or on the spot). The tests
marked ``charts`` draw them for real (the renderer's, the chart cache's and the reports' own; the end-to-end night,
the canary and the README's commands, which look for identifiers in everything a night writes), and so do the DAG
tests (in their own processes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

PLACEHOLDER = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8" role="img">'
    "<title>chart not drawn in this test</title></svg>"
)


def placeholder(spec: str) -> str:
    """:data:`PLACEHOLDER` for a spec that is JSON (a spec that is not fails as vl-convert would fail it)."""
    try:
        json.loads(spec)
    except ValueError as exc:
        raise ValueError(f"conversion failed: the spec is not JSON ({exc})") from None
    return PLACEHOLDER


class PlaceholderRenderer:
    """Stands for the renderer process of :mod:`linkage.charts`: answers each spec at once."""

    stopped = False

    def render(self, spec: str) -> Future[str]:
        future: Future[str] = Future()
        try:
            future.set_result(placeholder(spec))
        except ValueError as exc:
            future.set_exception(exc)
        return future


def patches(drawn: Callable[[], bool] = lambda: False) -> list[tuple[Any, str, Any]]:
    """The patches (module, name, replacement) of :mod:`linkage.charts` that draw placeholders whenever ``drawn()``
    is false (asked at each chart) and real charts otherwise."""
    from linkage import charts

    render, renderer = charts._render, charts._renderer
    stand_in = PlaceholderRenderer()

    def _render(spec: str) -> str:
        return render(spec) if drawn() else placeholder(spec)

    def _renderer() -> Any:
        return renderer() if drawn() else stand_in

    return [(charts, "_render", _render), (charts, "_renderer", _renderer)]
