"""What ELRCMR's dynamic weight balance is for: class-centre drift and MAP under label noise, MRL vs ELR vs ELRCMR.

On the Wikipedia features of the shared data (2,173 training pairs, 128-d SIFT BoW images, 10-d LDA
texts; the 693 test pairs split as MRL splits Wikipedia: the first 231 validate, the other 462 test),
every method trains on labels with a fraction flipped symmetrically, for every noise level and seed.
After every epoch the class centres (the normalised classifier columns) and the validation/test MAP
are recorded (``w2vvx.noisy.drift.EpochMonitor``). Reported per (noise, method), as median and
[min, max] over the seeds:

* test MAP (mean of image→text and text→image) after the last epoch and at the epoch of best
  validation MAP (the epoch MRL's ``main_noisy.py`` keeps);
* centre drift: the mean over classes of cos(centre at the last epoch, centre at the best epoch),
  and the lowest such cosine over the epochs after the best one (1 = no drift).

Methods: ``mrl`` (MCE + contrastive, beta 0.7, MRL README), ``elr`` (cross-entropy + ELR, lambda 3,
+ contrastive, beta 0.7), ``elrcmr`` (MCE + lambda*ELR, the seed's Wikipedia flags lama 1, zeta 0.001,
beta 0.75, alpha 1, with betasetp and setp scaled to the shortened schedule, see the header of the
table) and ``elrcmr_const`` (the same loss with the weights held constant: the balance switched off).

Usage:
    nice -n 19 env OMP_NUM_THREADS=1 KERAS_BACKEND=tensorflow python benchmarks/bench_elrcmr.py \
        [--seeds 3] [--epochs 12] [--noise 0.2 0.4 0.6 0.8] [--out benchmarks/results/elrcmr_wikipedia.md]

    Sharded (one process per noise level, then one table):
        for n in 0.2 0.4 0.6 0.8; do ... --noise $n --out /tmp/elr_$n.md & done; wait
        python benchmarks/bench_elrcmr.py --from-jsonl /tmp/elr_0.?.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from w2vvx.noisy import load_wikipedia, symmetric_label_noise, train_noisy_retrieval  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "features" / "wikipedia"
RESULTS = Path(__file__).resolve().parent / "results"
NAMES = {"mrl": "MRL (MCE+contr.)", "elr": "ELR (CE+ELR+contr.)", "elrcmr": "ELRCMR (balance on)",
         "elrcmr_const": "ELRCMR, balance off"}
# The seed's Wikipedia command: 100 epochs of ceil(2173/100) = 22 steps = 2,200 steps.
SEED_STEPS, SEED_BETASETP, SEED_SETP = 2200, 3000, 100000
VALID_LEN = 231  # MRL src/noisydataset.py: Wikipedia validation = first 231 test pairs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.2, 0.4, 0.6, 0.8])
    parser.add_argument("--methods", nargs="+", default=list(NAMES), choices=list(NAMES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--out", type=Path, default=RESULTS / "elrcmr_wikipedia.md")
    parser.add_argument("--from-jsonl", type=Path, nargs="+", default=None,
                        help="only write the table from the per-run rows of earlier (e.g. sharded) runs")
    return parser.parse_args(argv)


def method_kwargs(method: str, total_steps: int) -> dict:
    scale = total_steps / SEED_STEPS
    if method == "mrl":
        return {"method": "mrl", "beta": 0.7}
    if method == "elr":
        return {"method": "elr", "beta": 0.7, "elr_lambda": 3.0}
    common = {"method": "elrcmr", "beta": 0.75, "elr_lambda": 1.0, "weight_floor": 0.001, "contrastive_weight": 1.0}
    if method == "elrcmr":
        return {**common, "beta_steps": SEED_BETASETP * scale, "elr_steps": SEED_SETP * scale}
    return common  # elrcmr_const: beta_steps = elr_steps = None


def run_one(data, method, noise, seed, args) -> dict:
    test = data.test
    valid_set = (test.image[:VALID_LEN], test.text[:VALID_LEN], test.labels[:VALID_LEN], test.labels[:VALID_LEN])
    test_set = (test.image[VALID_LEN:], test.text[VALID_LEN:], test.labels[VALID_LEN:], test.labels[VALID_LEN:])
    cpu_started = time.process_time()
    labels = symmetric_label_noise(data.train.labels, noise, data.num_classes, seed=seed)
    total_steps = args.epochs * int(np.ceil(len(labels) / args.batch_size))
    trained = train_noisy_retrieval(
        data.train.image, data.train.text, labels, data.num_classes, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, seed=seed, hidden_units=tuple(args.hidden), embedding_dim=args.embedding_dim,
        monitor_sets={"valid": valid_set, "test": test_set}, **method_kwargs(method, total_steps))
    monitor = trained.monitor
    best = monitor.best_epoch("valid")
    drift = monitor.drift("valid")
    test_maps = monitor.maps["test"]
    return {"method": method, "noise": noise, "seed": seed, "best_epoch": best + 1,
            "map_last": float(test_maps[-1].mean()), "map_best": float(test_maps[best].mean()),
            "i2t_last": float(test_maps[-1, 0]), "t2i_last": float(test_maps[-1, 1]),
            "cos_last": float(drift[-1]), "cpu_s": round(time.process_time() - cpu_started, 1),
            "cos_min_after_best": float(drift[best:].min()),
            "test_map_by_epoch": test_maps.mean(axis=1).round(4).tolist(), "cos_by_epoch": drift.round(4).tolist()}


def _cell(values, digits=3) -> str:
    values = np.asarray(values, np.float64)
    return f"{np.median(values):.{digits}f} [{values.min():.{digits}f}–{values.max():.{digits}f}]"


def markdown(rows, args, chance: float) -> str:
    total_steps = args.epochs * int(np.ceil(2173 / args.batch_size))
    scale = total_steps / SEED_STEPS
    cpu_minutes = sum(row.get("cpu_s", 0.0) for row in rows) / 60
    lines = [
        "# ELRCMR's weight balance on the Wikipedia features: MAP and class-centre drift under label noise",
        "",
        f"Command: `nice -n 19 env OMP_NUM_THREADS=1 KERAS_BACKEND=tensorflow python benchmarks/bench_elrcmr.py "
        f"--seeds {args.seeds} --epochs {args.epochs}` (run as one process per noise level, merged with "
        f"`--from-jsonl`); {len(rows)} runs, {cpu_minutes:.1f} CPU minutes of training and per-epoch evaluation "
        "(process time, excluding start-up) on the shared 2-core machine.",
        "",
        f"**Shortened schedule.** The seed's Wikipedia command trains 100 epochs at lr 1e-4 ({SEED_STEPS} steps) "
        f"with betasetp {SEED_BETASETP} and setp {SEED_SETP}. The whole study (48 runs) had to fit in 25 CPU "
        f"minutes, so every run here trains {args.epochs} epochs ({total_steps} steps, batch {args.batch_size}) at "
        f"lr {args.learning_rate:g} (Adam, beta_1 0.5, cosine decay, towers {args.hidden}→{args.embedding_dim} "
        f"instead of MRL's 4096-4096-512), and ELRCMR's betasetp and setp are scaled by the same ratio "
        f"({scale:.2f}: betasetp {SEED_BETASETP * scale:.0f}, setp {SEED_SETP * scale:.0f}), so that beta falls "
        f"over the same fraction of the run as in the seed (0.75 → {0.75 * max(0.001, 1 - SEED_STEPS / SEED_BETASETP):.2f}). "
        "Other ELRCMR flags as the seed: lama 1, zeta 0.001, alpha 1. MRL: beta 0.7; ELR: lambda 3, beta 0.7. "
        "The features are SIFT-BoW/LDA, not the deep features of the papers: compare the methods, not the "
        f"absolute values. Chance MAP ≈ {chance:.3f}.",
        "",
        "Test = 462 pairs (the 231 first test pairs validate). MAP = mean of image→text and text→image. "
        "'best' = the epoch of highest validation MAP. cos(last, best) = mean over the 10 classes of the "
        "cosine between a class centre after the last epoch and at the best epoch; 'min cos' = its lowest "
        f"value over the epochs after the best one (1 = no drift). Cells: median [min–max] over {args.seeds} seeds.",
        "",
        "| noise | method | MAP last epoch | MAP at best epoch | best epoch | cos(last, best) | min cos after best |",
        "|---|---|---|---|---|---|---|",
    ]
    for noise in args.noise:
        for method in args.methods:
            group = [row for row in rows if row["method"] == method and row["noise"] == noise]
            if not group:
                continue
            lines.append(f"| {noise:.1f} | {NAMES[method]} | {_cell([r['map_last'] for r in group])} | "
                         f"{_cell([r['map_best'] for r in group])} | "
                         f"{_cell([r['best_epoch'] for r in group], 0)} | {_cell([r['cos_last'] for r in group], 4)} | "
                         f"{_cell([r['cos_min_after_best'] for r in group], 4)} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    import keras

    data = load_wikipedia(args.data)
    test_labels = data.test.labels[VALID_LEN:]
    chance = float(np.sum((np.bincount(test_labels) / len(test_labels)) ** 2))
    if args.from_jsonl:
        rows = [json.loads(line) for path in args.from_jsonl for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
        args.seeds = len({row["seed"] for row in rows})
        args.noise = sorted({row["noise"] for row in rows})
        write_table(rows, args, chance, args.out.with_suffix(".jsonl"), keras.backend.backend())
        return
    rows = []
    jsonl = args.out.with_suffix(".jsonl")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(jsonl, "w", encoding="utf-8") as handle:
        for seed in range(args.seeds):
            for noise in args.noise:
                for method in args.methods:
                    run_started = time.perf_counter()
                    row = run_one(data, method, noise, seed, args)
                    rows.append(row)
                    handle.write(json.dumps(row) + "\n")
                    handle.flush()
                    print(f"seed {seed} noise {noise:.1f} {method:<13} MAP last {row['map_last']:.4f} best "
                          f"{row['map_best']:.4f} (epoch {row['best_epoch']}) cos {row['cos_last']:.4f} "
                          f"({time.perf_counter() - run_started:.0f}s)", file=sys.stderr, flush=True)
    write_table(rows, args, chance, jsonl, keras.backend.backend())


def write_table(rows, args, chance, jsonl: Path, backend: str):
    if args.from_jsonl:
        jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    table = markdown(rows, args, chance)
    table += f"\nBackend {backend}; per-run rows (MAP and cosine by epoch): `{jsonl.name}`.\n"
    tmp = args.out.with_suffix(".md.tmp")
    tmp.write_text(table, encoding="utf-8")
    tmp.replace(args.out)
    print(table)


if __name__ == "__main__":
    main()
