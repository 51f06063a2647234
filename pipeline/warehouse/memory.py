"""The warehouse process's memory: DuckDB's budget, and the C allocator of a long-lived process (glibc only).

**DuckDB's budget.** DuckDB's buffer manager may use 80 % of the machine's memory unless told otherwise, and the
first night of 1,000,000 records peaked anywhere from 3,775 to 4,009 MiB of resident memory with it (the target
is under 4 GiB on a 2-core, 24 GiB machine; docs/performance.md). Every warehouse connection
sets ``memory_limit`` to :func:`memory_limit`: ``MIGRALINK_MEMORY_LIMIT`` (a size such as ``3GiB``, ``2500MB``
or a share of the machine's memory such as ``25%``), else :data:`DEFAULT_MEMORY_LIMIT`. Past it DuckDB spills
to ``migralink.duckdb.tmp`` inside the warehouse directory (mode 0700), removed when the database closes. What
Python holds (the frames handed to Great Expectations and Splink) is outside the budget.

**The C allocator.**

glibc serves a request of at least its *mmap threshold* (128 KiB at first) with a mapping of its own, returned to
the system when freed. But each time such a block is freed the threshold rises to its size (up to 32 MiB), and
later blocks of up to that size come from the heap. The nightly steps build temporary buffers (Arrow and NumPy
arrays, lists and dicts over the records) that grow with the warehouse: each night asks for slightly larger blocks
than the holes the night before left, so in a process that runs night after night (``dag.test()``, a worker that
keeps its process) the heap grew by about 2 MiB a night while what was in use stayed flat
(bench/bench_soak.py, docs/performance.md). A fixed threshold keeps such blocks in mappings of their own.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import re

from pipeline.errors import ConfigError

log = logging.getLogger(__name__)

MEMORY_ENV = "MIGRALINK_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "2GiB"
"""DuckDB's budget when ``MIGRALINK_MEMORY_LIMIT`` is not set. A first night of 1,000,000 records peaked at 3,841
and 3,978 MiB without a budget (DuckDB's own default, 80 % of the memory) and at 3,233-3,246 MiB in four runs with
this one, in no more time (75.3 and 79.7 s against 69.6-76.0 s; docs/performance.md)."""
_SIZE = re.compile(r"(\d+(\.\d+)?) ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)", re.IGNORECASE)


def memory_limit() -> str:
    """DuckDB's memory budget for the warehouse: ``MIGRALINK_MEMORY_LIMIT``, else :data:`DEFAULT_MEMORY_LIMIT`.

    Raises:
        ConfigError: the variable is not a size (``3GiB``, ``2500MB``, ``25%``).
    """
    text = os.environ.get(MEMORY_ENV, "").strip()
    if not text:
        return DEFAULT_MEMORY_LIMIT
    found = _SIZE.fullmatch(text)
    if found is None or float(found.group(1)) <= 0 or (found.group(3) == "%" and float(found.group(1)) > 100):
        raise ConfigError(
            f"{MEMORY_ENV} must be a size such as 3GiB, 2500MB or 25% (of the machine's memory), not {text!r}"
        )
    return text


M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
MMAP_THRESHOLD = 256 * 1024
"""Blocks of at least this size get a mapping of their own, returned to the system when freed."""

_fixed = False


def fix_mmap_threshold() -> None:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` for this process (once; does nothing elsewhere).

    Left alone when the environment sets ``MALLOC_MMAP_THRESHOLD_`` (glibc read it at start-up) or the C library
    is not glibc.
    """
    global _fixed
    if _fixed:
        return
    _fixed = True
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or platform.libc_ver()[0] != "glibc":
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused; glibc's dynamic threshold stays")
