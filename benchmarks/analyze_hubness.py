#!/usr/bin/env python3
"""Hubness of text→item retrieval for trained runs: why a model can be good i2t and poor t2i.

For each run folder (``source_en`` or ``target_<lang>`` of a ``do-all`` pipeline) it encodes a split's
captions and items and prints: how many distinct items are ever ranked first, the share of queries
whose first item is one of the five most frequent "hubs", the skewness of the k-occurrence (N10)
distribution, and the mean cosine between the embeddings of different queries (how collapsed the
predicted vectors are).

Usage:
    python benchmarks/analyze_hubness.py --rootpath ~/VisualSearch --collection w2vvx_synth \
        RUN_DIR [RUN_DIR ...] [--split test] [--variant zh]
"""
import argparse

import numpy as np

from w2vvx.evaluation.metrics import cosine_scores
from w2vvx.io.collection import Collection
from w2vvx.training.trainer import load_run


def hubness(text_emb: np.ndarray, item_emb: np.ndarray, k: int = 10) -> dict:
    scores = cosine_scores(text_emb, item_emb)
    first = np.bincount(scores.argmax(1), minlength=len(item_emb))
    occurrences = np.bincount(np.argsort(-scores, 1)[:, :k].ravel(), minlength=len(item_emb))
    pairwise = cosine_scores(text_emb, text_emb)
    off_diagonal = pairwise[~np.eye(len(text_emb), dtype=bool)]
    return {"distinct_first": int(np.count_nonzero(first)), "items": len(item_emb),
            "top5_hub_share": float(np.sort(first)[-5:].sum() / len(text_emb)),
            "n10_skewness": float(((occurrences - occurrences.mean()) ** 3).mean() / occurrences.std() ** 3),
            "query_cosine": float(off_diagonal.mean())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--rootpath", required=True)
    parser.add_argument("--collection", default="w2vvx_synth")
    parser.add_argument("--feature", default=None)
    parser.add_argument("--split", default="test")
    parser.add_argument("--variant", default=None)
    args = parser.parse_args()
    collection = Collection(args.rootpath, args.collection)
    features = collection.features(args.feature or collection.feature_names()[0])
    items = collection.item_ids(args.split)
    captions = collection.captions(args.split, args.variant)
    vectors = features.read_rows([features.index(item) for item in items])
    print("| run | distinct items ranked first | queries whose first item is a top-5 hub | N10 skewness | "
          "mean cosine between queries |")
    print("|---|---:|---:|---:|---:|")
    for run_dir in args.runs:
        run = load_run(run_dir)
        stats = hubness(run.model.encode_text(captions),
                        run.model.encode_visual(vectors))
        print(f"| {run_dir} | {stats['distinct_first']}/{stats['items']} | {stats['top5_hub_share']:.1%} | "
              f"{stats['n10_skewness']:.2f} | {stats['query_cosine']:.3f} |")


if __name__ == "__main__":
    main()
