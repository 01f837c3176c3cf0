"""Shared helpers for the benchmark scripts: thread settings, timing, peak memory, Markdown tables.

Import this module before numpy so that ``set_threads`` takes effect on the BLAS library.
"""
from __future__ import annotations

import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def set_threads(threads: int) -> str:
    """Set the BLAS/OpenMP thread count (before numpy is imported) and return a line saying so."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    return f"threads: {', '.join(f'{name}={threads}' for name in THREAD_VARIABLES)}"


def machine_line() -> str:
    """nproc, RAM and Python/numpy versions, for the report header."""
    import numpy as np

    mem_kib = 0
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    return (f"machine: {platform.machine()}, nproc={os.cpu_count()}, RAM={mem_kib / 2 ** 20:.1f} GiB, "
            f"python {platform.python_version()}, numpy {np.__version__}, {time.strftime('%Y-%m-%d')}")


def timed(fn: Callable, repeat: int = 1) -> Tuple[float, object]:
    """Best wall time (seconds) over ``repeat`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (MiB; includes touched memory-mapped pages)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def process_peak_rss_mib() -> float:
    """Peak RSS of this process image (``VmHWM``; unlike ``ru_maxrss`` it is not inherited across exec)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return peak_rss_mib()


def traced_peak_mib(fn: Callable) -> Tuple[float, object]:
    """Peak of NumPy/Python heap allocations (tracemalloc) during ``fn()`` in MiB, and its result."""
    import tracemalloc

    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2 ** 20, result


def markdown_table(headers: Sequence[str], rows: List[Sequence]) -> str:
    """Render rows as a Markdown table (floats with 3 significant decimals)."""
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
