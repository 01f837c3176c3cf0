"""The ``w2vvx`` command line: a thin layer over the Python API.

``import w2vvx`` imports Keras (it registers the model classes), so :func:`main` restarts the command once
with ``KERAS_BACKEND`` set when ``--backend`` names another backend. Errors of the library
(:class:`w2vvx.errors.W2VVXError`) are printed as one message without a traceback and exit with status 2.
Commands of other packages join through the ``w2vvx.cli_plugins`` entry-point group (:class:`PluginGroup`).
"""
from __future__ import annotations

import json
import logging
import os
import platform
import sys
from pathlib import Path
from typing import Optional

import click

from w2vvx.errors import W2VVXError

BACKENDS = ("tensorflow", "torch", "jax")


def _settings(ctx):
    from w2vvx.config import load_settings

    return load_settings(rootpath=ctx.obj.get("rootpath"))


def _rootpath(ctx) -> Path:
    return Path(_settings(ctx).rootpath)


def _collection(ctx, name: Optional[str]):
    from w2vvx.io.collection import Collection

    settings = _settings(ctx)
    return Collection(settings.rootpath, name or settings.get("default_collection", "w2vvx_synth"))


#: Entry-point group of command plugins: ``name = module:click_command`` adds ``w2vvx <name>`` (the recipes
#: register ``recipe = w2vvx_recipes.cli:recipe``). A plugin that fails to import is reported, never hidden.
PLUGIN_GROUP = "w2vvx.cli_plugins"


class PluginGroup(click.Group):
    """The ``w2vvx`` group: built-in commands plus the commands of the ``w2vvx.cli_plugins`` entry points."""

    plugins_loaded = False

    def _load_plugins(self) -> None:
        if self.plugins_loaded:
            return
        self.plugins_loaded = True
        from importlib.metadata import entry_points

        for entry in entry_points(group=PLUGIN_GROUP):
            if entry.name in self.commands:
                continue
            try:
                command = entry.load()
            except Exception as error:  # reported when the command is used, and in --help
                command = _broken_plugin(entry, error)
            if not isinstance(command, click.Command):
                command = _broken_plugin(entry, TypeError(f"{entry.value} is a {type(command).__name__}, "
                                                          "not a click command"))
            self.add_command(command, entry.name)

    def list_commands(self, ctx):
        self._load_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx, cmd_name):
        self._load_plugins()
        return super().get_command(ctx, cmd_name)


def _broken_plugin(entry, error: BaseException) -> click.Command:
    """A command standing in for a plugin that failed to load: using it prints why and exits with 2."""
    message = (f"the {entry.name!r} commands ({entry.value}, entry point group {PLUGIN_GROUP}) failed to load: "
               f"{type(error).__name__}: {error}; reinstall w2vvx (pip install -e .) or fix the plugin")

    @click.command(entry.name, help=f"(broken plugin) {message}",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def broken():
        from w2vvx.errors import ConfigError

        raise ConfigError(message)

    return broken


def _check_backend(ctx, param, value):
    if value is None or value in BACKENDS:
        return value
    source = ctx.get_parameter_source(param.name)
    where = "the environment variable KERAS_BACKEND" if source is not None and source.name == "ENVIRONMENT" else \
        "--backend"
    raise click.BadParameter(f"{where} is {value!r}, which is no backend w2vvx runs on; use one of "
                             f"{', '.join(BACKENDS)} (e.g. export KERAS_BACKEND=tensorflow)", ctx=ctx, param=param)


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--backend", default=None, envvar="KERAS_BACKEND", callback=_check_backend,
              metavar="[" + "|".join(BACKENDS) + "]",
              help="Keras backend (default: $KERAS_BACKEND, else tensorflow).")
