"""The C allocator of a long-lived process that opens the warehouse night after night (glibc only).

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

log = logging.getLogger(__name__)

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
