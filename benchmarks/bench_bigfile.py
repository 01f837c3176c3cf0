"""Random-row reads from a BigFile: BigFile.read_rows (memmap fancy indexing) vs the lineage's reader.

Usage: python benchmarks/bench_bigfile.py [--quick] [--rows N] [--dim D] [--reads N] [--bigfile FOLDER]

The lineage (w2vv simpleknn/bigfile.py) sorts the wanted rows and, for each, seeks and reads D
floats with ``array('f').fromfile``. Both readers run on the same file, same rows, in the same run,
twice: "cold" (the file's pages dropped from the page cache with posix_fadvise(DONTNEED) before each
reader, one run each) and "warm" (the same rows again, best of 3). --bigfile reuses an existing BigFile
folder (e.g. the gallery kept by ``bench_search.py --keep-gallery``) instead of writing one. Target: >= 10x.
"""
import argparse
import os
import shutil
import sys
import tempfile
from array import array
from pathlib import Path

from _common import machine_line, markdown_table, set_threads, timed


def lineage_read(path: Path, dim: int, rows):
    """Sorted ids, one seek + read of D float32 per row (paraphrase of the lineage's read loop)."""
    vectors = []
    with open(path, "rb") as handle:
        for row in sorted(rows):
            handle.seek(row * dim * 4)
            values = array("f")
            values.fromfile(handle, dim)
            vectors.append(values.tolist())
    return vectors


def drop_from_page_cache(path: Path) -> None:
    """Ask the kernel to evict the file's cached pages (best effort; pages mapped by a live memmap stay)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def prefetched_read_rows(bigfile, feature_path: Path, dim: int, rows):
    """BigFile.read_rows after one posix_fadvise(WILLNEED) per row: the kernel reads the rows in parallel."""
    import numpy as np

    fd = os.open(feature_path, os.O_RDONLY)
    try:
        for row in np.sort(rows):
            os.posix_fadvise(fd, int(row) * dim * 4, dim * 4, os.POSIX_FADV_WILLNEED)
    finally:
        os.close(fd)
    return bigfile.read_rows(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 x 500 file, 2,000 reads")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--dim", type=int, default=500)
    parser.add_argument("--reads", type=int, default=None)
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--bigfile", default=None, help="existing BigFile folder to read (not deleted)")
    args = parser.parse_args()
    threads_line = set_threads(1)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    reads = args.reads or (2_000 if args.quick else 10_000)

    import numpy as np
    from w2vvx.io.bigfile import BigFile, BigFileWriter

    print(threads_line)
    print(machine_line())
    print("command: python benchmarks/bench_bigfile.py " + " ".join(sys.argv[1:]))
    workdir = None
    try:
        rng = np.random.default_rng(0)
        if args.bigfile:
            folder = Path(args.bigfile)
        else:
            workdir = Path(tempfile.mkdtemp(prefix="w2vvx_bench_bigfile_", dir=args.dir))
            folder = workdir / "feat"
            writer = BigFileWriter(folder, args.dim)
            for start in range(0, rows, 50_000):
                n = min(50_000, rows - start)
                writer.add([f"id{i}" for i in range(start, start + n)],
                           rng.standard_normal((n, args.dim), dtype=np.float32))
            writer.close()
        feature_path = folder / "feature.bin"
        n_rows, dim = (int(v) for v in (folder / "shape.txt").read_text().split())
        wanted = rng.choice(n_rows, min(reads, n_rows), replace=False)

        drop_from_page_cache(feature_path)
        slow_cold, slow = timed(lambda: lineage_read(feature_path, dim, wanted))
        drop_from_page_cache(feature_path)
        bigfile = BigFile(folder)  # opened after the drop: its memmap has no page mapped yet
        fast_cold, fast = timed(lambda: bigfile.read_rows(wanted))
        assert np.array_equal(fast[np.argsort(wanted)], np.asarray(slow, dtype=np.float32))
        drop_from_page_cache(feature_path)
        del bigfile
        bigfile = BigFile(folder)
        prefetch_cold, prefetched = timed(lambda: prefetched_read_rows(bigfile, feature_path, dim, wanted))
        assert np.array_equal(prefetched, fast)
        fast_warm, _ = timed(lambda: bigfile.read_rows(wanted), repeat=3)
        slow_warm, _ = timed(lambda: lineage_read(feature_path, dim, wanted), repeat=3)
        size_gib = n_rows * dim * 4 / 2 ** 30
        print(f"file: {n_rows} x {dim} float32 = {size_gib:.2f} GiB; {len(wanted)} random rows; cold = pages "
              "dropped with posix_fadvise(DONTNEED) before the single run; warm = same rows again, best of 3")
        print(markdown_table(["reader", "cache", "seconds", "rows/s", "speed-up vs lineage (target >= 10)"], [
            ["lineage: sorted seek + array('f').fromfile (baseline)", "cold", slow_cold, len(wanted) / slow_cold, 1.0],
            ["BigFile.read_rows (memmap fancy indexing)", "cold", fast_cold, len(wanted) / fast_cold,
             slow_cold / fast_cold],
            ["posix_fadvise(WILLNEED) per row, then BigFile.read_rows (bench-only)", "cold", prefetch_cold,
             len(wanted) / prefetch_cold, slow_cold / prefetch_cold],
            ["lineage: sorted seek + array('f').fromfile (baseline)", "warm", slow_warm, len(wanted) / slow_warm, 1.0],
            ["BigFile.read_rows (memmap fancy indexing)", "warm", fast_warm, len(wanted) / fast_warm,
             slow_warm / fast_warm],
        ]))
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
