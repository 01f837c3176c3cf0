"""``w2vvx search``: top-k items for sentences, with a stored index or encoding the items on the fly."""
from __future__ import annotations

import json
import sys

import click

from w2vvx.cli.common import COLLECTION_HELP, FEATURE_HELP, check_features_for_run, collection_of, item_captions


def read_queries(query, queries_file) -> list:
    """Queries: the words of QUERY as one sentence, else one per line of --file (``-``: stdin), else stdin lines."""
    if query and queries_file:
        raise click.UsageError("give the query as arguments or with --file, not both")
    if query:
        return [" ".join(query)]
    if queries_file is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise click.UsageError("give a QUERY, --file FILE, or sentences on stdin (one per line)")
        queries_file = "-"
    with click.open_file(queries_file, "r", encoding="utf-8") as handle:
        lines = [line.strip() for line in handle]
    queries = [line for line in lines if line]
    if not queries:
        raise click.UsageError(f"no sentences in {'stdin' if queries_file == '-' else queries_file}; "
                               "give one query per line")
    return queries


@click.command("search")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("query", nargs=-1)
@click.option("-f", "--file", "queries_file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Read queries from this file, one per line ('-': stdin); stdin is read when no QUERY is given.")
@click.option("--collection", "collection_name", default=None, help=COLLECTION_HELP)
@click.option("--feature", default=None, help=FEATURE_HELP)
@click.option("--index", "index_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="An index (w2vvx index build) or a BigFile of encoded items (w2vvx encode); default: encode "
                   "the collection's items now.")
@click.option("--split", default=None, help="Search only this split's items (with --index: the index must hold them).")
@click.option("--language", default=None, help="Query language, e.g. zh (default: the run's language).")
@click.option("-k", "--top-k", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per query instead of a table.")
@click.pass_context
def command(ctx, run_dir, query, queries_file, collection_name, feature, index_dir, split, language, top_k, as_json):
    """Search items with QUERY sentences (any language the run was trained on): rank, id, cosine score, captions.

    The words of QUERY form one sentence; more sentences come from --file or stdin, one per line.
    """
    from w2vvx.training.trainer import load_run

    queries = read_queries(query, queries_file)
    run = load_run(run_dir)
    # the model's own preprocessor; unlike the web service, the CLI ranks a query of unknown words too (as before)
    query_emb = run.model.encode_text(run.model.preprocessor(queries, language=language, check_queries=False))
    if index_dir:
        ids, scores, captions_of = _search_index(ctx, run_dir, index_dir, query_emb, collection_name, split, top_k)
    else:
        ids, scores, captions_of = _search_features(ctx, run, run_dir, query_emb, collection_name, feature, split,
                                                    top_k)
    for sentence, row_ids, row_scores in zip(queries, ids, scores):
        hits = [(str(item), float(score)) for item, score in zip(row_ids, row_scores) if item is not None]
        if as_json:
            click.echo(json.dumps({"query": sentence, "results": [
                {"rank": rank, "id": item, "score": score, "captions": captions_of(item)}
                for rank, (item, score) in enumerate(hits, 1)]}, ensure_ascii=False))
            continue
        click.echo(f"query: {sentence}")
        for rank, (item, score) in enumerate(hits, 1):
            shown_captions = captions_of(item)
            shown = (f"  {shown_captions[0]}" + (f" (+{len(shown_captions) - 1} more)" if len(shown_captions) > 1
                                                 else "")) if shown_captions else ""
            click.echo(f"{rank:>3}  {item}  {score:7.4f}{shown}")


def _search_index(ctx, run_dir, index_dir, query_emb, collection_name, split, top_k):
    """Rank the items of a stored index (or of a BigFile written by ``w2vvx encode``): :mod:`w2vvx.search.galleries`."""
    from w2vvx.errors import ConfigError
    from w2vvx.search.galleries import check_scope, needs_split_items, open_gallery, scope_collection, search_gallery
    from w2vvx.training.run_dir import check_encoding

    check_encoding(index_dir, run_dir)
    gallery = open_gallery(index_dir)

    def check(**scope):
        try:
            check_scope(gallery, **scope)
        except ConfigError as error:  # the options disagree with the index: a usage error (exit 2)
            raise click.UsageError(str(error)) from None

    check(collection=collection_name, split=split)
    split_items = None
    if needs_split_items(gallery, split):
        split_items = collection_of(ctx, scope_collection(gallery, collection_name)).item_ids(split)
        check(split=split, split_item_ids=split_items)
    return search_gallery(gallery, query_emb, k=top_k, split=split, split_item_ids=split_items)


def _search_features(ctx, run, run_dir, query_emb, collection_name, feature, split, top_k):
    """Encode the collection's items (of ``split``, else all) now and rank them."""
    from w2vvx.pipeline import pick_feature
    from w2vvx.search.galleries import search_items

    collection = collection_of(ctx, collection_name)
    feature = pick_feature(collection, feature)
    features = collection.features(feature)
    item_ids = collection.item_ids(split) if split else list(features.names)
    check_features_for_run(run_dir, features, item_ids)
    return search_items(run.model, features, item_ids, query_emb, k=top_k,
                        captions=item_captions(collection, split, item_ids))
