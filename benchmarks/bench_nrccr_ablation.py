"""NRCCR ablation on the embedded synthetic collection: which loss term helps against MT noise.

For each machine-translation noise level, a synthetic collection is generated (English captions,
their simulated MT into Chinese and its back-translation, human Chinese val/test queries and, for
the upper bound only, human Chinese training captions). Each row trains one model with the NRCCR
trainer (:mod:`w2vvx.training.nrccr`), selected on validation as NRCCR does, and is tested with the
human Chinese test queries (native query, text→item R@1/5/10 and SumR), mean ± std over seeds:

* ``MT only``: baseline, the Chinese query model trained on the MT text alone (Tri(tgt, v));
* ``src + MT``: the shared encoder trained on English and MT (Tri(src, v) + 0.6·Tri(tgt, v));
* ``+ back-translation``: + 0.5·Tri(src, back-translation);
* ``+ similarity view``: + 0.4·SimDistill (on top of + back-translation);
* ``+ feature view``: + 0.1·SmoothL1(tgt, cross) (on top of + back-translation);
* ``NRCCR (full)``: all terms; also reported with the fused 0.8/0.2 query (``fused``);
* ``upper bound``: trained on human Chinese training captions.

Usage:
    OMP_NUM_THREADS=1 KERAS_BACKEND=jax python benchmarks/bench_nrccr_ablation.py --seeds 0 1 \\
        --noise 0.1 0.3 0.6 --out /tmp/nrccr_ablation
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import machine_line, set_threads  # noqa: E402

ROWS = [("MT only", "mt_only"), ("src + MT", "src_mt"), ("+ back-translation", "src_mt_bt"),
        ("+ similarity view", "src_mt_bt_sim"), ("+ feature view", "src_mt_bt_feat"),
        ("NRCCR (full)", "nrccr"), ("upper bound (human zh)", "upper")]
METRICS = ("t2i_r1", "t2i_r5", "t2i_r10", "t2i_sum_recall")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.3, 0.6])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--rows", nargs="+", default=[key for _, key in ROWS])
    parser.add_argument("--n-train", type=int, default=500)
    parser.add_argument("--n-val", type=int, default=150)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--feature-dim", type=int, default=256)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--gru-units", type=int, default=64)
    parser.add_argument("--space-dim", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="/tmp/w2vvx_nrccr_ablation")
    return parser.parse_args(argv)


def run_one(args, collection, features, row: str, seed: int, run_dir: Path) -> dict:
    from w2vvx.models.configs import get_config
    from w2vvx.models.nrccr import ABLATIONS
    from w2vvx.training.nrccr import evaluate_nrccr, nrccr_trainer_for_collection
    from w2vvx.training.trainer import load_run

    config = get_config("nrccr", embed_dim=args.embed_dim, w2v_dim=args.embed_dim, gru_units=args.gru_units,
                        common_space_dim=args.space_dim, batch_size=args.batch_size, max_epochs=args.epochs,
                        learning_rate=args.learning_rate, vocab_min_count=2, lr_halving_patience=2,
                        early_stop_patience=3)
    weights = ABLATIONS["nrccr" if row == "upper" else row]
    trainer = nrccr_trainer_for_collection(collection, config, run_dir, features, language="zh", weights=weights,
                                           train_on_human=row == "upper", seed=seed, verbose=0, tensorboard=False,
                                           overwrite=True)
    result = trainer.fit()
    rows = evaluate_nrccr(load_run(run_dir), collection, features, "test", "zh")
    native = rows["CM (zh)"]
    out = {key: float(native[key]) for key in ("t2i_r1", "t2i_r5", "t2i_r10")}
    out["t2i_sum_recall"] = sum(out.values())
    fused = next((value for key, value in rows.items() if key.startswith("fused")), None)
    if fused is not None:
        out["fused_t2i_sum_recall"] = float(fused["t2i_r1"] + fused["t2i_r5"] + fused["t2i_r10"])
    out["best_epoch"] = result.best_epoch + 1
    return out


def mean_std(values):
    import numpy as np

    values = np.asarray(values, dtype=float)
    return f"{values.mean():.1f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.1f}"


def main(argv=None):
    args = parse_args(argv)
    thread_line = set_threads(args.threads)
    import keras

    from w2vvx.datasets.synthetic import generate_collection
    from w2vvx.io.collection import Collection

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    done = {}
    if results_path.is_file():
        for line in results_path.read_text().splitlines():
            record = json.loads(line)
            done[(record["noise"], record["row"], record["seed"])] = record
    started = time.perf_counter()
    for noise in args.noise:
        root = out / f"noise_{noise}"
        name = "synth"
        if not (root / name).is_dir():
            generate_collection(root, name=name, seed=0, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test,
                                mt_noise=noise, languages=("zh",), feature_dim=args.feature_dim)
        collection = Collection(root, name)
        features = collection.features(collection.feature_names()[0])
        for seed in args.seeds:
            for row in args.rows:
                if (noise, row, seed) in done:
                    continue
                tic = time.perf_counter()
                record = run_one(args, collection, features, row, seed, out / "runs" / f"{noise}_{row}_{seed}")
                record.update(noise=noise, row=row, seed=seed, seconds=round(time.perf_counter() - tic, 1))
                done[(noise, row, seed)] = record
                with results_path.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)
    print_tables(args, done, keras.backend.backend(), thread_line, time.perf_counter() - started)


def print_tables(args, done, backend, thread_line, seconds):
    print(f"\n{machine_line()}; backend {backend}; {thread_line}; wall {seconds / 60:.1f} min")
    print(f"collection: synthetic, {args.n_train}/{args.n_val}/{args.n_test} items (5 captions each), "
          f"features {args.feature_dim}-d; model: embed {args.embed_dim}, GRU {args.gru_units}, space "
          f"{args.space_dim}, Adam {args.learning_rate:g}, batch {args.batch_size}, {args.epochs} epochs max; "
          f"seeds {args.seeds}")
    for noise in args.noise:
        print(f"\n### MT noise {noise} (test, human zh queries; mean ± std over {len(args.seeds)} seeds)\n")
        print("| row | R@1 | R@5 | R@10 | SumR | SumR fused 0.8/0.2 |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, key in ROWS:
            records = [done[(noise, key, seed)] for seed in args.seeds if (noise, key, seed) in done]
            if not records:
                continue
            cells = [mean_std([r[m] for r in records]) for m in METRICS]
            fused = [r["fused_t2i_sum_recall"] for r in records if "fused_t2i_sum_recall" in r]
            cells.append(mean_std(fused) if len(fused) == len(records) else "–")
            print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
