"""Why NRCCR's distillation does (not) help: teacher vs student of the trained runs, per view.

For every finished run of the NRCCR studies that has the cross-attention (rows ``nrccr``,
``nrccr_no_bt``, ``src_mt_bt_sim``, ``src_mt_bt_feat`` of ``bench_nrccr_ablation.py``; method ``nrccr``
of ``bench_nrccr_pivot.py``), :func:`w2vvx.training.nrccr_diagnostics.nrccr_view_diagnostics` measures on the
training (source, MT) pairs, one per item, in batches of 128 distinct items as the loss sees them
(training mode) and in inference mode: the R@1 of the source, MT (student) and cross (teacher)
views, KL(teacher ‖ student) of the similarity view, and the cosines target·cross and target·source.
Distillation can only help the student if the teacher ranks the right item better than the student.

Usage (after the two studies; the run folders are their ``--out`` folders):
    OMP_NUM_THREADS=1 KERAS_BACKEND=jax nice -n 5 python benchmarks/bench_nrccr_views.py \\
        --synthetic-results benchmarks/results/nrccr_synthetic.jsonl --synthetic-out /tmp/w2vvx_nrccr_study \\
        --pivot-results benchmarks/results/nrccr_pivot.jsonl --pivot-out /tmp/w2vvx_nrccr_pivot \\
        --results benchmarks/results/nrccr_views.jsonl
    python benchmarks/bench_nrccr_views.py --report --results benchmarks/results/nrccr_views.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import set_threads  # noqa: E402

CROSS_ROWS = ("nrccr", "nrccr_no_bt", "src_mt_bt_sim", "src_mt_bt_feat")
KEYS = ("r1_source", "r1_target", "r1_cross", "kl_similarity", "teacher_entropy", "cos_target_cross",
        "cos_target_source")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-results", default="benchmarks/results/nrccr_synthetic.jsonl")
    parser.add_argument("--synthetic-out", default="/tmp/w2vvx_nrccr_study")
    parser.add_argument("--pivot-results", default="benchmarks/results/nrccr_pivot.jsonl")
    parser.add_argument("--pivot-out", default="/tmp/w2vvx_nrccr_pivot")
    parser.add_argument("--shared-data", default="../shared/data")
    parser.add_argument("--max-items", type=int, default=384, help="training items measured per run")
    parser.add_argument("--modes", nargs="+", default=["train", "inference"], choices=["train", "inference"])
    parser.add_argument("--noise", type=float, nargs="*", default=None, help="only these synthetic noise levels")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", default="benchmarks/results/nrccr_views.jsonl")
    parser.add_argument("--report", action="store_true")
    return parser.parse_args(argv)


def _records(path):
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv=None):
    args = parse_args(argv)
    results_path = Path(args.results)
    done = {(r["study"], r["setting"], r["row"], r["seed"], r["mode"]): r for r in _records(results_path)}
    if args.report:
        print(report(done))
        return
    set_threads(args.threads)
    from w2vvx.io.collection import Collection
    from w2vvx.training.nrccr_diagnostics import nrccr_view_diagnostics
    from w2vvx.training.trainer import load_run

    jobs = []
    for record in _records(args.synthetic_results):
        if record["row"] in CROSS_ROWS and (args.noise is None or record["noise"] in args.noise):
            jobs.append(("synthetic", record["noise"], record["row"], record["seed"],
                         Path(args.synthetic_out) / "runs" / f"{record['noise']}_{record['row']}_{record['seed']}"))
    for record in _records(args.pivot_results):
        if record["method"] == "nrccr":
            dataset = record["setup"]["dataset"]
            jobs.append(("pivot", dataset, "nrccr", record["seed"],
                         Path(args.pivot_out) / f"seed{record['seed']}" / f"{dataset}-nrccr"))
    pairs_cache = {}
    results_path.parent.mkdir(parents=True, exist_ok=True)
    for study, setting, row, seed, run_dir in jobs:
        if all((study, setting, row, seed, mode) in done for mode in args.modes):
            continue
        if (study, setting) not in pairs_cache:
            if study == "synthetic":
                collection = Collection(Path(args.synthetic_out) / f"noise_{setting}", "synth")
                pairs_cache[(study, setting)] = (collection.captions("train"),
                                                 collection.captions("train", "google_enc2zh"),
                                                 collection.features(collection.feature_names()[0]))
            else:
                from recipes.pivot import load_nrccr_pairs, load_task

                pivot = next(r for r in _records(args.pivot_results) if r["method"] == "nrccr")
                task = load_task(args.shared_data, setting, max_items=pivot["setup"]["max_items"])
                source, translations = load_nrccr_pairs(args.shared_data, setting, task)
                pairs_cache[(study, setting)] = (source, translations, task.features)
        source, translations, features = pairs_cache[(study, setting)]
        run = load_run(run_dir)
        for mode in args.modes:
            if (study, setting, row, seed, mode) in done:
                continue
            stats = nrccr_view_diagnostics(run.model, source, translations, features,
                                           max_items=args.max_items, training=mode == "train")
            record = {"study": study, "setting": setting, "row": row, "seed": seed, "mode": mode, **stats}
            done[(study, setting, row, seed, mode)] = record
            with results_path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)
    print(report(done))


def report(done: dict) -> str:
    import numpy as np

    if not done:
        return "no results yet"
    lines = ["| study | setting | row | mode | seeds | " + " | ".join(KEYS) + " |",
             "|---|---|---|---|---|" + "---:|" * len(KEYS)]
    groups = {}
    for (study, setting, row, seed, mode), record in sorted(done.items(), key=lambda kv: str(kv[0])):
        groups.setdefault((study, setting, row, mode), []).append(record)
    for (study, setting, row, mode), records in groups.items():
        cells = []
        for key in KEYS:
            values = np.array([r[key] for r in records], dtype=float)
            spread = values.std(ddof=1) if len(values) > 1 else 0.0
            digits = 1 if key.startswith("r1") else 3
            cells.append(f"{values.mean():.{digits}f} ± {spread:.{digits}f}")
        lines.append(f"| {study} | {setting} | {row} | {mode} | {len(records)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
