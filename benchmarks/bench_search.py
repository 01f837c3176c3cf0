"""Exact top-10 search over a memory-mapped gallery, float16 storage, and the ANN index.

Usage: python benchmarks/bench_search.py [--quick] [--threads N] [--rows N] [--dim D] [--ann-rows N]

Writes a synthetic L2-normalised (32-d latent space plus noise) float32 gallery (rows x dim) under --dir (deleted at the
end), then measures, each in a fresh subprocess (so that peak RSS is the search's own):
brute-force search from the memmap (GFLOP/s as a fraction of a plain NumPy float32 matmul of the same
queries against an in-RAM block of the gallery, measured in the same run; peak RSS), the same with a
float16 copy (speed, recall@10 vs float32), and an HNSW index (faiss by default) over the first
--ann-rows rows: build time, recall@10 and queries/s vs brute force on the same rows.
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine_line, markdown_table, process_peak_rss_mib, set_threads, timed

HERE = Path(__file__).resolve().parent


def write_gallery(path: Path, rows: int, dim: int, seed: int = 0, chunk: int = 32768):
    import numpy as np

    rng = np.random.default_rng(seed)
    # low intrinsic dimension (like learned embeddings): a 32-d latent space mapped to dim, plus noise
    basis = rng.standard_normal((32, dim), dtype=np.float32)
    with open(path, "wb") as handle:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            block = rng.standard_normal((n, 32), dtype=np.float32) @ basis
            block += 0.5 * rng.standard_normal((n, dim), dtype=np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            block.tofile(handle)


def make_queries(gallery, n: int, seed: int = 1):
    import numpy as np

    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(gallery.shape[0], n, replace=False))
    queries = np.asarray(gallery[picks], dtype=np.float32)
    queries += 0.05 * rng.standard_normal(queries.shape, dtype=np.float32)
    return queries / np.linalg.norm(queries, axis=1, keepdims=True)


def worker(args):
    """Search in a fresh process; print JSON with time and peak RSS."""
    import numpy as np
    from w2vvx.search.brute_force import BruteForceIndex

    queries = np.load(args.queries)
    rss_before = process_peak_rss_mib()
    index = BruteForceIndex.load(args.index)
    seconds, (indices, _) = timed(lambda: index.search(queries, k=10))
    np.save(args.out, np.asarray(indices, dtype=object).astype(np.int64))
    print(json.dumps({"seconds": seconds, "peak_rss_mib": process_peak_rss_mib(), "rss_before_mib": rss_before}))


def run_worker(index_dir: Path, queries_path: Path, out_path: Path, threads: int):
    command = [sys.executable, str(HERE / "bench_search.py"), "--worker", "--index", str(index_dir),
               "--queries", str(queries_path), "--out", str(out_path), "--threads", str(threads)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def recall_at_10(found, exact) -> float:
    return float(sum(len(set(a) & set(b)) for a, b in zip(found, exact)) / exact.size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 x 256 gallery, 10,000-row ANN")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--dim", type=int, default=None)
    parser.add_argument("--queries-n", type=int, default=1000)
    parser.add_argument("--ann-rows", type=int, default=None)
    parser.add_argument("--ann-backend", default="faiss")
    parser.add_argument("--ef-search", type=int, default=256)
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", help=argparse.SUPPRESS)
    parser.add_argument("--queries", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads_line = set_threads(args.threads)
    if args.worker:
        return worker(args)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    dim = args.dim or (256 if args.quick else 2048)
    ann_rows = min(rows, args.ann_rows or (10_000 if args.quick else 50_000))

    import numpy as np
    from w2vvx.search.ann import ANNIndex
    from w2vvx.search.brute_force import BruteForceIndex, search

    print(threads_line)
    print(machine_line())
    print("command: python benchmarks/bench_search.py " + " ".join(sys.argv[1:]))
    workdir = Path(tempfile.mkdtemp(prefix="w2vvx_bench_search_", dir=args.dir))
    try:
        f32_dir = workdir / "f32"
        f32_dir.mkdir()
        start = time.perf_counter()
        write_gallery(f32_dir / "feature.bin", rows, dim)
        (f32_dir / "id.txt").write_text(" ".join(str(i) for i in range(rows)) + "\n")
        (f32_dir / "shape.txt").write_text(f"{rows} {dim}\n")
        gallery = BruteForceIndex.load(f32_dir).vectors
        print(f"gallery: {rows} x {dim} float32 = {rows * dim * 4 / 2 ** 30:.2f} GiB, written in "
              f"{time.perf_counter() - start:.0f} s (page cache warm)")
        queries = make_queries(gallery, args.queries_n)
        np.save(workdir / "queries.npy", queries)
        flops = 2.0 * len(queries) * rows * dim

        block_rows = min(rows, 131072)
        block = np.array(gallery[:block_rows])
        base_seconds, _ = timed(lambda: queries @ block.T, repeat=2)
        base_gflops = 2.0 * len(queries) * block_rows * dim / base_seconds / 1e9
        del block

        f32 = run_worker(f32_dir, workdir / "queries.npy", workdir / "f32.npy", args.threads)
        exact = np.load(workdir / "f32.npy")
        f32_gflops = flops / f32["seconds"] / 1e9
        gallery_mib = rows * dim * 4 / 2 ** 20

        f16_dir = workdir / "f16"
        BruteForceIndex(gallery, storage="float16").save(f16_dir)
        f16 = run_worker(f16_dir, workdir / "queries.npy", workdir / "f16.npy", args.threads)
        f16_found = np.load(workdir / "f16.npy")
        shutil.rmtree(f16_dir)
        f16_gflops = flops / f16["seconds"] / 1e9

        table = [
            [f"numpy matmul {len(queries)}x{dim} @ {dim}x{block_rows} in RAM (baseline)", base_seconds, base_gflops,
             1.0, "", ""],
            [f"brute force float32 memmap {rows} rows, top-10", f32["seconds"], f32_gflops, f32_gflops / base_gflops,
             f32["peak_rss_mib"], 1.0],
            [f"brute force float16 copy {rows} rows, top-10", f16["seconds"], f16_gflops, f16_gflops / base_gflops,
             f16["peak_rss_mib"], recall_at_10(f16_found, exact)],
        ]
        print(f"\nexact search (target: GFLOP/s ratio >= 0.8; peak RSS <= gallery {gallery_mib:.0f} MiB + 512 MiB)")
        print(markdown_table(["run", "seconds", "GFLOP/s", "ratio vs matmul", "peak RSS MiB", "recall@10 vs f32"],
                             table))

        ann_gallery = np.asarray(gallery[:ann_rows])
        bf_seconds, (ann_exact, _) = timed(lambda: search(queries, ann_gallery, k=10))
        index = ANNIndex(dim, metric="ip", backend=args.ann_backend, threads=args.threads,
                         connectivity=32, expansion_add=128, expansion_search=args.ef_search)
        build_seconds, _ = timed(lambda: index.build(ann_gallery))
        ann_seconds, (ann_ids, _) = timed(lambda: index.search(queries, k=10))
        ann_found = np.array([[int(x) if x is not None else -1 for x in row] for row in ann_ids])
        print(f"\nANN ({args.ann_backend} HNSW M=32, efConstruction=128, efSearch={args.ef_search}) over the first {ann_rows} rows "
              "(targets: recall@10 >= 0.95, queries/s >= 10x brute force)")
        print(markdown_table(["index", "build s", "search s", "queries/s", "ratio vs brute force", "recall@10"], [
            [f"brute force (in RAM, {ann_rows} rows)", 0.0, bf_seconds, len(queries) / bf_seconds, 1.0, 1.0],
            [f"{args.ann_backend} HNSW", build_seconds, ann_seconds, len(queries) / ann_seconds,
             bf_seconds / ann_seconds, recall_at_10(ann_found, ann_exact)],
        ]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
