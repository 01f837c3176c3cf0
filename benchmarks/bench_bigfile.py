"""Random-row reads from a BigFile: BigFile.read_rows (memmap fancy indexing) vs the lineage's reader.

Usage: python benchmarks/bench_bigfile.py [--quick] [--rows N] [--dim D] [--reads N]

The lineage (w2vv simpleknn/bigfile.py) sorts the wanted rows and, for each, seeks and reads D
floats with ``array('f').fromfile``. Both readers run on the same file, same rows, page cache warm
(the file was just written), in the same run. Target: >= 10x.
"""
import argparse
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 x 500 file, 2,000 reads")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--dim", type=int, default=500)
    parser.add_argument("--reads", type=int, default=None)
    parser.add_argument("--dir", default="/tmp")
    args = parser.parse_args()
    threads_line = set_threads(1)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    reads = args.reads or (2_000 if args.quick else 10_000)

    import numpy as np
    from w2vvx.io.bigfile import BigFile, BigFileWriter

    print(threads_line)
    print(machine_line())
    print("command: python benchmarks/bench_bigfile.py " + " ".join(sys.argv[1:]))
    workdir = Path(tempfile.mkdtemp(prefix="w2vvx_bench_bigfile_", dir=args.dir))
    try:
        rng = np.random.default_rng(0)
        writer = BigFileWriter(workdir / "feat", args.dim)
        for start in range(0, rows, 50_000):
            n = min(50_000, rows - start)
            writer.add([f"id{i}" for i in range(start, start + n)],
                       rng.standard_normal((n, args.dim), dtype=np.float32))
        writer.close()
        bigfile = BigFile(workdir / "feat")
        wanted = rng.choice(rows, reads, replace=False)
        fast_seconds, fast = timed(lambda: bigfile.read_rows(wanted), repeat=3)
        slow_seconds, slow = timed(lambda: lineage_read(workdir / "feat" / "feature.bin", args.dim, wanted), repeat=3)
        assert np.array_equal(fast[np.argsort(wanted)], np.asarray(slow, dtype=np.float32))
        size_gib = rows * args.dim * 4 / 2 ** 30
        print(f"file: {rows} x {args.dim} float32 = {size_gib:.2f} GiB; {reads} random rows; best of 3")
        print(markdown_table(["reader", "seconds", "rows/s", "speed-up vs lineage (target >= 10)"], [
            ["lineage: sorted seek + array('f').fromfile (baseline)", slow_seconds, reads / slow_seconds, 1.0],
            ["BigFile.read_rows (memmap fancy indexing)", fast_seconds, reads / fast_seconds,
             slow_seconds / fast_seconds],
        ]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
