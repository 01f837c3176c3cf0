"""Noisy-label cross-modal retrieval on the Wikipedia features: CE vs contrastive vs MRL vs ELR.

Trains the two-tower label-space model (``w2vvx.noisy``) on the 2,173 Wikipedia training pairs
(128-d SIFT BoW images, 10-d LDA texts) with a fraction of the labels flipped symmetrically, then
reports label-based MAP (cosine, full ranking, relevance = same category) on the 693 clean test
pairs in both directions, as mean ± std over seeds, as Markdown tables.

The contrastive-only method never reads labels, so it is trained once per seed and its row is the
same at every noise level.

Usage:
    OMP_NUM_THREADS=1 KERAS_BACKEND=jax python benchmarks/bench_noisy_labels.py \
        [--data /work/shared/data/features/wikipedia] [--seeds 2] [--epochs 20]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from w2vvx.noisy import load_wikipedia, symmetric_label_noise, train_noisy_retrieval  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "features" / "wikipedia"
METHOD_NAMES = {"ce": "CE", "contrastive": "Contrastive", "ce_contrastive": "CE+Contrastive",
                "mrl": "MRL (MCE+Contr.)", "elr": "ELR+Contr."}
# MRL README Table 1 (deep image + doc2vec text features, not these ones): Wikipedia MAP.
MRL_REFERENCE = {0.2: (0.514, 0.461), 0.4: (0.491, 0.453), 0.6: (0.464, 0.421), 0.8: (0.435, 0.400)}
MRL_CE_REFERENCE_I2T = {0.2: 0.441, 0.4: 0.387, 0.6: 0.293, 0.8: 0.178}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with raw_features.mat and lists")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.2, 0.4, 0.6, 0.8])
    parser.add_argument("--methods", nargs="+", default=["ce", "contrastive", "mrl", "elr"],
                        choices=sorted(METHOD_NAMES))
    parser.add_argument("--seeds", type=int, default=2, help="number of seeds (0, 1, ...)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256], help="hidden sizes of each tower")
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--beta", type=float, default=0.7, help="label-loss weight against contrastive (MRL: 0.7)")
    parser.add_argument("--elr-lambda", type=float, default=3.0)
    parser.add_argument("--elr-beta", type=float, default=0.7)
    return parser.parse_args(argv)


def run(args) -> dict:
    data = load_wikipedia(args.data)
    results = {}  # (method, noise) -> list of (i2t, t2i)
    for seed in range(args.seeds):
        for method in args.methods:
            levels = args.noise[:1] if method == "contrastive" else args.noise
            for noise in levels:
                started = time.perf_counter()
                labels = symmetric_label_noise(data.train.labels, noise, data.num_classes, seed=seed)
                trained = train_noisy_retrieval(
                    data.train.image, data.train.text, labels, data.num_classes, method=method, epochs=args.epochs,
                    batch_size=args.batch_size, learning_rate=args.learning_rate, seed=seed,
                    hidden_units=tuple(args.hidden), embedding_dim=args.embedding_dim, beta=args.beta,
                    elr_lambda=args.elr_lambda, elr_beta=args.elr_beta)
                scores = trained.evaluate(data.test.image, data.test.text, data.test.labels)
                targets = args.noise if method == "contrastive" else [noise]
                for target in targets:
                    results.setdefault((method, target), []).append((scores["i2t"], scores["t2i"]))
                print(f"seed {seed} {method:<14} noise {noise:.1f}: I->T {scores['i2t']:.4f} T->I {scores['t2i']:.4f} "
                      f"({time.perf_counter() - started:.1f}s)", file=sys.stderr, flush=True)
    return results


def _cell(values) -> str:
    values = np.asarray(values)
    return f"{values.mean():.3f} ± {values.std():.3f}"


def markdown(results: dict, args, chance: float) -> str:
    lines = []
    for direction, name in ((0, "Image → Text"), (1, "Text → Image")):
        lines.append(f"**{name} MAP** (Wikipedia SIFT/LDA features, 693 test pairs, mean ± std over {args.seeds} seeds)")
        lines.append("")
        header = ["noise"] + [METHOD_NAMES[m] for m in args.methods] + ["MRL README (deep feats)"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for noise in args.noise:
            row = [f"{noise:.1f}"]
            for method in args.methods:
                row.append(_cell([pair[direction] for pair in results[(method, noise)]]))
            reference = MRL_REFERENCE.get(round(noise, 1))
            row.append("—" if reference is None else f"{reference[direction]:.3f}")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    chance = f"chance (random ranking) MAP ≈ Σ_c prior_c² = {chance:.3f}"
    lines.append(f"Settings: epochs {args.epochs}, batch {args.batch_size}, Adam(β1=0.5) lr {args.learning_rate} "
                 f"cosine decay, towers {args.hidden}→{args.embedding_dim}, β={args.beta}, ELR λ={args.elr_lambda} "
                 f"momentum {args.elr_beta}; {chance}. MRL's CE baseline (README) I→T at 0.2/0.4/0.6/0.8: "
                 + "/".join(f"{v:.3f}" for v in MRL_CE_REFERENCE_I2T.values()) + ".")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    import keras

    started = time.perf_counter()
    results = run(args)
    test_labels = load_wikipedia(args.data).test.labels
    chance = float(np.sum((np.bincount(test_labels) / len(test_labels)) ** 2))
    print(markdown(results, args, chance))
    print(f"\nbackend {keras.backend.backend()}, total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
