"""``w2vvx train``: train a named config on a collection."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from w2vvx.cli.common import (COLLECTION_HELP, FEATURE_HELP, collection_of, parse_overrides, progress_verbosity,
                              variant_in_language, word_vectors_option)


@click.command("train")
@click.argument("config")
@click.option("--collection", "collection_name", default=None, help=COLLECTION_HELP)
@click.option("--feature", default=None, help=FEATURE_HELP)
@click.option("--train-variant", default=None, help="Training caption variant (e.g. google_enc2zh).")
@click.option("--val-variant", default=None,
              help="Validation caption variant (e.g. zh; default: the training captions' language).")
@click.option("--train-variants", default=None, metavar="V1,V2,...",
              help="Training caption variants, one per language, for the 1-to-K loss (w2vv_1tok), e.g. "
                   "',google_enc2zh,google_enc2de' (an empty entry = the source captions).")
@click.option("--val-variants", default=None, metavar="V1,V2,...",
              help="Validate in several languages, e.g. ',zh,de': metrics averaged over them, MRV reported.")
@click.option("--language", default="en", show_default=True, help="Language of untagged captions.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Run folder (default: <collection>/runs/<config>[_<train-variant>]).")
@click.option("--size", type=click.Choice(["small", "tiny", "lineage"]), default="small", show_default=True,
              help="small: CPU-sized model (minutes on 2 cores), as do-all; tiny: tests; lineage: the published "
                   "sizes (GPU, hours).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Maximum epochs (default: the config's max_epochs after --size).")
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE",
              help="Override a config field (JSON value), e.g. --set max_epochs=5 --set text_mlp=[1024].")
@click.option("--word-vectors", multiple=True, metavar="PATH|LANG=PATH", callback=word_vectors_option,
              help="Pretrained word vectors (word2vec bin/txt, GloVe, BigFile); default: train word2vec. Repeat as "
                   "LANG=PATH for aligned per-language files (MUSE-style), e.g. --word-vectors en=wiki.en.align.vec "
                   "--word-vectors zh=wiki.zh.align.vec.")
@click.option("--trusted", is_flag=True, help="Allow pickle-based gensim model files for --word-vectors.")
@click.option("--seed", default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last complete epoch.")
@click.option("--overwrite", is_flag=True, help="Start again in a run folder that holds a checkpoint.")
@click.option("--precision", type=click.Choice(["float32", "tf32", "mixed_bfloat16", "mixed_float16"]),
              default="float32", show_default=True,
              help="Compute precision of the layers (weights stay float32); tf32: float32 with TensorFloat-32 "
                   "matrix products on a GPU, on every backend.")
@click.option("--devices", default=None, metavar="all|NAME,NAME",
              help="Train data parallel on these devices (JAX/TensorFlow), e.g. 'all' or 'gpu:0,gpu:1'; "
                   "default one device. See `w2vvx env` for the names.")
@click.option("--num-processes", type=click.IntRange(min=1), default=None,
              help="JAX: the number of processes of a multi-process (multi-host) job; default $W2VVX_NUM_PROCESSES, "
                   "else one. Every process runs the same command with its own --process-id.")
@click.option("--process-id", type=click.IntRange(min=0), default=None,
              help="JAX: this process's id, 0..N-1 (default $W2VVX_PROCESS_ID).")
@click.option("--coordinator", default=None, metavar="HOST:PORT",
              help="JAX: process 0's address and a free port (default $W2VVX_COORDINATOR).")
@click.option("--cluster", is_flag=True,
              help="JAX: join the processes of a SLURM or Open MPI (mpirun) launch, found by JAX itself.")
@click.pass_context
def command(ctx, config, collection_name, feature, train_variant, val_variant, train_variants, val_variants, language,
            run_dir, size, epochs, overrides, word_vectors, trusted, seed, resume, overwrite, precision, devices,
            num_processes, process_id, coordinator, cluster):
    """Train a named CONFIG (base_w2vv, w2vv_attention, w2vv_attention_ctl, w2vvpp, w2vv_1tok, ...).

    On several JAX processes (hosts), run the same command in each with --num-processes, --process-id and
    --coordinator (or their W2VVX_* variables, or --cluster under SLURM / mpirun); with the torch backend,
    launch it with torchrun. Only process 0 writes the run folder. See docs/distributed.md.
    """
    from w2vvx.models.sizes import sized_config
    from w2vvx.training.hosts import initialize_hosts_when_asked

    initialize_hosts_when_asked(coordinator, num_processes, process_id, cluster)  # before any JAX computation

    fields = parse_overrides(overrides)
    if epochs is not None:
        fields["max_epochs"] = epochs
    model_config = sized_config(config, size, **fields)  # an unknown config is refused before anything else
    for single, several, name in ((train_variant, train_variants, "train"), (val_variant, val_variants, "val")):
        if single is not None and several is not None:
            raise click.UsageError(f"give either --{name}-variant or --{name}-variants, not both")
    if run_dir is not None and not run_dir.strip():
        raise click.UsageError("--run-dir is empty; give a folder or leave the option out for the default")
    collection = collection_of(ctx, collection_name)
    from w2vvx.pipeline import pick_feature

    feature = pick_feature(collection, feature)
    if train_variant is not None and val_variant is None and val_variants is None:
        training_language = variant_language(train_variant, language)
        if training_language != language:
            val_variant = validation_variant(collection, training_language, train_variant)
            if ctx.get_parameter_source("language").name == "DEFAULT":
                language = training_language  # the run's own language: evaluate and search default to it
            click.echo(f"validating on the {training_language} captions {collection.caption_path('val', val_variant)}"
                       " (--val-variant chooses others)", err=True)
    suffix = train_variant or (train_variants.strip(",").replace(",", "+") if train_variants else "")
    run_dir = Path(run_dir) if run_dir else collection.path / "runs" / (config + (f"_{suffix}" if suffix else ""))
    train_captions = (captions_by_language(collection, "train", train_variants, language)
                      if train_variants is not None else collection.captions("train", train_variant))
    val_captions = (captions_by_language(collection, "val", val_variants, language) if val_variants is not None
                    else collection.captions("val", val_variant))
    from w2vvx.training.trainer import Trainer

    trainer = Trainer(model_config, run_dir, train_captions, collection.features(feature), val_captions,
                      word_vectors=word_vectors, trusted=trusted, default_language=language, seed=seed,
                      verbose=progress_verbosity(), overwrite=overwrite, precision=precision, devices=devices)
    result = trainer.fit(resume=resume)
    if result.interrupted:
        click.echo(f"interrupted; resume with the same command plus --resume (run folder {run_dir})", err=True)
        sys.exit(143 if result.signal == "SIGTERM" else 130)
    click.echo(f"best {result.monitor} = {result.best_metric} at epoch {result.best_epoch + 1}; "
               f"{result.epochs_done} epochs; model in {run_dir / 'best.keras'}")


def variant_language(variant: str, default: str) -> str:
    """The language of a caption variant's text (``google_enc2zh`` -> ``zh``); ``default`` when it cannot tell.

    Example:
        >>> variant_language("google_enc2zh", "en"), variant_language("mine", "en")
        ('zh', 'en')
    """
    from w2vvx.errors import W2VVXError
    from w2vvx.text.tokenizers import language_of_tag

    try:
        return language_of_tag(variant)
    except W2VVXError:
        return default


def validation_variant(collection, language: str, train_variant: str) -> str:
    """The validation captions in the training captions' language, or a ConfigError naming --val-variant."""
    from w2vvx.errors import ConfigError

    chosen = variant_in_language(collection, "val", language, also=(train_variant,))
    if chosen is None:
        tried = ", ".join(str(collection.caption_path("val", v)) for v in (language, train_variant))
        raise ConfigError(f"--train-variant {train_variant} trains on {language} captions, but there are no {language}"
                          f" validation captions (tried {tried}); validating on the source captions would select the "
                          "model on meaningless numbers. Give --val-variant VARIANT (captions in the training "
                          "language)")
    return chosen


def captions_by_language(collection, split: str, variants: str, language: str) -> dict:
    """``{language: captions}`` of comma-separated caption variants ('' = the source captions)."""
    from w2vvx.errors import ConfigError
    from w2vvx.text.tokenizers import language_of_tag

    out = {}
    for variant in (part.strip() for part in variants.split(",")):
        if variant == language and not collection.caption_path(split, variant).is_file():
            variant = ""  # "en,google_enc2zh" names the source captions by their language
        key = language_of_tag(variant) if variant else language
        if key in out:
            key = variant or language
        if key in out:
            raise ConfigError(f"caption variant {variant!r} is listed twice in {variants!r}")
        out[key] = collection.captions(split, variant or None)
    return out
