"""Peak memory while training on a feature file larger than RAM (memory-mapped BigFile, never loaded whole).

The script (1) streams a ``rows x dim`` float32 BigFile (default 2,000,000 x 2048 = 15.3 GiB) into a temporary
folder with ``BigFileWriter``, (2) evicts the file from the page cache (``posix_fadvise(DONTNEED)``, this file
only) so training reads come from disk, (3) trains a small W2VV++ model with ``model.fit`` over a
``CaptionBatchDataset`` on the memory-mapped file in a child process, sampling the child's
``/proc/<pid>/status`` (VmRSS, VmHWM, RssAnon, RssFile) while it runs, and (4) prints a Markdown table of peak
RSS against the file size and the machine's RAM, and the share of training time spent reading batches
(``__getitem__``). The temporary folder is deleted at the end, also on error or interrupt.

Page-cache pages that hold the file are not process RSS: the kernel may keep (and drop) as much of the file
as free RAM allows; only the pages the process has mapped and touched count as its ``RssFile``.

Usage:
    OMP_NUM_THREADS=1 KERAS_BACKEND=torch python benchmarks/bench_large_features.py --threads 1
    python benchmarks/bench_large_features.py --rows 200000 --steps 50     # a quick, smaller run
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, markdown_table, set_threads  # noqa: E402

GIB = 2 ** 30
MIB = 2 ** 20
MIN_FREE_MARGIN_BYTES = int(4.75 * GIB)  # 2M x 2048 float32 (15.26 GiB) needs 20 GiB free
WORDS = ("a man woman child dog cat bird horse car bus train bike boat plane street road park beach field "
         "river lake mountain snow grass tree house room kitchen table chair bed window door wall sky water "
         "red blue green white black yellow small large young old two three group people player ball game "
         "sits stands walks runs rides holds looks plays eats drinks jumps throws carries wears watches "
         "on in at near with under behind next front top side of the and while").split()
WORDS_PER_CAPTION = 8
MAXLEN = 12
RESULT_PREFIX = "RESULT "


# --------------------------------------------------------------------------------------------------
# parent: write the file, run the training child, sample its memory
# --------------------------------------------------------------------------------------------------
def _ram_bytes() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _status_kib(pid: int) -> dict:
    values = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    values[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return values


def write_feature_file(folder: Path, rows: int, dim: int, chunk_rows: int, seed: int) -> float:
    """Stream ``rows`` random non-negative float32 rows into a BigFile at ``folder``; returns seconds."""
    import numpy as np

    from w2vvx.io.bigfile import BigFileWriter

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    with BigFileWriter(folder, dim=dim) as writer:
        for first in range(0, rows, chunk_rows):
            count = min(chunk_rows, rows - first)
            vectors = rng.random((count, dim), dtype=np.float32)
            writer.add([f"r{row:07d}" for row in range(first, first + count)], vectors)
            done = first + count
            elapsed = time.perf_counter() - start
            if done == rows or (done // chunk_rows) % 5 == 0:
                print(f"  wrote {done:,}/{rows:,} rows ({done * dim * 4 / GIB:.1f} GiB) in {elapsed:.0f} s, "
                      f"{done * dim * 4 / MIB / elapsed:.0f} MiB/s", flush=True)
    return time.perf_counter() - start


def evict_from_page_cache(path: Path) -> None:
    """Flush ``path`` and drop its clean pages from the page cache (this file only)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def run_child(args, folder: Path) -> dict:
    """Train in a child process; return its report plus the sampled and rusage peaks (KiB)."""
    import resource

    command = [sys.executable, str(Path(__file__).resolve()), "--train-child", str(folder),
               "--items", str(args.items), "--captions-per-item", str(args.captions_per_item),
               "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--threads", str(args.threads),
               "--seed", str(args.seed)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peaks = {"VmRSS": 0, "VmHWM": 0, "RssAnon": 0, "RssFile": 0}
    samples = 0
    try:
        while child.poll() is None:
            status = _status_kib(child.pid)
            if status:
                samples += 1
                for key in peaks:
                    peaks[key] = max(peaks[key], status.get(key, 0))
            time.sleep(args.sample_interval)
        output = child.stdout.read()
    except BaseException:
        child.kill()
        child.wait()
        raise
    if child.returncode != 0:
        raise RuntimeError(f"training child exited with status {child.returncode}:\n{output[-4000:]}")
    for line in output.splitlines():
        if not line.startswith(RESULT_PREFIX):
            print(f"  [child] {line}", flush=True)
    reports = [line for line in output.splitlines() if line.startswith(RESULT_PREFIX)]
    if not reports:
        raise RuntimeError(f"training child printed no result line:\n{output[-4000:]}")
    report = json.loads(reports[-1][len(RESULT_PREFIX):])
    report["sampled_peak_kib"] = peaks
    report["samples"] = samples
    report["children_maxrss_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return report


def report_table(args, report: dict, write_seconds: float, file_bytes: int, ram_bytes: int) -> str:
    peaks = report["sampled_peak_kib"]
    # clear_refs 5 also resets ru_maxrss, so the child's ru_maxrss is the peak during fit; the whole-run
    # peak is the largest VmHWM sampled from /proc (which saw the setup peak before the reset).
    fit_maxrss = report["children_maxrss_kib"] * 1024
    peak_rss = max(peaks["VmHWM"] * 1024, fit_maxrss)
    before_fit = report["rss_before_fit_kib"]
    after_fit = report["rss_after_fit_kib"]
    if report["fit_peak_tracked"]:
        fit_peak = f"{after_fit['VmHWM'] / 1024:.0f} MiB (+{(after_fit['VmHWM'] - before_fit['VmRSS']) / 1024:.0f} MiB)"
    else:
        fit_peak = "n/a (/proc/self/clear_refs not writable)"
    read_share = report["getitem_seconds"] / report["fit_seconds"]
    steady_share = report["steady_getitem_seconds"] / max(report["steady_fit_seconds"], 1e-9)
    rows = [
        ("feature file (rows x dims, float32)", f"{args.rows:,} x {args.dim}"),
        ("feature file size", f"{file_bytes / GIB:.2f} GiB"),
        ("machine RAM (MemTotal)", f"{ram_bytes / GIB:.1f} GiB"),
        ("file size / RAM", f"{file_bytes / ram_bytes:.2f}"),
        ("write time (BigFileWriter, random data)", f"{write_seconds:.0f} s ({file_bytes / MIB / write_seconds:.0f} MiB/s)"),
        ("training", f"{args.steps} steps x batch {args.batch_size}, {report['backend']}, "
                     f"{report['n_items']:,} items / {report['n_captions']:,} captions"),
        ("rows read (span of row indices)", f"{report['rows_read']:,} ({report['row_min']:,}..{report['row_max']:,})"),
        ("child RSS after imports / after dataset and model built (before fit)",
         f"{report['rss_after_imports_kib'] / 1024:.0f} / {before_fit['VmRSS'] / 1024:.0f} MiB"),
        ("peak RSS while building captions and dataset (VmHWM before fit)", f"{before_fit['VmHWM'] / 1024:.0f} MiB"),
        ("peak RSS during fit (VmHWM reset before fit; growth over RSS before fit)", fit_peak),
        ("ru_maxrss of the training child (reset before fit: peak during fit)", f"{fit_maxrss / MIB:.0f} MiB"),
        ("peak RSS of training process, whole run (VmHWM sampled from /proc)", f"{peak_rss / MIB:.0f} MiB"),
        ("peak VmRSS sampled from /proc", f"{peaks['VmRSS'] / 1024:.0f} MiB"),
        ("peak RssAnon (heap) / RssFile (mapped file pages) sampled",
         f"{peaks['RssAnon'] / 1024:.0f} / {peaks['RssFile'] / 1024:.0f} MiB"),
        ("RssFile before fit / after fit", f"{before_fit['RssFile'] / 1024:.0f} / {after_fit['RssFile'] / 1024:.0f} MiB"),
        ("whole-run peak RSS / file size", f"{peak_rss / file_bytes:.3f}"),
        ("whole-run peak RSS / RAM", f"{peak_rss / ram_bytes:.3f}"),
        ("fit wall time (all steps)", f"{report['fit_seconds']:.1f} s"),
        ("time in dataset __getitem__ (all steps)", f"{report['getitem_seconds']:.2f} s ({read_share:.1%})"),
        ("read share after the first step", f"{steady_share:.1%}"),
        ("mean __getitem__ per batch (cold reads)",
         f"{1000 * report['getitem_seconds'] / report['getitem_calls']:.1f} ms"),
    ]
    return markdown_table(["quantity", "value"], rows)


def main_parent(args) -> int:
    print(set_threads(args.threads), flush=True)
    print(machine_line(), flush=True)
    file_bytes = args.rows * args.dim * 4
    tmp_root = Path(args.tmp_dir)
    free = shutil.disk_usage(tmp_root).free
    needed = file_bytes + MIN_FREE_MARGIN_BYTES
    if free < needed:
        print(f"refusing to run: {tmp_root} has {free / GIB:.1f} GiB free, the {args.rows:,} x {args.dim} feature "
              f"file needs {file_bytes / GIB:.1f} GiB plus a {MIN_FREE_MARGIN_BYTES / GIB:.1f} GiB margin "
              f"(at least {needed / GIB:.1f} GiB); free space or pass --tmp-dir/--rows", file=sys.stderr)
        return 2
    ram = _ram_bytes()
    print(f"free disk under {tmp_root}: {free / GIB:.1f} GiB; RAM {ram / GIB:.1f} GiB; "
          f"file will be {file_bytes / GIB:.2f} GiB", flush=True)

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    workdir = Path(tempfile.mkdtemp(prefix="w2vvx-large-features-", dir=tmp_root))
    try:
        folder = workdir / "features"
        print(f"writing {folder}", flush=True)
        write_seconds = write_feature_file(folder, args.rows, args.dim, args.chunk_rows, args.seed)
        evict_from_page_cache(folder / "feature.bin")
        print(f"wrote {file_bytes / GIB:.2f} GiB in {write_seconds:.0f} s; evicted it from the page cache; training",
              flush=True)
        report = run_child(args, folder)
        table = report_table(args, report, write_seconds, file_bytes, ram)
        print()
        print(table)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"removed {workdir}", flush=True)
    return 0


# --------------------------------------------------------------------------------------------------
# child: captions in memory, small W2VV++ model, model.fit over the memory-mapped BigFile
# --------------------------------------------------------------------------------------------------
def _self_status_kib() -> dict:
    return _status_kib(os.getpid())


def _reset_peak_rss() -> bool:
    """Reset this process's VmHWM (Linux ``clear_refs`` 5) so that it then measures the peak during fit."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class _WordFeaturizer:
    """Tokenises space-separated captions of the synthetic word list (the preprocessor call of the datasets)."""

    def __init__(self, words):
        self.ids = {word: index + 2 for index, word in enumerate(words)}  # 0 = <pad>, 1 = <unk>
        self.vocab_size = len(words) + 2

    def __call__(self, captions, chunk: int = 100_000):
        import numpy as np

        tokens = np.zeros((len(captions), MAXLEN), dtype=np.int32)
        lookup = self.ids.get
        for start in range(0, len(captions), chunk):
            texts = [text for _, text in captions[start:start + chunk]]
            words = " ".join(texts).split()
            if len(words) != len(texts) * WORDS_PER_CAPTION:
                raise ValueError(f"expected {WORDS_PER_CAPTION} words per synthetic caption")
            ids = np.fromiter((lookup(word, 1) for word in words), dtype=np.int32, count=len(words))
            tokens[start:start + len(texts), :WORDS_PER_CAPTION] = ids.reshape(len(texts), WORDS_PER_CAPTION)
        return {"tokens": tokens, "bow_tokens": tokens}


def main_child(args) -> int:
    set_threads(args.threads)
    import numpy as np
    import keras

    from w2vvx.datasets.batching import CaptionBatchDataset
    from w2vvx.io.bigfile import BigFile
    from w2vvx.models.builder import build_model
    from w2vvx.models.configs import get_config

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(args.threads)
    rss_after_imports = _self_status_kib().get("VmRSS", 0)

    features = BigFile(args.train_child)
    n_rows = len(features)
    n_items = n_rows if args.items <= 0 else min(args.items, n_rows)
    item_rows = np.linspace(0, n_rows - 1, n_items).astype(np.int64)  # spread over the whole file
    rng = np.random.default_rng(args.seed)
    words = np.array(WORDS)
    captions = []
    for row in item_rows.tolist():
        name = features.names[row]
        for _ in range(args.captions_per_item):
            captions.append((name, " ".join(words[rng.integers(0, len(words), WORDS_PER_CAPTION)].tolist())))
    featurizer = _WordFeaturizer(WORDS)

    read_times = []
    read_rows = []

    class TimedDataset(CaptionBatchDataset):
        def __getitem__(self, index):
            start = time.perf_counter()
            batch = super().__getitem__(index)
            read_times.append(time.perf_counter() - start)
            read_rows.append(self._reader.rows[self.batch_items(index)])
            return batch

    dataset = TimedDataset(captions, featurizer, features, batch_size=args.batch_size, seed=args.seed,
                           steps_per_epoch=args.steps)
    del captions
    config = get_config("w2vvpp", gru_units=64, embed_dim=32, w2v_dim=32, common_space_dim=256, text_mlp=(),
                        maxlen=MAXLEN, batch_size=args.batch_size)
    model = build_model(config, gru_vocab_size=featurizer.vocab_size, bow_vocab_size=featurizer.vocab_size,
                        visual_dim=features.ndims)
    batch_ends = []

    class BatchClock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batch_ends.append(time.perf_counter())

    rss_before_fit = _self_status_kib()
    fit_peak_tracked = _reset_peak_rss()
    fit_start = time.perf_counter()
    model.fit(dataset, epochs=1, shuffle=False, verbose=0, callbacks=[BatchClock()])
    fit_seconds = time.perf_counter() - fit_start
    rows = np.concatenate(read_rows)
    report = {
        "backend": keras.backend.backend(),
        "n_items": int(n_items),
        "n_captions": int(dataset.n_sentences),
        "rss_after_imports_kib": rss_after_imports,
        "rss_before_fit_kib": rss_before_fit,
        "rss_after_fit_kib": _self_status_kib(),
        "fit_peak_tracked": fit_peak_tracked,
        "fit_seconds": fit_seconds,
        "steady_fit_seconds": batch_ends[-1] - batch_ends[0] if len(batch_ends) > 1 else fit_seconds,
        "getitem_seconds": float(sum(read_times)),
        "steady_getitem_seconds": float(sum(read_times[1:])),
        "getitem_calls": len(read_times),
        "rows_read": int(rows.size),
        "row_min": int(rows.min()),
        "row_max": int(rows.max()),
    }
    print(RESULT_PREFIX + json.dumps(report), flush=True)
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the feature file")
    parser.add_argument("--dim", type=int, default=2048, help="feature dimension")
    parser.add_argument("--chunk-rows", type=int, default=50_000, help="rows per BigFileWriter.add")
    parser.add_argument("--items", type=int, default=0,
                        help="items with captions, spread evenly over the file (0 = every row)")
    parser.add_argument("--captions-per-item", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200, help="training steps")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-interval", type=float, default=0.1, help="seconds between /proc samples")
    parser.add_argument("--tmp-dir", default=tempfile.gettempdir(), help="where the temporary file goes")
    parser.add_argument("--train-child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.train_child:
        return main_child(args)
    return main_parent(args)


if __name__ == "__main__":
    sys.exit(main())
