#!/usr/bin/env python3
"""Cold-cache random row reads: the lineage reader vs memmap+read-ahead hints (BigFile.read_rows) vs pread.

Writes a 1,000,000 x 1024 float32 file (3.8 GiB) under $TMPDIR once, drops the file's pages from the cache
before every run (posix_fadvise DONTNEED, Linux) and reads the same 10,000 sorted random rows each way.
Usage: OMP_NUM_THREADS=1 python benchmarks/bench_bigfile_cold.py   (delete $TMPDIR/w2vvx_cold/ afterwards)
"""
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

N, D = 1_000_000, 1024
os.makedirs(os.path.join(tempfile.gettempdir(), "w2vvx_cold"), exist_ok=True)
path = os.path.join(tempfile.gettempdir(), "w2vvx_cold", "feature.bin")
if not os.path.exists(path) or os.path.getsize(path) != N*D*4:
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        for s in range(0, N, 50000):
            f.write(rng.random((50000, D), dtype=np.float32).tobytes())
rows = np.sort(np.random.default_rng(1).choice(N, 10000, replace=False))
rb = D*4
def drop():
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
def lineage():
    out = np.empty((len(rows), D), np.float32)
    with open(path, "rb") as f:
        for i, r in enumerate(rows):
            f.seek(int(r)*rb); out[i] = np.frombuffer(f.read(rb), np.float32)
    return out
def memmap_hint():
    fd = os.open(path, os.O_RDONLY)
    for r in rows.tolist(): os.posix_fadvise(fd, r*rb, rb, os.POSIX_FADV_WILLNEED)
    os.close(fd)
    m = np.memmap(path, np.float32, "r", shape=(N, D)); out = np.array(m[rows]); del m; return out
def pread_threads(n=16):
    out = np.empty((len(rows), D), np.float32)
    fd = os.open(path, os.O_RDONLY)
    def read(chunk):
        for i in chunk:
            out[i] = np.frombuffer(os.pread(fd, rb, int(rows[i])*rb), np.float32)
    with ThreadPoolExecutor(n) as ex:
        list(ex.map(read, np.array_split(np.arange(len(rows)), n*4)))
    os.close(fd); return out
def hint_pread():
    out = np.empty((len(rows), D), np.float32)
    fd = os.open(path, os.O_RDONLY)
    for r in rows.tolist(): os.posix_fadvise(fd, r*rb, rb, os.POSIX_FADV_WILLNEED)
    for i, r in enumerate(rows.tolist()):
        out[i] = np.frombuffer(os.pread(fd, rb, r*rb), np.float32)
    os.close(fd); return out
ref = None
for name, fn in [("lineage", lineage), ("memmap+hint", memmap_hint), ("pread x16 threads", pread_threads), ("hint+pread", hint_pread), ("pread x32", lambda: pread_threads(32)), ("lineage", lineage)]:
    drop(); time.sleep(0.5)
    t = time.perf_counter(); out = fn(); dt = time.perf_counter() - t
    if ref is None: ref = out
    assert np.array_equal(ref, out)
    print(f"{name:22s} cold {dt:.3f} s", flush=True)
