"""Exact top-10 search over a memory-mapped gallery, float16 storage, and the ANN index (IVF or HNSW).

Usage: python benchmarks/bench_search.py [--quick] [--threads N] [--rows N] [--dim D] [--ann-kind ivf|hnsw]
       [--ann-rows N] [--nprobe 8,16,32,64] [--keep-gallery]

Writes a synthetic clustered float32 gallery (rows x dim: points around --clusters centres that share a 64-d
latent structure, plus isotropic noise, L2-normalised) under --dir (deleted at the end unless --keep-gallery),
and queries drawn from the same distribution (new points, not gallery rows). Then measures, each
brute-force run in a fresh subprocess (so that peak RSS is the search's own): brute-force search from
the memmap (GFLOP/s as a fraction of a plain NumPy float32 matmul of the same queries against an in-RAM
block of the gallery, measured in the same run; peak RSS), the ANN index over the first --ann-rows
rows (default: all; build time split into training and adding, recall@10 and queries/s vs brute force
on the same rows, for each --nprobe), and brute force over a float16 copy (speed, recall@10 vs float32).
Each table is printed as soon as its numbers exist.
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


def write_gallery(path: Path, rows: int, dim: int, clusters: int, seed: int = 0, chunk: int = 16384):
    """Clustered L2-normalised rows; returns the (clusters, dim) centres for drawing queries."""
    import numpy as np

    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((64, dim), dtype=np.float32) / 8.0
    centres = rng.standard_normal((clusters, 64), dtype=np.float32) @ basis
    centres += float(0.5 / np.sqrt(dim)) * rng.standard_normal((clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    with open(path, "wb") as handle:
        for start in range(0, rows, chunk):
            clustered_points(rng, centres, min(chunk, rows - start)).astype(np.float32).tofile(handle)
    return centres


def clustered_points(rng, centres, n: int, noise: float = 0.8):
    """``n`` points around random centres: centre + isotropic noise of norm about ``noise``, L2-normalised."""
    import numpy as np

    dim = centres.shape[1]
    block = centres[rng.integers(0, len(centres), n)]
    block += float(noise / np.sqrt(dim)) * rng.standard_normal((n, dim), dtype=np.float32)
    block /= np.linalg.norm(block, axis=1, keepdims=True)
    return block.astype(np.float32, copy=False)


def write_float16_copy(gallery, folder: Path, chunk: int = 32768):
    """Stream a float16 copy (feature.bin, id.txt, shape.txt, dtype.txt) without holding it in memory."""
    import numpy as np

    folder.mkdir()
    with open(folder / "feature.bin", "wb") as handle:
        for start in range(0, gallery.shape[0], chunk):
            np.asarray(gallery[start:start + chunk], dtype="<f2").tofile(handle)
    (folder / "id.txt").write_text(" ".join(str(i) for i in range(gallery.shape[0])) + "\n")
    (folder / "shape.txt").write_text(f"{gallery.shape[0]} {gallery.shape[1]}\n")
    (folder / "dtype.txt").write_text("float16\n")


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
    parser.add_argument("--quick", action="store_true", help="100,000 x 256 gallery")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--dim", type=int, default=None)
    parser.add_argument("--clusters", type=int, default=None, help="cluster centres (default rows / 250)")
    parser.add_argument("--queries-n", type=int, default=1000)
    parser.add_argument("--ann-rows", type=int, default=None, help="ANN over the first N rows (default all)")
    parser.add_argument("--ann-backend", default="faiss")
    parser.add_argument("--ann-kind", default="ivf", choices=["ivf", "hnsw"])
    parser.add_argument("--encoding", default="fp16", choices=["flat", "fp16", "sq8"], help="IVF vector storage")
    parser.add_argument("--nlist", type=int, default=None, help="IVF lists (default: ann.default_nlist)")
    parser.add_argument("--nprobe", default="8,16,32,64", help="IVF lists scanned, comma-separated")
    parser.add_argument("--ef-search", type=int, default=256, help="HNSW efSearch")
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--keep-gallery", action="store_true", help="keep the float32 gallery (for bench_bigfile)")
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
    clusters = args.clusters or max(1, rows // 250)
    ann_rows = min(rows, args.ann_rows or rows)

    import numpy as np
    from w2vvx.search.ann import ANNIndex
    from w2vvx.search.brute_force import BruteForceIndex, search

    print(threads_line)
    print(machine_line())
    print("command: python benchmarks/bench_search.py " + " ".join(sys.argv[1:]), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="w2vvx_bench_search_", dir=args.dir))
    keep = False
    try:
        f32_dir = workdir / "f32"
        f32_dir.mkdir()
        start = time.perf_counter()
        centres = write_gallery(f32_dir / "feature.bin", rows, dim, clusters)
        (f32_dir / "id.txt").write_text(" ".join(str(i) for i in range(rows)) + "\n")
        (f32_dir / "shape.txt").write_text(f"{rows} {dim}\n")
        gallery = BruteForceIndex.load(f32_dir).vectors
        gallery_mib = rows * dim * 4 / 2 ** 20
        print(f"gallery: {rows} x {dim} float32 = {gallery_mib / 1024:.2f} GiB around {clusters} centres, written in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        queries = clustered_points(np.random.default_rng(1), centres, args.queries_n)
        np.save(workdir / "queries.npy", queries)
        flops = 2.0 * len(queries) * rows * dim

        block_rows = min(rows, 131072)
        block = np.array(gallery[:block_rows])
        base_seconds, _ = timed(lambda: queries @ block.T, repeat=2)
        base_gflops = 2.0 * len(queries) * block_rows * dim / base_seconds / 1e9
        del block
        table = [[f"numpy matmul {len(queries)}x{dim} @ {dim}x{block_rows} in RAM (baseline)", base_seconds,
                  base_gflops, 1.0, "", ""]]
        headers = ["run", "seconds", "GFLOP/s", "ratio vs matmul", "peak RSS MiB", "recall@10 vs f32"]
        title = (f"\nexact search, {len(queries)} queries, top-10 (targets: GFLOP/s ratio >= 0.8; peak RSS <= "
                 f"gallery {gallery_mib:.0f} MiB + 512 MiB = {gallery_mib + 512:.0f} MiB)")

        f32 = run_worker(f32_dir, workdir / "queries.npy", workdir / "f32.npy", args.threads)
        exact = np.load(workdir / "f32.npy")
        f32_gflops = flops / f32["seconds"] / 1e9
        table.append([f"brute force float32 memmap {rows} rows", f32["seconds"], f32_gflops,
                      f32_gflops / base_gflops, f32["peak_rss_mib"], 1.0])
        print(title)
        print(markdown_table(headers, table), flush=True)

        ann_gallery = gallery[:ann_rows]
        if ann_rows == rows:
            bf_seconds, ann_exact, bf_label = f32["seconds"], exact, f"brute force float32 memmap ({rows} rows)"
        else:
            bf_seconds, (ann_exact, _) = timed(lambda: search(queries, ann_gallery, k=10))
            bf_label = f"brute force float32 memmap ({ann_rows} rows, in process)"
        ann_rows_table = [[bf_label, "", "", bf_seconds, len(queries) / bf_seconds, 1.0, 1.0]]
        if args.ann_kind == "ivf":
            index = ANNIndex(dim, metric="ip", backend="faiss", kind="ivf", nlist=args.nlist,
                             encoding=args.encoding, threads=args.threads)
            train_seconds, _ = timed(lambda: index.train(ann_gallery))
            add_seconds, _ = timed(lambda: index.build(ann_gallery))
            label = f"faiss IVF nlist={index.params['nlist']} {args.encoding}"
            settings = [("nprobe", int(v)) for v in args.nprobe.split(",")]
        else:
            index = ANNIndex(dim, metric="ip", backend=args.ann_backend, kind="hnsw", threads=args.threads,
                             connectivity=32, expansion_add=128, expansion_search=args.ef_search)
            train_seconds = 0.0
            add_seconds, _ = timed(lambda: index.build(ann_gallery))
            label = f"{args.ann_backend} HNSW M=32 efC=128"
            settings = [("efSearch", args.ef_search)]
        print(f"\nANN build over {ann_rows} rows: train {train_seconds:.1f} s, add {add_seconds:.1f} s, "
              f"peak RSS so far {process_peak_rss_mib():.0f} MiB", flush=True)
        for name, value in settings:
            if name == "nprobe":
                index.nprobe = value
            ann_seconds, (ann_ids, _) = timed(lambda: index.search(queries, k=10))
            ann_found = np.array([[int(x) if x is not None else -1 for x in row] for row in ann_ids])
            ann_rows_table.append([f"{label} {name}={value}", train_seconds, add_seconds, ann_seconds,
                                   len(queries) / ann_seconds, bf_seconds / ann_seconds,
                                   recall_at_10(ann_found, ann_exact)])
            print(f"\nANN over {ann_rows} rows (targets: recall@10 >= 0.95, queries/s >= 10x brute force)")
            print(markdown_table(["index", "train s", "add s", "search s", "queries/s", "ratio vs brute force",
                                  "recall@10"], ann_rows_table), flush=True)
        del index

        f16_dir = workdir / "f16"
        write_float16_copy(gallery, f16_dir)
        f16 = run_worker(f16_dir, workdir / "queries.npy", workdir / "f16.npy", args.threads)
        f16_found = np.load(workdir / "f16.npy")
        shutil.rmtree(f16_dir)
        f16_gflops = flops / f16["seconds"] / 1e9
        table.append([f"brute force float16 file (memmap) {rows} rows", f16["seconds"], f16_gflops,
                      f16_gflops / base_gflops, f16["peak_rss_mib"], recall_at_10(f16_found, exact)])
        print(title)
        print(markdown_table(headers, table), flush=True)
        if args.keep_gallery:
            keep = True
            print(f"\nkept the float32 gallery: {f32_dir} (delete it when done)")
    finally:
        if keep:
            for item in workdir.iterdir():
                if item.name != "f32":
                    shutil.rmtree(item) if item.is_dir() else item.unlink()
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
