"""``w2vvx encode``: a collection's items in a run's retrieval space, as a BigFile."""
from __future__ import annotations

import sys

import click

from w2vvx.cli.common import (COLLECTION_HELP, FEATURE_HELP, check_features_for_run, collection_of,
                               shard_options)


@click.command("encode")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--collection", "collection_name", default=None, help=COLLECTION_HELP)
@click.option("--feature", default=None, help=FEATURE_HELP)
@click.option("--split", default=None, help="Encode only this split's items (default: every item of the feature file).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output BigFile folder.")
@click.option("--batch-size", default=1024, show_default=True, type=click.IntRange(min=1))
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@shard_options
@click.pass_context
def command(ctx, run_dir, collection_name, feature, split, out, batch_size, overwrite, shard, merge_shards):
    """Encode a collection's items into the run's retrieval space, as a BigFile (atomic)."""
    from w2vvx.pipeline import pick_feature
    from w2vvx.search.encode import encode_items
    from w2vvx.training.run_dir import record_encoding
    from w2vvx.training.trainer import load_run

    collection = collection_of(ctx, collection_name)
    features = collection.features(pick_feature(collection, feature))
    item_ids = collection.item_ids(split) if split else None
    run = load_run(run_dir)
    check_features_for_run(run_dir, features, item_ids)
    from w2vvx.search import sharding

    if shard is not None:  # one part beside --out; --merge-shards joins them
        part = sharding.encode_shard(run.model, features, out, sharding.parse_shard(shard), item_ids=item_ids,
                                     batch_size=batch_size, overwrite=overwrite, progress=sys.stdout.isatty())
        return click.echo(f"wrote shard {part}")
    written = (sharding.merge_shards(out, merge_shards, overwrite=overwrite) if merge_shards else
               encode_items(run.model, features, out, item_ids=item_ids, batch_size=batch_size, overwrite=overwrite,
                            progress=sys.stdout.isatty()))
    record_encoding(out, run_dir)  # search --index refuses an index encoded by another run
    click.echo(f"wrote {written}")
