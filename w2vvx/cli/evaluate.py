"""``w2vvx evaluate``: t2i and i2t metrics of a trained run on a split, in the run's own language by default."""
from __future__ import annotations

import click

from w2vvx.cli.common import (COLLECTION_HELP, FEATURE_HELP, check_features_for_run, collection_of, source_language,
                              variant_in_language)


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--collection", "collection_name", default=None, help=COLLECTION_HELP)
@click.option("--feature", default=None, help=FEATURE_HELP)
@click.option("--split", default="test", show_default=True)
@click.option("--variant", default=None,
              help="Query caption variant, e.g. zh (default: the source captions, or the run's language's).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the table as Markdown.")
@click.pass_context
def command(ctx, run_dir, collection_name, feature, split, variant, out):
    """Evaluate a trained run: t2i and i2t R@1/5/10, MedR, mAP, mIR, SumR."""
    from w2vvx.evaluation.protocols import caption_rows
    from w2vvx.evaluation.report import ResultsTable
    from w2vvx.pipeline import pick_feature
    from w2vvx.training.trainer import load_run

    collection = collection_of(ctx, collection_name)
    features = collection.features(pick_feature(collection, feature))
    run = load_run(run_dir)
    if variant is None:
        variant = run_language_variant(collection, split, run.model.preprocessor, run_dir)
    captions = collection.captions(split, variant)
    items = collection.item_ids(split)
    imageset = collection.imageset_path(split)
    check_features_for_run(run_dir, features, items,
                           source=imageset if imageset.is_file() else collection.caption_path(split, variant))
    metrics = caption_rows(run.model, captions, features, items)
    table = ResultsTable()
    table.add(f"{split}{'_' + variant if variant else ''}", metrics)
    click.echo(table.to_markdown())
    if out:
        table.write_markdown(out)


def run_language_variant(collection, split: str, featurizer, run_dir):
    """The caption variant to evaluate a run on when ``--variant`` is not given.

    ``featurizer`` is what knows the run's ``languages`` and ``default_language`` (the model's preprocessor).

    The source captions when the run reads their language; else the split's captions in the run's default
    language (e.g. ``zh`` for a Chinese run); else a ConfigError that names ``--variant``.
    """
    from w2vvx.errors import ConfigError

    source = source_language(collection, split)
    languages = list(featurizer.languages)
    if source in languages:
        return None
    wanted = [featurizer.default_language] + [language for language in languages
                                              if language != featurizer.default_language]
    for language in wanted:
        variant = variant_in_language(collection, split, language)
        if variant is not None:
            click.echo(f"evaluating on the {language} captions {collection.caption_path(split, variant)}, the run's "
                       "language (--variant chooses others)", err=True)
            return variant
    raise ConfigError(f"the run {run_dir} reads {', '.join(languages)}, but the {split} source captions are "
                      f"{source} and there are no {split} captions in {' or '.join(wanted)}; give --variant VARIANT "
                      f"(captions of {split} in the run's language)")
