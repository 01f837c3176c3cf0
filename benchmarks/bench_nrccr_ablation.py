"""NRCCR vs the src+MT baseline on the synthetic MT-noise collection, trained to convergence.

For each machine-translation noise level a synthetic collection is generated (English captions, their
simulated MT into Chinese and its back-translation, human-style Chinese val/test queries and, for the
upper bound only, human-style Chinese training captions; see :mod:`w2vvx.datasets.noise`). Each row
trains one model with the library's NRCCR trainer (:mod:`w2vvx.training.nrccr`, the lineage LR rule
and early stopping, selection on validation by the fused 0.8/0.2 text→item SumR as NRCCR's
``validate.py``) and is tested with the human-style Chinese test queries (native query, text→item
R@1/5/10 and SumR; the fused query too), mean ± std over seeds:

* ``mt_only``: the Chinese query model trained on the MT text alone (Tri(tgt, v));
* ``src_mt``: **baseline**, the shared encoder on English + MT (Tri(src, v) + 0.6·Tri(tgt, v));
* ``src_mt_bt``: NRCCR without distillation (+ 0.5·Tri(src, back-translation));
* ``nrccr_no_bt``: NRCCR without back-translation (src_mt + 0.4·SimDistill + 0.1·SmoothL1);
* ``src_mt_bt_sim`` / ``src_mt_bt_feat``: one distillation view only;
* ``nrccr``: all terms;
* ``upper``: trained on human-style Chinese training captions.

Every run's per-epoch history (each weighted loss term ``loss_<term>``, the view agreements
``cos_target_cross`` / ``cos_source_backtranslation``, the validation metric, the LR) is stored with
its test metrics in ``--results`` (one JSON object per line); finished runs are skipped when the
command is run again, so an interrupted study resumes. ``--report`` prints the tables of a results
file without training.

Usage (the study of docs/nrccr.md):
    OMP_NUM_THREADS=1 KERAS_BACKEND=jax nice -n 5 python benchmarks/bench_nrccr_ablation.py \\
        --noise 0.1 0.3 0.6 --seeds 0 1 2 --rows src_mt nrccr src_mt_bt nrccr_no_bt \\
        --results benchmarks/results/nrccr_synthetic.jsonl
    python benchmarks/bench_nrccr_ablation.py --report --results benchmarks/results/nrccr_synthetic.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import machine_line, set_threads  # noqa: E402

LABELS = {"mt_only": "MT only", "src_mt": "baseline: src + MT", "src_mt_sim": "+ similarity view",
          "src_mt_feat": "+ feature view", "src_mt_bt": "+ back-translation", "src_mt_adv": "+ adversarial",
          "nrccr_no_bt": "NRCCR w/o back-translation", "src_mt_bt_sim": "src + MT + BT + similarity view",
          "src_mt_bt_feat": "src + MT + BT + feature view", "nrccr": "NRCCR (full)",
          "nrccr_concat_teacher": "NRCCR, teacher [cross ‖ BoW ‖ w2v]", "nrccr_no_adversarial": "NRCCR w/o adversarial",
          "upper": "upper bound (human zh)"}
ALIGNED = "+aligned"
GRU_ONLY = "+gru"  # the text encoder of NRCCR's design: tokens -> attention -> mean -> mapping, no BoW / word2vec
for _row in ("mt_only", "src_mt", "src_mt_sim", "src_mt_feat", "src_mt_bt", "src_mt_adv", "nrccr",
             "nrccr_concat_teacher"):
    LABELS[_row + ALIGNED] = LABELS[_row] + ", aligned bilingual word vectors"
    LABELS[_row + GRU_ONLY] = LABELS[_row] + ", GRU branch only"
    LABELS[_row + GRU_ONLY + ALIGNED] = LABELS[_row] + ", GRU branch only, aligned word vectors"
METRICS = ("t2i_r1", "t2i_r5", "t2i_r10", "t2i_sum_recall", "i2t_r1", "i2t_r5", "i2t_r10", "i2t_sum_recall")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.3, 0.6])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", nargs="+", default=["src_mt", "nrccr", "src_mt_bt", "nrccr_no_bt"],
                        choices=list(LABELS))
    parser.add_argument("--n-train", type=int, default=400)
    parser.add_argument("--n-val", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--feature-dim", type=int, default=128)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--gru-units", type=int, default=64)
    parser.add_argument("--space-dim", type=int, default=128)
    parser.add_argument("--heads", type=int, default=8, help="cross-attention heads (NRCCR: 8)")
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=4,
                        help="early stop after more than this many epochs without a better validation SumR")
    parser.add_argument("--halving-patience", type=int, default=2, help="epochs per LR before halving on a bad epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--maxlen", type=int, default=32, help="padded sentence length (config maxlen)")
    parser.add_argument("--aligned-noise", type=float, default=0.3,
                        help="rows '<row>+aligned': noise of the aligned synthetic word vectors "
                             "(w2vvx.datasets.synthetic_vectors.aligned_word_vectors)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="/tmp/w2vvx_nrccr_ablation", help="collections and run folders")
    parser.add_argument("--results", default="benchmarks/results/nrccr_synthetic.jsonl")
    parser.add_argument("--report", action="store_true", help="print the tables of --results and exit")
    return parser.parse_args(argv)


def run_one(args, collection, features, row: str, seed: int, run_dir: Path) -> dict:
    from w2vvx.datasets.synthetic_vectors import aligned_word_vectors, word_translations
    from w2vvx.models.configs import get_config
    from w2vvx.models.nrccr import ABLATIONS
    from w2vvx.training.nrccr import evaluate_nrccr, nrccr_trainer_for_collection
    from w2vvx.training.trainer import load_run

    preset, variants = row.split("+")[0], {"+" + part for part in row.split("+")[1:]}
    branches = {"text_branches": ("gru",)} if GRU_ONLY in variants else {}
    config = get_config("nrccr", embed_dim=args.embed_dim, w2v_dim=args.embed_dim, gru_units=args.gru_units, **branches,
                        common_space_dim=args.space_dim, batch_size=args.batch_size, max_epochs=args.max_epochs,
                        learning_rate=args.learning_rate, vocab_min_count=2, maxlen=args.maxlen,
                        lr_halving_patience=args.halving_patience, early_stop_patience=args.patience)
    weights = ABLATIONS["nrccr" if preset == "upper" else preset].replace(num_heads=args.heads)
    word_vectors = None
    if ALIGNED in variants:
        word_vectors = aligned_word_vectors(dim=args.embed_dim, languages=("en", "zh"), noise=args.aligned_noise,
                                            seed=seed)
    trainer = nrccr_trainer_for_collection(collection, config, run_dir, features, language="zh", weights=weights,
                                           train_on_human=preset == "upper", seed=seed, verbose=0, tensorboard=False,
                                           overwrite=True, word_vectors=word_vectors,
                                           word_translations=word_translations("en", "zh"))
    result = trainer.fit()
    run = load_run(run_dir)
    rows = evaluate_nrccr(run, collection, features, "test", "zh")
    native = rows["CM (zh)"]
    out = {key: float(native[key]) for key in METRICS if not key.endswith("sum_recall")}
    for direction in ("t2i", "i2t"):
        out[f"{direction}_sum_recall"] = sum(out[f"{direction}_r{k}"] for k in (1, 5, 10))
    fused = next((value for key, value in rows.items() if key.startswith("fused")), None)
    if fused is not None:
        for direction in ("t2i", "i2t"):
            out[f"fused_{direction}_sum_recall"] = float(sum(fused[f"{direction}_r{k}"] for k in (1, 5, 10)))
    if preset != "upper":
        out["diagnostics"] = diagnostics(run.model, trainer, collection, features, weights)
    out["best_epoch"] = result.best_epoch + 1
    out["epochs"] = result.epochs_done
    out["stopped_early"] = bool(result.stopped_early)
    out["weights"] = weights.to_dict()
    out["history"] = [{key: round(float(value), 6) for key, value in entry.items()} for entry in result.history]
    return out


def diagnostics(model, trainer, collection, features, weights) -> dict:
    """Held-out teacher vs student, attention alignment (held-out and training pairs), per-term gradient norms.

    Held-out pairs: the test items' human Chinese captions with their MT into English (``zh2enc``), the
    (source, target) roles of training (English, Chinese) on items never trained on.
    """
    from w2vvx.datasets.batching import preprocess_captions
    from w2vvx.datasets.synthetic_vectors import word_translations
    from w2vvx.models.nrccr import attention_alignment, shared_block_gradient_norms, translation_ids
    from w2vvx.datasets.aligned_captions import align_translations
    from w2vvx.training.nrccr_diagnostics import nrccr_view_diagnostics

    out = {}
    native = collection.captions("test", "zh")
    english = align_translations(native, collection.captions("test", "google_zh2enc"), name="query translation")[1]
    translations = translation_ids(word_translations("en", "zh"), model.preprocessor.gru_vocab)
    pairs = {"heldout": (english, native),
             "train": (trainer.source_captions[:2000], trainer.translations[:2000]
                       if trainer.translations is not None else None)}
    for name, (source, target) in pairs.items():
        if target is None:
            continue
        out[f"alignment_{name}"] = attention_alignment(model, preprocess_captions(model.preprocessor, source),
                                                       preprocess_captions(model.preprocessor, target), translations)
    if weights.needs_cross:
        out["views_heldout"] = nrccr_view_diagnostics(model, english, native, features, training=False)
    batches = trainer.training_batches()
    norms = [shared_block_gradient_norms(model, batches[index][0]) for index in range(min(2, len(batches)))]
    out["gradient_norms"] = {term: {block: float(sum(n[term][block] for n in norms) / len(norms))
                                    for block in norms[0][term]} for term in norms[0]}
    return out


def load_results(path: Path) -> dict:
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                done[(record["noise"], record["row"], record["seed"])] = record
    return done


def main(argv=None):
    args = parse_args(argv)
    results_path = Path(args.results)
    if args.report:
        print(report(load_results(results_path)))
        return
    thread_line = set_threads(args.threads)
    import keras

    from w2vvx.datasets.synthetic import generate_collection
    from w2vvx.io.collection import Collection

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    done = load_results(results_path)
    started = time.perf_counter()
    setup = {"n_train": args.n_train, "n_val": args.n_val, "n_test": args.n_test, "feature_dim": args.feature_dim,
             "embed_dim": args.embed_dim, "gru_units": args.gru_units, "space_dim": args.space_dim,
             "heads": args.heads, "max_epochs": args.max_epochs, "patience": args.patience,
             "halving_patience": args.halving_patience, "batch_size": args.batch_size,
             "learning_rate": args.learning_rate, "maxlen": args.maxlen, "aligned_noise": args.aligned_noise,
             "backend": keras.backend.backend(), "threads": args.threads}
    for seed in args.seeds:
        for noise in args.noise:
            root = out / f"noise_{noise}"
            name = "synth"
            if not (root / name).is_dir():
                generate_collection(root, name=name, seed=0, n_train=args.n_train, n_val=args.n_val,
                                    n_test=args.n_test, mt_noise=noise, languages=("zh",),
                                    feature_dim=args.feature_dim)
            collection = Collection(root, name)
            features = collection.features(collection.feature_names()[0])
            for row in args.rows:
                if (noise, row, seed) in done:
                    continue
                tic = time.perf_counter()
                record = run_one(args, collection, features, row, seed, out / "runs" / f"{noise}_{row}_{seed}")
                record.update(noise=noise, row=row, seed=seed, seconds=round(time.perf_counter() - tic, 1),
                              setup=setup)
                done[(noise, row, seed)] = record
                with results_path.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(json.dumps({k: v for k, v in record.items() if k not in ("history", "setup", "weights")}),
                      flush=True)
    print(f"\n{machine_line()}; {thread_line}; wall {(time.perf_counter() - started) / 60:.1f} min")
    print(report(done))


def mean_std(values, digits: int = 1) -> str:
    import numpy as np

    values = np.asarray(values, dtype=float)
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.{digits}f} ± {spread:.{digits}f}"


def _at_best(record: dict, key: str):
    """``key`` of the history entry of the selected (best) epoch."""
    entry = record["history"][record["best_epoch"] - 1]
    return entry.get(key)


def report(done: dict) -> str:
    """Markdown tables per noise level: test metrics (both directions), diagnostics, loss terms at the best epoch."""
    import numpy as np

    lines = []
    if not done:
        return "no results yet"
    setup = next(iter(done.values()))["setup"]
    lines.append("setup: " + ", ".join(f"{k}={v}" for k, v in setup.items()))
    noises = sorted({key[0] for key in done})
    rows = [row for row in LABELS if any(key[1] == row for key in done)]

    def records_of(noise, row):
        return sorted((rec for key, rec in done.items() if key[0] == noise and key[1] == row),
                      key=lambda rec: rec["seed"])

    def baseline_of(noise, row):
        """The src+MT row of the same variant (``src_mt+aligned`` for ``nrccr+aligned``), else plain src+MT."""
        variant = row[len(row.split("+")[0]):]
        own = "src_mt" + variant
        name = own if own != row and records_of(noise, own) else "src_mt"
        return name, {rec["seed"]: rec for rec in records_of(noise, name)}

    for noise in noises:
        lines += ["", f"#### MT noise {noise}: test, human-style zh queries vs items (mean ± std over seeds)", "",
                  "| row | seeds | t2i R@1 | R@5 | R@10 | t2i SumR | i2t R@1 | i2t SumR | t2i SumR fused 0.8/0.2 "
                  "| Δ t2i SumR vs src+MT of the same variant (paired) | Δ i2t SumR (paired) | Δ fused t2i (paired) | best epoch |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in rows:
            records = records_of(noise, row)
            if not records:
                continue
            base_name, base = baseline_of(noise, row)
            cells = [mean_std([r[m] for r in records]) for m in ("t2i_r1", "t2i_r5", "t2i_r10", "t2i_sum_recall",
                                                                 "i2t_r1", "i2t_sum_recall")]
            fused = [r["fused_t2i_sum_recall"] for r in records if "fused_t2i_sum_recall" in r]
            cells.append(mean_std(fused) if len(fused) == len(records) else "–")
            for metric in ("t2i_sum_recall", "i2t_sum_recall", "fused_t2i_sum_recall"):
                paired = [r[metric] - base[r["seed"]][metric] for r in records
                          if r["seed"] in base and metric in r and metric in base[r["seed"]]]
                cells.append("–" if row == base_name or not paired else mean_std(paired))
            cells.append(mean_std([r["best_epoch"] for r in records]))
            seeds = ",".join(str(r["seed"]) for r in records)
            lines.append(f"| {LABELS[row]} | {seeds} | " + " | ".join(cells) + " |")
        lines += ["", f"#### MT noise {noise}: diagnostics of the selected model (mean ± std over seeds)", "",
                  "held-out = test items' human zh with their MT into English; R@1 inside batches of 128 items "
                  "(chance 0.8); alignment = share of source tokens whose cross-attention peaks on a translation "
                  "(chance in brackets); gradient norms on 2 training batches, per term, into the word "
                  "embedding+GRU / the attention block.", "",
                  "| row | held-out R@1 teacher (cross) | held-out R@1 student (zh) | held-out R@1 source (en) "
                  "| alignment held-out | alignment train | ‖∇‖ GRU: target / similarity / adversarial "
                  "| ‖∇‖ attention: target / similarity / feature |",
                  "|---|---:|---:|---:|---:|---:|---|---|"]
        for row in rows:
            records = [r for r in records_of(noise, row) if "diagnostics" in r]
            if not records:
                continue
            diag = [r["diagnostics"] for r in records]
            cells = []
            for key in ("r1_cross", "r1_target", "r1_source"):
                values = [d["views_heldout"][key] for d in diag if "views_heldout" in d]
                cells.append(mean_std(values) if values else "–")
            for name in ("alignment_heldout", "alignment_train"):
                values = [d[name]["rate"] * 100 for d in diag if name in d]
                chance = [d[name]["chance"] * 100 for d in diag if name in d]
                cells.append(f"{mean_std(values)} ({np.mean(chance):.1f})" if values else "–")
            for block, terms in (("word_gru", ("target", "similarity", "adversarial")),
                                 ("attention", ("target", "similarity", "feature"))):
                parts = []
                for term in terms:
                    values = [d["gradient_norms"][term][block] for d in diag if term in d["gradient_norms"]]
                    parts.append(f"{np.mean(values):.2g}" if values else "–")
                cells.append(" / ".join(parts))
            lines.append(f"| {LABELS[row]} | " + " | ".join(cells) + " |")
    keys = ("loss_source", "loss_target", "loss_similarity", "loss_feature", "loss_backtranslation",
            "loss_adversarial", "loss_discriminator", "cos_target_cross")
    lines += ["", "#### Weighted loss terms at the selected epoch (training means, mean over seeds)",
              "", "| noise | row | " + " | ".join(keys) + " |", "|---|---|" + "---:|" * len(keys)]
    for noise in noises:
        for row in rows:
            records = records_of(noise, row)
            if not records:
                continue
            cells = []
            for key in keys:
                values = [_at_best(r, key) for r in records]
                values = [v for v in values if v is not None]
                cells.append(f"{np.mean(values):.3g}" if values else "–")
            lines.append(f"| {noise} | {LABELS[row]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