@click.option("--rootpath", type=click.Path(file_okay=False), default=None,
              help="VisualSearch root folder (overrides $W2VVX_ROOTPATH and common.ini).")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def cli(ctx, backend, rootpath, verbose):
    """w2vvx: cross-lingual cross-modal retrieval (Word2VisualVec lineage) on Keras 3."""
    if backend:
        os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Spinning OpenMP workers slow torch several times over when a core is busy (benchmarks/README.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("w2vvx").setLevel(level)  # INFO lines only with -v
    for noisy in ("jieba", "tensorflow", "absl", "h5py", "gensim", "smart_open"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING if noisy == "jieba" else logging.ERROR))
    ctx.ensure_object(dict)
    ctx.obj["rootpath"] = rootpath


@cli.command()
@click.option("--expect-gpu", is_flag=True,
              help="Exit with status 3, naming them, when an installed backend would train on the CPU (the "
                   "set-up runs this after installing the GPU builds).")
@click.pass_context
def env(ctx, expect_gpu):
    """Print the environment: versions, Keras backend, devices, rootpath, each backend's device."""
    import keras
    import numpy

    from w2vvx.devices import describe_backends, device_names

    settings = _settings(ctx)
    lines = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "w2vvx": _version(),
        "keras": keras.__version__,
        "keras backend": keras.backend.backend(),
        "numpy": numpy.__version__,
        "rootpath": f"{settings.rootpath} ({settings.rootpath_source})",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "devices": ", ".join(device_names()),
    }
    trains_on = describe_backends()
    for backend, device in trains_on.items():
        lines[f"{backend} trains on"] = device
    for package in ("tensorflow", "torch", "jax", "gensim", "jieba", "h5py"):
        lines[package] = _package_version(package)
    width = max(len(key) for key in lines)
    for key, value in lines.items():
        click.echo(f"{key:<{width}}  {value}")
    on_cpu = [backend for backend, device in trains_on.items()
              if device == "cpu" or device.startswith(("cpu:", "error:"))]  # "not installed" is no failure
    if expect_gpu and on_cpu:
        click.echo(f"w2vvx env: GPU builds were expected, but {', '.join(on_cpu)} would not train on a GPU. Check the "
                   "driver (nvidia-smi; torch 2.13's wheel needs CUDA 13, TensorFlow and JAX CUDA 12) and which "
                   "builds pip installed (pip list: a version ending in '+cpu' is a CPU build; pip config list "
                   "shows a find-links or extra index that can supply one), then reinstall.", err=True)
        ctx.exit(3)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("w2vvx")
    except Exception:  # not installed (running from a checkout)
        return "0.1.0 (source checkout)"


def _package_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name if name != "tensorflow" else "tensorflow-cpu")
    except Exception:
        try:
            from importlib.metadata import version

            return version(name)
        except Exception:
            return "not installed"


