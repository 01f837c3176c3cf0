"""``w2vvx index build``: encode a collection's items once into a searchable index."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from w2vvx.cli.common import (COLLECTION_HELP, FEATURE_HELP, check_features_for_run, collection_of, item_captions,
                               shard_options)


@click.group("index")
def command():
    """Encode a collection's items once into a searchable index (exact, faiss or usearch)."""


@command.command("build")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="The index folder.")
@click.option("--collection", "collection_name", default=None, help=COLLECTION_HELP)
@click.option("--feature", default=None, help=FEATURE_HELP)
@click.option("--split", default=None, help="Index only this split's items (default: every item of the feature file).")
@click.option("--kind", type=click.Choice(["exact", "faiss", "usearch"]), default="exact", show_default=True,
              help="exact: brute force over memory-mapped vectors; faiss/usearch: approximate "
                   "(pip install w2vvx[ann]).")
@click.option("--captions/--no-captions", default=True, show_default=True,
              help="Store the items' captions of the split (or of all splits) to show beside results.")
@click.option("--batch-size", default=1024, show_default=True, type=click.IntRange(min=1))
@click.option("--overwrite", is_flag=True, help="Replace an existing index.")
@shard_options
@click.pass_context
def build(ctx, run_dir, out, collection_name, feature, split, kind, captions, batch_size, overwrite, shard,
          merge_shards):
    """Encode the items with RUN_DIR's model and store them, with the run they came from, in --out."""
    from w2vvx.io.atomic import remove_stale_temporaries
    from w2vvx.pipeline import pick_feature
    from w2vvx.search.index_store import build_index, source_info
    from w2vvx.training.run_dir import record_encoding
    from w2vvx.training.trainer import load_run

    collection = collection_of(ctx, collection_name)
    feature = pick_feature(collection, feature)
    features = collection.features(feature)
    item_ids = collection.item_ids(split) if split else None
    run = load_run(run_dir)
    check_features_for_run(run_dir, features, item_ids if item_ids is not None else list(features.names))
    texts = item_captions(collection, split, item_ids) if captions else None
    info = {**source_info(collection.name, split, feature), "run": Path(run_dir).name}
    remove_stale_temporaries(Path(out) / "vectors")
    from w2vvx.search import index_store, sharding

    if shard is not None:  # one part of the index's vectors; --merge-shards builds the index from them
        part = sharding.encode_shard(run.model, features, Path(out) / index_store.VECTORS_DIR,
                                     sharding.parse_shard(shard), item_ids=item_ids, batch_size=batch_size,
                                     overwrite=overwrite, progress=sys.stdout.isatty())
        return click.echo(f"wrote shard {part}")
    folder = (index_store.build_index_from_shards(out, merge_shards, kind=kind, info=info, captions=texts,
                                                  overwrite=overwrite) if merge_shards else
              build_index(run.model, features, out, item_ids=item_ids, kind=kind, info=info, captions=texts,
                          batch_size=batch_size, overwrite=overwrite, progress=sys.stdout.isatty()))
    record_encoding(folder, run_dir)  # search refuses the index with another run's model
    click.echo(f"indexed {len(item_ids) if item_ids is not None else len(features)} items ({kind}) in {folder}")
