"""NRCCR vs the baselines on real text: the pivot recipe (Flickr8K-CN), several seeds, trained to convergence.

Runs the product's pivot recipe (:func:`recipes.pivot.run_pivot`, the same code as ``w2vvx recipe pivot``)
once per method and seed and collects, per run, the test metrics (human-written Chinese ``zhc`` queries,
text→image) and the per-epoch history (``history.csv`` of the run folder: each NRCCR loss term, the
view agreement ``cos_target_cross``, the validation metric, the LR). Methods:

* ``baseline``: the recipe's config trained on the Chinese MT text alone (``zhb`` + ``zhg``);
* ``src_mt``: the NRCCR model and trainer on (English, MT) pairs without the distillation terms;
* ``src_mt_sim`` / ``src_mt_feat`` / ``src_mt_adv``: ``src_mt`` plus one NRCCR term (the weights of
  :data:`w2vvx.models.nrccr.ABLATIONS`), through the recipe's NRCCR method;
* ``nrccr``: all of NRCCR's terms (no back-translation file exists, so its weight is 0).

Both directions are recorded (text→item with the human queries, item→text over the same captions).
No fused row: none of these datasets ships an MT of its human target-language val/test queries into
English (VATEX's ``zhc2en`` file covers its test split, not the val videos the recipe splits).

Results go to ``--results`` (one JSON object per line; finished (method, seed) pairs are skipped when
the command is run again); ``--report`` prints the table.

Usage (the study of docs/nrccr.md):
    OMP_NUM_THREADS=1 KERAS_BACKEND=jax nice -n 5 python benchmarks/bench_nrccr_pivot.py --seeds 0 1 2 \\
        --results benchmarks/results/nrccr_pivot.jsonl
    python benchmarks/bench_nrccr_pivot.py --report --results benchmarks/results/nrccr_pivot.jsonl
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import set_threads  # noqa: E402

METHODS = ("baseline", "src_mt", "src_mt_sim", "src_mt_feat", "src_mt_adv", "nrccr")
#: rows trained by the recipe's NRCCR method with the loss weights of the ablation preset of the same name
TERM_ROWS = ("src_mt_sim", "src_mt_feat", "src_mt_adv")
#: what the training text, the queries and the items are, per dataset (for the report)
DATASET_WORDS = {"flickr8k-cn": ("zhb + zhg", "human zhc", "images"),
                 "vatex": ("Google MT enc2zh", "human zh #0-#4", "videos"),
                 "multi30k": ("Task 1 de", "Task 2 human de", "images")}
LABELS = {"baseline": "baseline: MT text only", "src_mt": "src + MT (NRCCR model, no distillation)",
          "src_mt_sim": "src + MT + similarity view", "src_mt_feat": "src + MT + feature view",
          "src_mt_adv": "src + MT + adversarial", "nrccr": "NRCCR (similarity + feature distillation + adversarial)"}
METRICS = ("t2i_r1", "t2i_r5", "t2i_r10", "t2i_sum_recall", "i2t_r1", "i2t_sum_recall")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared-data", default="../shared/data")
    parser.add_argument("--dataset", default="flickr8k-cn", choices=["flickr8k-cn", "multi30k", "vatex"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--max-items", type=int, default=500,
                        help="items per split (train images, val and test gallery); None-equivalent: 0")
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--gru-units", type=int, default=64)
    parser.add_argument("--stand-in", default="pivot", choices=["pivot", "held-out-captions"],
                        help="visual stand-in: the shared pivot (all English captions of an item, leaky for the "
                             "English source) or MiniLM of held-out English captions only (recipes/stand_in.py)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="/tmp/w2vvx_nrccr_pivot")
    parser.add_argument("--results", default="benchmarks/results/nrccr_pivot.jsonl")
    parser.add_argument("--report", action="store_true", help="print the table of --results and exit")
    return parser.parse_args(argv)


def _history(run_dir: Path):
    path = run_dir / "history.csv"
    if not path.is_file():
        return []
    with path.open() as handle:
        return [{key: float(value) for key, value in row.items() if value != ""} for row in csv.DictReader(handle)]


def load_results(path: Path) -> dict:
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                done[(record["method"], record["seed"])] = record
    return done


def main(argv=None):
    args = parse_args(argv)
    results_path = Path(args.results)
    if args.report:
        print(report(load_results(results_path)))
        return
    set_threads(args.threads)
    import keras

    from recipes.pivot import run_pivot

    results_path.parent.mkdir(parents=True, exist_ok=True)
    done = load_results(results_path)
    overrides = {"max_epochs": args.max_epochs, "early_stop_patience": args.patience, "lr_halving_patience": 2,
                 "learning_rate": args.learning_rate, "gru_units": args.gru_units}
    setup = {"dataset": args.dataset, "max_items": args.max_items or None, "overrides": overrides,
             "stand_in": args.stand_in,
             "backend": keras.backend.backend(), "threads": args.threads}
    for seed in args.seeds:
        for method in args.methods:
            if (method, seed) in done:
                continue
            tic = time.perf_counter()
            recipe_method, weights = method, None
            if method in TERM_ROWS:
                from w2vvx.models.nrccr import ABLATIONS

                recipe_method, weights = "nrccr", ABLATIONS[method].to_dict()
            out_dir = Path(args.out) / f"seed{seed}"
            if method in TERM_ROWS:  # the recipe's NRCCR run folder, one per row
                out_dir = out_dir / method
            results = run_pivot(args.shared_data, out_dir, datasets=[args.dataset], seed=seed, method=recipe_method,
                                overrides=overrides, max_items=args.max_items or None, verbose=0,
                                stand_in=args.stand_in, stand_in_dir=Path(args.out) / "stand_in",
                                nrccr_weights=weights)
            key = args.dataset if method == "baseline" else f"{args.dataset} {recipe_method}"
            metrics = results[key]
            record = {name: float(metrics[name]) for name in ("t2i_r1", "t2i_r5", "t2i_r10", "t2i_mir",
                                                               "i2t_r1", "i2t_r5", "i2t_r10")}
            for direction in ("t2i", "i2t"):
                record[f"{direction}_sum_recall"] = sum(record[f"{direction}_r{k}"] for k in (1, 5, 10))
            run_dir = out_dir / (args.dataset if method == "baseline" else f"{args.dataset}-{recipe_method}")
            history = _history(run_dir)
            monitor = next((k for k in ("val_t2i_mir", "val_t2i_sum_recall") if history and k in history[0]), None)
            best = max(range(len(history)), key=lambda i: history[i][monitor]) if monitor else None
            record.update(method=method, seed=seed, seconds=round(time.perf_counter() - tic, 1),
                          train_captions=int(metrics["train_captions"]), test_queries=int(metrics["test_queries"]),
                          gallery=int(metrics["gallery"]), epochs=len(history),
                          best_epoch=None if best is None else best + 1, history=history, setup=setup)
            done[(method, seed)] = record
            with results_path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(json.dumps({k: v for k, v in record.items() if k not in ("history", "setup")}), flush=True)
    print(report(done))


def mean_std(values, digits: int = 1) -> str:
    import numpy as np

    values = np.asarray(values, dtype=float)
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.{digits}f} ± {spread:.{digits}f}"


def report(done: dict) -> str:
    if not done:
        return "no results yet"
    first = next(iter(done.values()))
    mt, queries, items = DATASET_WORDS[first["setup"]["dataset"]]
    lines = ["setup: " + json.dumps(first["setup"]) + f"; MT training text {mt}; {first['test_queries']} "
             f"{queries} test queries vs {first['gallery']} {items}", "",
             "| method | seeds | t2i R@1 | R@5 | R@10 | t2i SumR | i2t R@1 | i2t SumR | Δ t2i SumR vs baseline (paired) "
             "| Δ t2i SumR vs src+MT (paired) | Δ i2t SumR vs src+MT (paired) | best epoch | epochs run |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for method in METHODS:
        records = sorted((r for (m, _), r in done.items() if m == method), key=lambda r: r["seed"])
        if not records:
            continue
        cells = [mean_std([r[m] for r in records]) if all(m in r for r in records) else "–" for m in METRICS]
        for reference, metric in (("baseline", "t2i_sum_recall"), ("src_mt", "t2i_sum_recall"),
                                  ("src_mt", "i2t_sum_recall")):
            paired = [r[metric] - done[(reference, r["seed"])][metric] for r in records
                      if (reference, r["seed"]) in done and metric in r and metric in done[(reference, r["seed"])]]
            cells.append("–" if method == reference or not paired else mean_std(paired))
        cells.append(mean_std([r["best_epoch"] for r in records if r["best_epoch"]]))
        cells.append(mean_std([r["epochs"] for r in records]))
        lines.append(f"| {LABELS[method]} | {','.join(str(r['seed']) for r in records)} | " + " | ".join(cells) + " |")
    keys = ("loss_source", "loss_target", "loss_similarity", "loss_feature", "loss_adversarial", "cos_target_cross",
            "loss")
    lines += ["", "Training loss terms at the selected epoch (mean over seeds):", "",
              "| method | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for method in METHODS:
        records = [r for (m, _), r in done.items() if m == method and r["best_epoch"]]
        if not records:
            continue
        cells = []
        for key in keys:
            values = [r["history"][r["best_epoch"] - 1].get(key) for r in records]
            values = [v for v in values if v is not None]
            cells.append(f"{sum(values) / len(values):.3g}" if values else "–")
        lines.append(f"| {LABELS[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
