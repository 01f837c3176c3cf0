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


# -- repeated, interleaved measurements and their stored tables ------------------------------------------
#
# A table (JSON) holds, per row (e.g. model x batch x precision), the rate of each implementation in every
# repetition, and the ratios to a baseline measured in the same repetition. ``check_tables`` compares a
# rerun with a stored table: the rerun's median ratio must lie inside the stored ratio's min-max range,
# widened on each side by ``floor`` x the stored median (default 5%: a stored range from 3 repetitions
# that happened to agree closely is narrower than the noise of a rerun).

CHECK_FLOOR = 0.05


def spread(values: Sequence[float]) -> dict:
    """Median, min and max of ``values`` (the summary every table cell carries).

    Example:
        >>> spread([3.0, 1.0, 2.0])
        {'median': 2.0, 'min': 1.0, 'max': 3.0, 'n': 3}
    """
    import statistics

    values = [float(v) for v in values]
    if not values:
        raise ValueError("spread of no values")
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize_rows(rows: dict, baseline: str) -> dict:
    """Add ``rate`` and ``ratio`` spreads to ``rows``: ``{row: {"runs": {impl: [rate per repetition]}}}``.

    The ratio of an implementation is taken per repetition against the baseline of the same repetition
    (interleaved runs share the machine's load), then summarised; a repetition whose baseline or own run
    failed (``None``) is left out.
    """
    for row in rows.values():
        runs = row["runs"]
        row["rate"] = {impl: spread([r for r in rates if r is not None]) for impl, rates in runs.items()
                       if any(r is not None for r in rates)}
        base = runs.get(baseline, [])
        row["ratio"] = {}
        for impl, rates in runs.items():
            if impl == baseline:
                continue
            ratios = [r / b for r, b in zip(rates, base) if r is not None and b]
            if ratios:
                row["ratio"][impl] = spread(ratios)
    return rows


def check_tables(stored: dict, rerun: dict, floor: float = CHECK_FLOOR) -> List[str]:
    """Lines naming every ratio of ``rerun`` outside the stored spread; empty when all agree.

    A ratio agrees when the rerun's median lies within ``[stored min - floor*m, stored max + floor*m]``
    (``m`` the stored median). Rows or implementations missing from either table are reported too,
    except those that only the stored table has (a rerun may measure a subset).

    Example:
        >>> row = {"ratio": {"jax": {"median": 1.6, "min": 1.5, "max": 1.7, "n": 3}}}
        >>> check_tables({"rows": {"w2vvpp": row}}, {"rows": {"w2vvpp": row}})
        []
        >>> slow = {"ratio": {"jax": {"median": 1.2, "min": 1.1, "max": 1.3, "n": 3}}}
        >>> check_tables({"rows": {"w2vvpp": row}}, {"rows": {"w2vvpp": slow}})[0].split(":")[0]
        'FAIL w2vvpp jax'
    """
    problems = []
    stored_rows, rerun_rows = stored.get("rows", {}), rerun.get("rows", {})
    for key, row in rerun_rows.items():
        if key not in stored_rows:
            problems.append(f"FAIL {key}: not in the stored table (stored rows: {sorted(stored_rows)})")
            continue
        for impl, new in row.get("ratio", {}).items():
            old = stored_rows[key].get("ratio", {}).get(impl)
            if old is None:
                problems.append(f"FAIL {key} {impl}: no stored ratio to compare with")
                continue
            margin = floor * old["median"]
            low, high = old["min"] - margin, old["max"] + margin
            if not low <= new["median"] <= high:
                word = "slower" if new["median"] < low else "faster"
                problems.append(
                    f"FAIL {key} {impl}: ratio {new['median']:.2f}x (rerun min-max {new['min']:.2f}-{new['max']:.2f}) "
                    f"is {word} than the stored {old['median']:.2f}x allows: stored min-max "
                    f"{old['min']:.2f}-{old['max']:.2f} widened by {floor:.0%} of the median = {low:.2f}-{high:.2f}")
        missing = sorted(set(stored_rows[key].get("ratio", {})) & set(row.get("rate", {})) - set(row.get("ratio", {})))
        for impl in missing:
            problems.append(f"FAIL {key} {impl}: the rerun has no ratio (its baseline failed)")
    return problems


def machine_info() -> dict:
    """CPU model, cores, RAM, load average, Python and package versions, git commit: a table's provenance."""
    import subprocess
    from importlib import metadata

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for package in ("numpy", "keras", "jax", "jaxlib", "torch", "tensorflow", "tensorflow-cpu"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass

    def git(*args):
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"cpu_model": model, "cores": os.cpu_count(), "ram_gib": round(_mem_gib(), 1),
            "versions": versions, "git_commit": git("rev-parse", "HEAD"),
            "git_dirty": bool(status), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}


def uptime_load() -> dict:
    """``uptime``'s 1/5/15-minute load averages now (the machine may be shared)."""
    one, five, fifteen = os.getloadavg()
    return {"1min": round(one, 2), "5min": round(five, 2), "15min": round(fifteen, 2),
            "utc": time.strftime("%H:%M:%S", time.gmtime())}


def _mem_gib() -> float:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    return 0.0