@cli.command()
@click.option("--name", default=None, help="Collection name (default: common.ini default_collection).")
@click.option("--scale", type=click.Choice(["tiny", "default", "large"]), default="default", show_default=True)
@click.option("--seed", default=0, show_default=True, help="Everything is a deterministic function of it.")
@click.option("--mt-noise", default=0.3, show_default=True, help="Simulated machine-translation noise in [0, 1].")
@click.option("--languages", default="zh,de", show_default=True, help="Target languages, comma-separated.")
@click.option("--feature-dim", default=2048, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing collection.")
@click.pass_context
def generate(ctx, name, scale, seed, mt_noise, languages, feature_dim, overwrite):
    """Generate the embedded default collection (synthetic, multilingual, offline)."""
    from w2vvx.config import ensure_writable_rootpath
    from w2vvx.datasets.synthetic import generate_collection

    rootpath = ensure_writable_rootpath(_rootpath(ctx))
    collection = _collection(ctx, name)
    folder = generate_collection(rootpath, name=collection.name, seed=seed, scale=scale, mt_noise=mt_noise,
                                 languages=tuple(_split_list(languages)), feature_dim=feature_dim,
                                 overwrite=overwrite)
    click.echo(f"generated {folder}")


def _split_list(text: str):
    return [part.strip() for part in text.split(",") if part.strip()]


@cli.command()
@click.option("--collection", "collection_name", default=None, help="Collection (default: the embedded one).")
@click.option("--split", default="train", show_default=True)
@click.option("--variant", default=None, help="Caption variant, e.g. google_enc2zh (default: source captions).")
@click.option("--language", default="en", show_default=True, help="Language of untagged captions.")
@click.option("--min-count", default=5, show_default=True, help="Keep words seen at least this often.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: <collection>/TextData/vocabulary/<split>[_<variant>]).")
@click.pass_context
def vocab(ctx, collection_name, split, variant, language, min_count, out):
    """Build the GRU and stopword-filtered BoW vocabularies from a split's captions."""
    from w2vvx.training.prepare import tokenize_captions_both
    from w2vvx.text.vocabulary import Vocabulary

    collection = _collection(ctx, collection_name)
    captions = collection.captions(split, variant)
    out = Path(out) if out else collection.text_dir / "vocabulary" / (split + (f"_{variant}" if variant else ""))
    tokens, filtered = tokenize_captions_both(captions, language)
    gru = Vocabulary.build(tokens, min_count=min_count)
    bow = Vocabulary.build(filtered, min_count=min_count)
    gru.save(out / f"word_vocab_{min_count}.txt")
    bow.save(out / f"word_vocab_filterstop_{min_count}.txt")
    click.echo(f"{len(captions)} captions -> GRU vocabulary {len(gru)} words, BoW vocabulary {len(bow)} words in {out}")


@cli.command()
@click.argument("config")
@click.option("--collection", "collection_name", default=None, help="Collection (default: the embedded one).")
@click.option("--feature", default=None, help="Feature folder under FeatureData (default: the only one).")
@click.option("--train-variant", default=None, help="Training caption variant (e.g. google_enc2zh).")
@click.option("--val-variant", default=None, help="Validation caption variant (e.g. zh).")
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
@click.option("--word-vectors", type=click.Path(exists=True), default=None,
              help="Pretrained word vectors (word2vec bin/txt, GloVe, BigFile); default: train word2vec.")
@click.option("--trusted", is_flag=True, help="Allow pickle-based gensim model files for --word-vectors.")
@click.option("--seed", default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last complete epoch.")
@click.option("--overwrite", is_flag=True, help="Start again in a run folder that holds a checkpoint.")
@click.option("--precision", type=click.Choice(["float32", "mixed_bfloat16", "mixed_float16"]), default="float32",
              show_default=True, help="Compute precision of the layers (weights stay float32).")
@click.option("--devices", default=None, metavar="all|NAME,NAME",
              help="Train data parallel on these devices (JAX/TensorFlow), e.g. 'all' or 'gpu:0,gpu:1'; "
                   "default one device. See `w2vvx env` for the names.")
@click.pass_context
def train(ctx, config, collection_name, feature, train_variant, val_variant, train_variants, val_variants, language,
          run_dir, size, epochs, overrides, word_vectors, trusted, seed, resume, overwrite, precision, devices):
    """Train a named CONFIG (base_w2vv, w2vv_attention, w2vv_attention_ctl, w2vvpp, w2vv_1tok, ...)."""
    from w2vvx.models.presets import sized_config
    from w2vvx.pipeline import pick_feature
    from w2vvx.training.trainer import Trainer

    collection = _collection(ctx, collection_name)
    fields = _parse_overrides(overrides)
    if epochs is not None:
        fields["max_epochs"] = epochs
    model_config = sized_config(config, size, **fields)
    feature = pick_feature(collection, feature)
    for single, several, name in ((train_variant, train_variants, "train"), (val_variant, val_variants, "val")):
        if single is not None and several is not None:
            raise click.UsageError(f"give either --{name}-variant or --{name}-variants, not both")
    suffix = train_variant or (train_variants.strip(",").replace(",", "+") if train_variants else "")
    if run_dir is not None and not run_dir.strip():
        raise click.UsageError("--run-dir is empty; give a folder or leave the option out for the default")
    run_dir = Path(run_dir) if run_dir else collection.path / "runs" / (config + (f"_{suffix}" if suffix else ""))
    train_captions = (_captions_by_language(collection, "train", train_variants, language) if train_variants is not None
                      else collection.captions("train", train_variant))
    val_captions = (_captions_by_language(collection, "val", val_variants, language) if val_variants is not None
                    else collection.captions("val", val_variant))
    trainer = Trainer(model_config, run_dir, train_captions, collection.features(feature), val_captions,
                      word_vectors=word_vectors, trusted=trusted, default_language=language, seed=seed,
                      verbose=_progress_verbosity(), overwrite=overwrite, precision=precision, devices=devices)
    result = trainer.fit(resume=resume)
    if result.interrupted:
        click.echo(f"interrupted; resume with the same command plus --resume (run folder {run_dir})", err=True)
        sys.exit(143 if result.signal == "SIGTERM" else 130)
    click.echo(f"best {result.monitor} = {result.best_metric} at epoch {result.best_epoch + 1}; "
               f"{result.epochs_done} epochs; model in {run_dir / 'best.keras'}")


def _progress_verbosity() -> int:
    """Keras ``verbose``: a progress bar on a terminal, one line per epoch (no carriage returns) otherwise."""
    return 1 if sys.stdout.isatty() else 2


def _captions_by_language(collection, split: str, variants: str, language: str) -> dict:
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


def _parse_overrides(pairs):
    from w2vvx.errors import ConfigError

    fields = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set expects FIELD=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        fields[key.strip()] = tuple(value) if isinstance(value, list) else value
    return fields


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--collection", "collection_name", default=None, help="Collection (default: the embedded one).")
@click.option("--feature", default=None, help="Feature folder under FeatureData (default: the only one).")
@click.option("--split", default="test", show_default=True)
@click.option("--variant", default=None, help="Query caption variant, e.g. zh (default: source captions).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the table as Markdown.")
@click.pass_context
def evaluate(ctx, run_dir, collection_name, feature, split, variant, out):
    """Evaluate a trained run: t2i and i2t R@1/5/10, MedR, mAP, mIR, SumR."""
    from w2vvx.evaluation.metrics import evaluate_retrieval
    from w2vvx.evaluation.report import ResultsTable
    from w2vvx.pipeline import pick_feature
    from w2vvx.training.trainer import load_run

    collection = _collection(ctx, collection_name)
    features = collection.features(pick_feature(collection, feature))
    run = load_run(run_dir)
    captions = collection.captions(split, variant)
    items = collection.item_ids(split)
    imageset = collection.imageset_path(split)
    _check_features_for_run(run_dir, features, items,
                            source=imageset if imageset.is_file() else collection.caption_path(split, variant))
    text = run.model.encode_text(run.featurizer.featurize_captions(captions))
    visual = run.model.encode_items(features, item_ids=items)
    metrics = evaluate_retrieval(text, [c.item_id for c in captions], visual, items)
    table = ResultsTable()
    table.add(f"{split}{'_' + variant if variant else ''}", metrics)
    click.echo(table.to_markdown())
    if out:
        table.write_markdown(out)


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--collection", "collection_name", default=None, help="Collection (default: the embedded one).")
@click.option("--feature", default=None, help="Feature folder under FeatureData (default: the only one).")
@click.option("--split", default=None, help="Encode only this split's items (default: every item of the feature file).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output BigFile folder.")
@click.option("--batch-size", default=1024, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--shard", default=None, metavar="i/n|auto",
              help="Encode only shard i of n (contiguous rows) beside --out, e.g. one process per GPU; 'auto' = "
                   "torchrun's RANK/WORLD_SIZE. Then join them with --merge-shards n.")
@click.option("--merge-shards", type=click.IntRange(min=1), default=None, metavar="N",
              help="Join the N encoded shards into --out (atomic) instead of encoding.")
@click.pass_context
def encode(ctx, run_dir, collection_name, feature, split, out, batch_size, overwrite, shard, merge_shards):
    """Encode a collection's items into the run's retrieval space, as a BigFile (atomic)."""
    from w2vvx.pipeline import pick_feature
    from w2vvx.search.encode import encode_items
    from w2vvx.training.trainer import load_run

    collection = _collection(ctx, collection_name)
    features = collection.features(pick_feature(collection, feature))
    item_ids = collection.item_ids(split) if split else None
    run = load_run(run_dir)
    _check_features_for_run(run_dir, features, item_ids)
    from w2vvx.search import sharding

    if shard is not None:  # one part beside --out; --merge-shards joins them
        part = sharding.encode_shard(run.model, features, out, sharding.parse_shard(shard), item_ids=item_ids,
                                     batch_size=batch_size, overwrite=overwrite, progress=sys.stdout.isatty())
        return click.echo(f"wrote shard {part}")
    written = (sharding.merge_shards(out, merge_shards, overwrite=overwrite) if merge_shards else
               encode_items(run.model, features, out, item_ids=item_ids, batch_size=batch_size, overwrite=overwrite,
                            progress=sys.stdout.isatty()))
    from w2vvx.training.run_dir import record_encoding

    record_encoding(out, run_dir)  # search --index refuses an index encoded by another run
    click.echo(f"wrote {written}")


@cli.group()
def index():
    """Encode a collection's items once into a searchable index (exact, faiss or usearch)."""


@index.command("build")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="The index folder.")
@click.option("--collection", "collection_name", default=None, help="Collection (default: the embedded one).")
@click.option("--feature", default=None, help="Feature folder under FeatureData (default: the only one).")
@click.option("--split", default=None, help="Index only this split's items (default: every item of the feature file).")
@click.option("--kind", type=click.Choice(["exact", "faiss", "usearch"]), default="exact", show_default=True,
              help="exact: brute force over memory-mapped vectors; faiss/usearch: approximate "
                   "(pip install w2vvx[ann]).")
@click.option("--captions/--no-captions", default=True, show_default=True,
              help="Store the items' captions of the split (or of all splits) to show beside results.")
@click.option("--batch-size", default=1024, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing index.")
@click.option("--shard", default=None, metavar="i/n|auto",
              help="Encode only shard i of n (contiguous rows) beside --out, e.g. one process per GPU; 'auto' = "
                   "torchrun's RANK/WORLD_SIZE. Then join them with --merge-shards n.")
@click.option("--merge-shards", type=click.IntRange(min=1), default=None, metavar="N",
              help="Join the N encoded shards into --out (atomic) instead of encoding.")
@click.pass_context
def index_build(ctx, run_dir, out, collection_name, feature, split, kind, captions, batch_size, overwrite, shard,
                merge_shards):
    """Encode the items with RUN_DIR's model and store them, with the run they came from, in --out."""
    from w2vvx.io.atomic import remove_stale_temporaries
    from w2vvx.pipeline import pick_feature
    from w2vvx.search.index_store import build_index
    from w2vvx.training.run_dir import record_encoding
    from w2vvx.training.trainer import load_run

    collection = _collection(ctx, collection_name)
    feature = pick_feature(collection, feature)
    features = collection.features(feature)
    item_ids = collection.item_ids(split) if split else None
    run = load_run(run_dir)
    _check_features_for_run(run_dir, features, item_ids if item_ids is not None else list(features.names))
    texts = _item_captions(collection, split, item_ids) if captions else None
    info = {"split": split, "collection": collection.name, "feature": feature, "run": Path(run_dir).name}
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


def _item_captions(collection, split: Optional[str], item_ids) -> dict:
    """``{item id: [source caption, ...]}`` of ``split`` (or of train, val and test), when the files exist."""
    texts: dict = {}
    for name in ([split] if split else ["train", "val", "test"]):
        if not collection.caption_path(name).is_file():
            continue
        for caption in collection.captions(name):
            texts.setdefault(caption.item_id, []).append(caption.text)
    if item_ids is not None:
        texts = {item: texts[item] for item in item_ids if item in texts}
    return texts


def _read_queries(query, queries_file) -> list:
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


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("query", nargs=-1)
@click.option("-f", "--file", "queries_file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Read queries from this file, one per line ('-': stdin); stdin is read when no QUERY is given.")
@click.option("--collection", "collection_name", default=None, help="Collection (default: the embedded one).")
@click.option("--feature", default=None, help="Feature folder under FeatureData (default: the only one).")
@click.option("--index", "index_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="An index (w2vvx index build) or a BigFile of encoded items (w2vvx encode); default: encode "
                   "the collection's items now.")
@click.option("--split", default=None, help="Search only this split's items (with --index: the index must hold them).")
@click.option("--language", default=None, help="Query language, e.g. zh (default: the run's language).")
@click.option("-k", "--top-k", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per query instead of a table.")
@click.pass_context
def search(ctx, run_dir, query, queries_file, collection_name, feature, index_dir, split, language, top_k, as_json):
    """Search items with QUERY sentences (any language the run was trained on): rank, id, cosine score, captions.

    The words of QUERY form one sentence; more sentences come from --file or stdin, one per line.
    """
    import numpy as np

    from w2vvx.pipeline import pick_feature
    from w2vvx.search.index_store import StoredIndex, is_stored_index
    from w2vvx.training.trainer import load_run

    queries = _read_queries(query, queries_file)
    run = load_run(run_dir)
    featurizer = run.featurizer
    inputs = featurizer.for_language(language or featurizer.default_language).batch(queries)
    query_emb = run.model.encode_text(inputs)
    if index_dir:
        from w2vvx.training.run_dir import check_encoding

        check_encoding(index_dir, run_dir)
        if is_stored_index(index_dir):
            stored = StoredIndex.load(index_dir)
            restrict = None
            if split is not None and split != stored.split:
                if stored.split is not None:
                    raise click.UsageError(f"the index {index_dir} holds the {stored.split!r} items, not the "
                                           f"{split!r} ones; build an index of that split (w2vvx index build "
                                           f"--split {split}) or leave --split out")
                restrict = _collection(ctx, collection_name).item_ids(split)
            ids, scores = stored.search(query_emb, k=top_k, restrict_to=restrict)
            captions_of = stored.captions_of
        else:  # a BigFile written by `w2vvx encode`
            from w2vvx.io.bigfile import BigFile
            from w2vvx.search.brute_force import BruteForceIndex

            gallery = BigFile(index_dir)
            if split is not None:
                ids_wanted = _collection(ctx, collection_name).item_ids(split)
                missing = [item for item in ids_wanted if item not in gallery]
                if missing:
                    raise click.UsageError(f"{len(missing)} items of split {split!r} are not in {index_dir} (e.g. "
                                           f"{missing[:3]}); encode that split (w2vvx encode --split {split})")
                if len(ids_wanted) != len(gallery):
                    names, vectors = gallery.read(ids_wanted)
                    gallery = BruteForceIndex(np.asarray(vectors, np.float32), ids=names)
            if not isinstance(gallery, BruteForceIndex):
                gallery = BruteForceIndex(gallery.matrix, ids=gallery.names)
            ids, scores = gallery.search(query_emb, k=top_k, normalize_queries=True)

            def captions_of(item):
                return []
    else:
        collection = _collection(ctx, collection_name)
        feature = pick_feature(collection, feature)
        features = collection.features(feature)
        item_ids = collection.item_ids(split) if split else list(features.names)
        _check_features_for_run(run_dir, features, item_ids)
        texts = _item_captions(collection, split, item_ids)
        from w2vvx.search.brute_force import BruteForceIndex

        gallery = BruteForceIndex(run.model.encode_items(features, item_ids=item_ids), ids=item_ids)
        ids, scores = gallery.search(query_emb, k=top_k, normalize_queries=True)

        def captions_of(item):
            return list(texts.get(item, []))
    for sentence, row_ids, row_scores in zip(queries, ids, scores):
        hits = [(str(item), float(score)) for item, score in zip(row_ids, row_scores) if item is not None]
        if as_json:
            click.echo(json.dumps({"query": sentence, "results": [
                {"rank": rank, "id": item, "score": score, "captions": captions_of(item)}
                for rank, (item, score) in enumerate(hits, 1)]}, ensure_ascii=False))
            continue
        click.echo(f"query: {sentence}")
        for rank, (item, score) in enumerate(hits, 1):
            texts = captions_of(item)
            shown = f"  {texts[0]}" + (f" (+{len(texts) - 1} more)" if len(texts) > 1 else "") if texts else ""
            click.echo(f"{rank:>3}  {item}  {score:7.4f}{shown}")


def _check_features_for_run(run_dir, features, item_ids, source=None) -> None:
    """Items without a feature row are refused blaming ``source`` (the split file they came from); NaN/Inf rows
    of the items used are refused naming file and id; another feature type is warned about."""
    from w2vvx.training.run_dir import check_features_for_run

    check_features_for_run(run_dir, features)
    if item_ids is not None:
        features.require(item_ids, source=source)
    features.check_finite(item_ids)


@cli.command("do-all")
@click.argument("config", default="w2vv_attention_ctl")
@click.option("--collection", "collection_name", default=None, help="Collection (default: the embedded one).")
@click.option("--feature", default=None, help="Feature folder under FeatureData (default: the only one).")
@click.option("--target", "targets", multiple=True, default=("zh",), show_default=True,
              help="Target language (repeat for several, e.g. --target zh --target de).")
@click.option("--size", type=click.Choice(["tiny", "small", "lineage"]), default="small", show_default=True,
              help="small: CPU-sized model (minutes on 2 cores); lineage: the published sizes (GPU).")
@click.option("--scale", type=click.Choice(["tiny", "default", "large"]), default="default", show_default=True,
              help="Size of the generated default collection.")
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE", help="Override a config field.")
@click.option("--run-root", type=click.Path(file_okay=False), default=None, help="Pipeline folder.")
@click.option("--seed", default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No Keras progress output.")
@click.pass_context
def do_all(ctx, config, collection_name, feature, targets, size, scale, overrides, run_root, seed, quiet):
    """The lineage's pipeline: source model, target model (CM), CL, CLM fusion; prints the results table."""
    import time

    from w2vvx.pipeline import DoAllSettings, run_do_all

    started = time.perf_counter()
    settings = DoAllSettings(config=config, collection=collection_name, rootpath=ctx.obj.get("rootpath"),
                             feature=feature, target_languages=tuple(targets), size=size,
                             overrides=_parse_overrides(overrides), run_root=run_root, seed=seed,
                             generate_scale=scale, verbose=0 if quiet else 2)
    result = run_do_all(settings)
    click.echo("")
    click.echo(result.markdown_path.read_text(encoding="utf-8"))
    click.echo(f"written: {result.markdown_path}, {result.csv_path}; plots: "
               f"{', '.join(str(p) for p in sorted(result.run_root.glob('*/training.png')))}")
    click.echo(f"wall time: {time.perf_counter() - started:.0f} s")


from w2vvx.console import run_command_group  # noqa: E402  (shared with the recipes' entry point)


def _requested_backend(argv) -> Optional[str]:
    """The value of ``--backend`` among the options before the command (``None`` when not given)."""
    for position, arg in enumerate(argv):
        if arg == "--backend" and position + 1 < len(argv):
            return argv[position + 1]
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
        if not arg.startswith("-"):
            return None  # the command name: later options are the command's
    return None


def main(argv=None):
    """Entry point of the ``w2vvx`` console script.

    ``import w2vvx`` imports Keras (it registers the model classes), so a ``--backend`` other than the
    one Keras started with restarts the command once in a fresh interpreter with ``KERAS_BACKEND`` set.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    backend = _requested_backend(args)
    if backend in BACKENDS and os.environ.get("_W2VVX_BACKEND_RESTART") != backend:
        import keras

        if keras.backend.backend() != backend:
            if argv is not None:  # called from Python: never replace the caller's process
                click.echo(f"error: --backend {backend}: Keras already runs on {keras.backend.backend()} in this "
                           f"process; set KERAS_BACKEND={backend} before importing w2vvx", err=True)
                sys.exit(2)
            env = dict(os.environ, KERAS_BACKEND=backend, _W2VVX_BACKEND_RESTART=backend)
            sys.stdout.flush()
            sys.stderr.flush()
            os.execve(sys.executable, [sys.executable, "-m", "w2vvx.cli", *args], env)
    run_command_group(cli, args, prog_name="w2vvx")

