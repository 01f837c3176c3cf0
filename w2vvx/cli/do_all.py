"""``w2vvx do-all``: the lineage's pipeline (source, target, CL, CLM fusion) and its results table."""
from __future__ import annotations

import click

from w2vvx.cli.common import COLLECTION_HELP, FEATURE_HELP, parse_overrides, settings_of


@click.command("do-all")
@click.argument("config", default="w2vv_attention_ctl")
@click.option("--collection", "collection_name", default=None, help=COLLECTION_HELP)
@click.option("--feature", default=None, help=FEATURE_HELP)
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
def command(ctx, config, collection_name, feature, targets, size, scale, overrides, run_root, seed, quiet):
    """The lineage's pipeline: source model, target model (CM), CL, CLM fusion; prints the results table."""
    import time

    from w2vvx.pipeline import DoAllSettings, run_do_all
    from w2vvx.training.signals import TrainingStopped

    started = time.perf_counter()
    settings = settings_of(ctx)
    default_name = settings.get("default_collection", "w2vvx_synth")
    name = collection_name or default_name
    check_targets(settings.rootpath, name, targets, generated=collection_name in (None, default_name))
    do_all = DoAllSettings(config=config, collection=collection_name, rootpath=(ctx.obj or {}).get("rootpath"),
                           feature=feature, target_languages=tuple(targets), size=size,
                           overrides=parse_overrides(overrides), run_root=run_root, seed=seed,
                           generate_scale=scale, verbose=0 if quiet else 2)
    try:
        result = run_do_all(do_all)
    except TrainingStopped:
        click.echo("do-all stopped after the last complete epoch, before training the next model; run the same "
                   "command again to resume", err=True)
        raise
    click.echo("")
    click.echo(result.markdown_path.read_text(encoding="utf-8"))
    click.echo(f"written: {result.markdown_path}, {result.csv_path}; plots: "
               f"{', '.join(str(p) for p in sorted(result.run_root.glob('*/training.png')))}")
    click.echo(f"wall time: {time.perf_counter() - started:.0f} s")


def check_targets(rootpath, name: str, targets, generated: bool) -> None:
    """Refuse, before anything is trained, a target language without the captions the pipeline needs.

    An existing collection needs ``train_google_enc2<lang>`` (or ``train_<lang>``) and ``val``/``test`` captions in
    ``<lang>``; a collection the pipeline will generate supports the generator's languages.
    """
    from w2vvx.errors import ConfigError
    from w2vvx.io.collection import Collection

    if not targets:
        raise ConfigError("give at least one --target language (e.g. --target zh)")
    collection = Collection(rootpath, name)
    if not collection.path.is_dir():
        if generated:
            from w2vvx.datasets.synthetic import SUPPORTED_LANGUAGES

            unknown = [target for target in targets if target not in SUPPORTED_LANGUAGES]
            if unknown:
                raise ConfigError(f"--target {', '.join(unknown)}: the embedded collection has captions in "
                                  f"{', '.join(SUPPORTED_LANGUAGES)} only; use --target "
                                  f"{' --target '.join(SUPPORTED_LANGUAGES)}")
        return
    for target in targets:
        needed = {"train": (f"google_enc2{target}", target), "val": (target,), "test": (target,)}
        for split, variants in needed.items():
            if not any(collection.caption_path(split, variant).is_file() for variant in variants):
                present = sorted({path.name[len(name) + len(split):].split(".caption")[0].lstrip("_")
                                  for path in collection.text_dir.glob(f"{name}{split}_*.caption.txt")})
                raise ConfigError(f"--target {target}: collection {name!r} has no {split} captions in {target!r} "
                                  f"(looked for {', '.join(str(collection.caption_path(split, v)) for v in variants)});"
                                  f" its {split} caption variants are {present or 'none'}. Choose a --target among "
                                  "them, or add the captions")
