"""Full t2i/i2t metric set vs the bare similarity matmul, on 25,000 captions x 5,000 items.

Usage: python benchmarks/bench_eval.py [--quick] [--threads N] [--dim D]
Target: evaluate_retrieval <= 2x the time of ``text @ items.T`` (same run), bounded memory.
"""
import argparse

from _common import machine_line, markdown_table, set_threads, timed, traced_peak_mib


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 captions x 1,000 items")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--chunk-size", type=int, default=1024)
    args = parser.parse_args()
    threads_line = set_threads(args.threads)

    import numpy as np
    from w2vvx.evaluation.metrics import evaluate_retrieval, l2_normalize

    n_items = 1000 if args.quick else 5000
    n_captions = 5 * n_items
    rng = np.random.default_rng(0)
    items = l2_normalize(rng.standard_normal((n_items, args.dim), dtype=np.float32))
    owner = rng.permutation(np.arange(n_captions) % n_items)  # 5 captions per item, shuffled order
    texts = l2_normalize(items[owner] + 1.5 * rng.standard_normal((n_captions, args.dim), dtype=np.float32)
                         / np.sqrt(args.dim) * 10)
    item_ids = [f"img{i}" for i in range(n_items)]
    caption_items = [item_ids[i] for i in owner]

    print(threads_line)
    print(machine_line())
    print(f"command: python benchmarks/bench_eval.py{' --quick' if args.quick else ''} --threads {args.threads} "
          f"--dim {args.dim}")
    matmul_time, scores = timed(lambda: texts @ items.T, repeat=2)
    del scores
    matmul_peak, _ = traced_peak_mib(lambda: texts @ items.T)
    eval_time, results = timed(lambda: evaluate_retrieval(texts, caption_items, items, item_ids, normalize=False,
                                                          chunk_size=args.chunk_size), repeat=2)
    eval_peak, _ = traced_peak_mib(lambda: evaluate_retrieval(texts, caption_items, items, item_ids,
                                                              normalize=False, chunk_size=args.chunk_size))
    rows = [
        ["similarity matmul (baseline)", f"{n_captions}x{n_items}x{args.dim}", matmul_time, 1.0, matmul_peak],
        [f"evaluate_retrieval (chunk {args.chunk_size})", f"{n_captions}x{n_items}x{args.dim}", eval_time,
         eval_time / matmul_time, eval_peak],
    ]
    print(markdown_table(["step", "size", "seconds", "ratio vs matmul (target <= 2)", "traced peak MiB"], rows))
    print(f"sanity: t2i R@1 {results['t2i_r1']:.1f}, i2t R@1 {results['i2t_r1']:.1f}, SumR {results['sumr']:.1f}")


if __name__ == "__main__":
    main()
