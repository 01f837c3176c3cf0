"""``w2vvx recipe ...``: prepare and run the dataset recipes (a click group mounted by ``w2vvx.cli``).

Every dataset has ``prepare`` (check the authors' files, write the VisualSearch layout; ``--dry-run``
only checks and prints the plan) and ``run`` (the paper's protocol; ``--small-scale`` for a CPU smoke
run). ``pivot`` runs the real-text pivot benchmark on the shared data. Run it standalone with
``python -m recipes.cli``. Depends on ``w2vvx`` only (relative imports inside this package).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from w2vvx.cli.common import word_vectors_option


_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)


def _rootpath(ctx, rootpath: Optional[Path], create: bool = False) -> Path:
    from w2vvx.config import load_settings

    if rootpath is None:
        parent = (ctx.obj or {}).get("rootpath") if ctx.obj is not None else None
        rootpath = load_settings(rootpath=parent).rootpath
    rootpath = Path(rootpath)
    if create:
        rootpath.mkdir(parents=True, exist_ok=True)
    return rootpath


def _run_dir(run_dir: Optional[Path], rootpath: Path, name: str) -> Path:
    return run_dir if run_dir is not None else rootpath / "recipe_runs" / name


def _common_prepare(function):
    function = click.option("--force", is_flag=True, help="Redo every step, even those already done.")(function)
    function = click.option("--dry-run", is_flag=True,
                            help="Only check every input and print the plan; write nothing.")(function)
    return click.option("--rootpath", type=_DIR, default=None,
                         help="VisualSearch root to write into (default: w2vvx's rootpath).")(function)


def _common_run(function):
    options = [
        click.option("--rootpath", type=_DIR, default=None, help="VisualSearch root holding the prepared data."),
        click.option("--run-dir", type=_DIR, default=None,
                     help="Where models and results go (default <rootpath>/recipe_runs/<dataset>)."),
        click.option("--small-scale", is_flag=True, help="CPU smoke run: tiny model, 2 epochs."),
        click.option("--max-items", type=click.IntRange(min=2), default=None,
                     help="Use only the first N items of each split."),
        click.option("--word-vectors", multiple=True, metavar="PATH|LANG=PATH", callback=word_vectors_option,
                     help="Pretrained word vectors (BigFile, word2vec text/binary); repeat as LANG=PATH for aligned "
                          "per-language files (MUSE-style), e.g. --word-vectors en=wiki.en.align.vec "
                          "--word-vectors zh=wiki.zh.align.vec."),
        click.option("--train-word-vectors", is_flag=True,
                     help="Train word2vec on the training captions when no --word-vectors are given (recipes whose "
                          "method used pretrained vectors refuse to do so otherwise)."),
        click.option("--trusted", is_flag=True, help="Allow pickle-based gensim word-vector files."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--max-epochs", type=click.IntRange(min=1), default=None,
                     help="Override the number of training epochs."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group("recipes", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
def recipes():
    """Reproduce COCO-CN, VATEX, MSR-VTT-CN and Multi30K from their original distributions."""


# ---- VATEX and MSR-VTT-CN --------------------------------------------------------------------------
def _video_group(module, command_name: str, dataset: str):
    @recipes.group(command_name, help=module.__doc__.splitlines()[0])
    def group():
        pass

    @group.command("prepare")
    @click.option("--source-dir", type=_DIR, required=True,
                  help=f"Folder holding the release's {module.NAME}/ (TextData/, FeatureData/).")
    @_common_prepare
    @click.pass_context
    def prepare(ctx, source_dir, rootpath, dry_run, force):
        """Check the release and put it under rootpath."""
        click.echo(module.prepare(source_dir, _rootpath(ctx, rootpath, create=not dry_run), dry_run=dry_run,
                                  force=force))

    @group.command("run")
    @_common_run
    @click.pass_context
    def run(ctx, rootpath, run_dir, small_scale, max_items, word_vectors, train_word_vectors, trusted, seed,
            max_epochs):
        """Train NRCCR and test with its protocol."""
        root = _rootpath(ctx, rootpath)
        module.run(root, _run_dir(run_dir, root, dataset), small_scale=small_scale, max_items=max_items,
                   word_vectors=word_vectors, trusted=trusted, seed=seed, max_epochs=max_epochs)

    return group


def _mount_video():
    from . import msrvtt_cn, vatex

    _video_group(vatex, "vatex", "vatex")
    _video_group(msrvtt_cn, "msrvtt-cn", "msrvtt-cn")


_mount_video()


# ---- Multi30K ----------------------------------------------------------------------------------------
@recipes.group("multi30k")
def multi30k_group():
    """Multi30K en -> de/fr/cs (Task 1) and en -> de (Task 2), NRCCR protocol."""


_TASK = click.option("--task", type=click.Choice(["1", "2"]), default="1", show_default=True)
_LANG = click.option("--lang", type=click.Choice(["de", "fr", "cs"]), default="de", show_default=True)


@multi30k_group.command("prepare")
@click.option("--nrccr-dir", type=_DIR, default=None,
              help="NRCCR's Multi30K release: the folder holding multi30k/ (TextData/, FeatureData/).")
@click.option("--source-dir", type=_DIR, default=None,
              help="Or the raw multi30k/dataset 'data' folder (task1/, task2/ with raw/ and image_splits/).")
@_TASK
@_LANG
@click.option("--features-dir", type=_DIR, default=None,
              help="With --source-dir: a FeatureData folder of NRCCR's layout (id lists + resnet_152/*.npy).")
@click.option("--features-bigfile", type=_DIR, default=None, help="A BigFile keyed by Flickr30K image id (CLIP...).")
@_common_prepare
@click.pass_context
def multi30k_prepare(ctx, nrccr_dir, source_dir, task, lang, features_dir, features_bigfile, rootpath, dry_run,
                     force):
    """Check the release and convert it into the multi30k collection."""
    from . import multi30k

    click.echo(multi30k.prepare(source_dir, _rootpath(ctx, rootpath, create=not dry_run), task=int(task), lang=lang,
                                features_dir=features_dir, features_bigfile=features_bigfile, nrccr_dir=nrccr_dir,
                                dry_run=dry_run, force=force))


@multi30k_group.command("run")
@_TASK
@_LANG
@click.option("--feature", default="resnet_152", show_default=True,
              help="Prepared feature folder (the BigFile's folder name when --features-bigfile was used).")
@_common_run
@click.pass_context
def multi30k_run(ctx, task, lang, feature, rootpath, run_dir, small_scale, max_items, word_vectors,
                 train_word_vectors, trusted, seed, max_epochs):
    """Train NRCCR and test with its protocol."""
    from . import multi30k

    root = _rootpath(ctx, rootpath)
    multi30k.run(root, _run_dir(run_dir, root, f"multi30k-task{task}-{lang}"), task=int(task), lang=lang,
                 feature=feature, small_scale=small_scale, max_items=max_items, word_vectors=word_vectors,
                 trusted=trusted, seed=seed, max_epochs=max_epochs)


# ---- COCO-CN ---------------------------------------------------------------------------------------
@recipes.group("coco-cn")
def coco_cn_group():
    """COCO-CN cross-lingual image retrieval: CL, CM and CLM (mIR)."""


@coco_cn_group.command("prepare")
@click.option("--retrieval-data", type=click.Path(path_type=Path), default=None,
              help="coco-cn_retrieval_data.tar.gz (or the folder it extracts to), from the coco-cn image-retrieval "
                   "README; replaces the options below except --features-bigfile.")
@click.option("--release-dir", type=_DIR, default=None, help="The COCO-CN release folder.")
@click.option("--test-json", type=_FILE, default=None,
              help="COCO-caption-style JSON with the test sentences (e.g. merged_captions_coco-cn_test.json).")
@click.option("--mt-file", type=_FILE, default=None, help="Baidu MT sentences (TSV '<image>#<n>\\t<sentence>').")
@click.option("--coco-captions-dir", type=_DIR, default=None,
              help="Folder with MS-COCO captions_train2014.json and captions_val2014.json.")
@click.option("--features-bigfile", type=_DIR, default=None, help="Image features as a BigFile keyed by COCO id.")
@click.option("--features-npy", type=_FILE, default=None, help="Image features as .npy (with --features-ids).")
@click.option("--features-ids", type=_FILE, default=None, help="Row ids of --features-npy, one per line.")
@_common_prepare
@click.pass_context
def coco_cn_prepare(ctx, retrieval_data, release_dir, test_json, mt_file, coco_captions_dir, features_bigfile,
                    features_npy, features_ids, rootpath, dry_run, force):
    """Check the inputs and write the mscoco2014dev* and cococn* collections."""
    from . import coco_cn

    click.echo(coco_cn.prepare(_rootpath(ctx, rootpath, create=not dry_run), dry_run=dry_run, force=force,
                               retrieval_data=retrieval_data, release_dir=release_dir, test_json=test_json, mt_file=mt_file,
                               coco_captions_dir=coco_captions_dir, features_bigfile=features_bigfile,
                               features_npy=features_npy, features_ids=features_ids))


@coco_cn_group.command("run")
@click.option("--feature", default="pyresnext-101_rbps13k,flatten0_output,os", show_default=True,
              help="Prepared feature folder under mscoco2014dev/FeatureData (the coco-cn retrieval data's by default).")
@click.option("--config", type=click.Choice(["base_w2vv", "w2vv_attention_ctl"]), default="w2vv_attention_ctl",
              show_default=True)
@click.option("--zh-word-vectors", type=click.Path(path_type=Path), default=None,
              help="Chinese word vectors (e.g. zh_jieba.model, needs --trusted).")
@click.option("--all-queries", is_flag=True, help="Use every test sentence as a query (default: first per image).")
@_common_run
@click.pass_context
def coco_cn_run(ctx, feature, config, zh_word_vectors, all_queries, rootpath, run_dir, small_scale, max_items,
                word_vectors, train_word_vectors, trusted, seed, max_epochs):
    """Train the English and Chinese models, report CL / CM / CLM on cococntest."""
    from . import coco_cn

    root = _rootpath(ctx, rootpath)
    coco_cn.run(root, _run_dir(run_dir, root, f"coco-cn-{config}"), feature=feature, config=config,
                small_scale=small_scale, max_items=max_items, en_word_vectors=word_vectors,
                zh_word_vectors=zh_word_vectors, trusted=trusted, all_queries=all_queries, seed=seed,
                max_epochs=max_epochs, train_word_vectors=train_word_vectors)


# ---- pivot ------------------------------------------------------------------------------------------
@recipes.command("pivot")
@click.option("--shared-data", type=_DIR, default=Path("../shared/data"), show_default=True,
              envvar="W2VVX_SHARED_DATA", show_envvar=True,
              help="The shared data folder (pivot/ and the caption files; see docs/recipes.md for its sources).")
@click.option("--out", "out_dir", type=_DIR, default=Path("runs/pivot"), show_default=True)
@click.option("--dataset", "datasets", multiple=True, type=click.Choice(["flickr8k-cn", "multi30k", "vatex"]),
              help="Datasets to run (default: all three).")
@click.option("--config", default="w2vvpp", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the number of epochs.")
@click.option("--gru-units", type=click.IntRange(min=1), default=None, help="Override the GRU size.")
@click.option("--small-scale", is_flag=True)
@click.option("--max-items", type=click.IntRange(min=2), default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--method", default="baseline", show_default=True,
              help="baseline (the config trained on MT text), nrccr, or baseline,nrccr for both.")
@click.option("--stand-in", type=click.Choice(["pivot", "held-out-captions"]), default="pivot", show_default=True,
              help="Visual stand-in: the shared pivot, or MiniLM vectors of held-out English captions only "
                   "(flickr8k-cn, vatex; pip install 'w2vvx[bench]'), so no training caption built its item's vector.")
def pivot(shared_data, out_dir, datasets, config, epochs, gru_units, small_scale, max_items, seed, method,
          stand_in):
    """Real-text pivot benchmark on CPU: MT-trained target-language encoders, human-written queries."""
    from .pivot import DATASETS, run_pivot

    overrides = {}
    if epochs is not None:
        overrides["max_epochs"] = epochs
    if gru_units is not None:
        overrides["gru_units"] = gru_units
    run_pivot(shared_data, out_dir, datasets=datasets or DATASETS, config=config, small_scale=small_scale,
              max_items=max_items, seed=seed, overrides=overrides, method=method, stand_in=stand_in)


# ---- Noisy labels (MRL / ELRCMR main_noisy.py flags) -------------------------------------------------
@recipes.group("noisy")
def noisy_group():
    """Cross-modal retrieval with noisy labels: MRL and ELRCMR on Wikipedia, XMediaNet, INRIA-Websearch."""


@noisy_group.command("run")
@click.option("--data-name", required=True, help="wiki, xmedianet or inria (main_noisy.py --data_name).")
@click.option("--data-dir", type=click.Path(path_type=Path), required=True,
              help="The features file, or a folder holding it (MRL's names; wiki: also the raw_features.mat folder).")
@click.option("--loss", type=click.Choice(["MCE", "CE"], case_sensitive=False), default="MCE", show_default=True)
@click.option("--lr", type=float, default=1e-4, show_default=True)
@click.option("--max-epochs", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--train-batch-size", type=click.IntRange(min=2), default=100, show_default=True)
@click.option("--beta", type=float, default=0.7, show_default=True, help="Label-loss weight (ELRCMR: at step 0).")
@click.option("--noisy-ratio", type=float, default=0.6, show_default=True)
@click.option("--lama", type=float, default=None, help="ELR weight lambda; given: ELRCMR (MCE) or ELR (CE).")
@click.option("--zeta", type=float, default=0.0, show_default=True, help="ELRCMR: floor of the scheduled weights.")
@click.option("--alpha", type=float, default=1.0, show_default=True, help="ELRCMR: contrastive-term multiplier.")
@click.option("--setp", type=float, default=None, help="ELRCMR: steps over which lambda falls (none: constant).")
@click.option("--betasetp", type=float, default=None, help="ELRCMR: steps over which beta falls (none: constant).")
@click.option("--hidden", default="4096,4096", show_default=True, help="Hidden sizes of each tower (MRL's).")
@click.option("--output-dim", type=click.IntRange(min=2), default=512, show_default=True)
@click.option("--valid-len", type=click.IntRange(min=1), default=None,
              help="HDF5 files without valid_ sets: first N test pairs validate (wiki 231, xmedianet 4000).")
@click.option("--run-dir", type=_DIR, required=True, help="Where results.json and results.md go.")
@click.option("--seed", type=int, default=0, show_default=True)
def noisy_run(data_name, data_dir, loss, lr, max_epochs, train_batch_size, beta, noisy_ratio, lama, zeta, alpha, setp,
              betasetp, hidden, output_dim, valid_len, run_dir, seed):
    """Train and test with main_noisy.py's flags (MRL; ELRCMR when --lama is given with --loss MCE)."""
    from . import noisy

    hidden_units = tuple(int(part) for part in hidden.split(",") if part.strip())
    results = noisy.run(data_name, data_dir, run_dir, loss=loss, lr=lr, max_epochs=max_epochs,
                        train_batch_size=train_batch_size, beta=beta, noisy_ratio=noisy_ratio, lama=lama, zeta=zeta,
                        alpha=alpha, setp=setp, betasetp=betasetp, hidden=hidden_units, output_dim=output_dim,
                        valid_len=valid_len, seed=seed)
    click.echo(noisy.markdown(results))


#: The object the ``w2vvx.cli_plugins`` entry point ``recipe`` names (``w2vvx recipe ...``).
recipe = recipes


def main(argv=None):
    """Standalone entry point (``python -m recipes.cli``); library errors print one line and exit 2."""
    from w2vvx.console import run_command_group

    run_command_group(recipes, argv, prog_name="recipes")


if __name__ == "__main__":
    main()
