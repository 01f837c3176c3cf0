"""``w2vvx collection build``: a collection from one's own images (or features) and captions."""
from __future__ import annotations

import sys
from pathlib import Path

import click


def _size(value: str) -> float:
    number = float(value)
    return int(number) if number >= 1 else number


@click.group("collection")
def command():
    """Make a collection from your own files (see docs/own_data.md)."""


@command.command("build")
@click.argument("name")
@click.option("--captions", "captions_file", type=click.Path(exists=True, dir_okay=False), required=True,
              help="Captions: CSV/TSV (image,caption[,lang][,split]), JSON lines, COCO-style JSON, or a lineage "
                   "<name>.caption.txt.")
@click.option("--images", type=click.Path(exists=True, file_okay=False), default=None,
              help="The image folder (ids = file names without extension).")
@click.option("--features", type=click.Path(exists=True, file_okay=False), default=None,
              help="A feature BigFile of the images (w2vvx extract-features); without it the features are "
                   "extracted from --images now.")
@click.option("--feature-name", default=None, help="FeatureData folder name (default: the --features folder's "
                                                   "name, else --model).")
@click.option("--model", default="resnet152", show_default=True, help="Extractor when no --features are given.")
@click.option("--weights", default="imagenet", show_default=True, metavar="imagenet|none|FILE",
              help="Extractor weights when no --features are given.")
@click.option("--image-size", type=click.IntRange(min=32), default=None, help="Extractor input size.")
@click.option("--language", default="en", show_default=True,
              help="Language of captions that name none; the source language of the collection.")
@click.option("--val", default="0.1", show_default=True, metavar="FRACTION|COUNT",
              help="Validation items when the captions name no split (fraction < 1 or a count).")
@click.option("--test", default="0.1", show_default=True, metavar="FRACTION|COUNT", help="Test items, likewise.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random split.")
@click.option("--overwrite", is_flag=True, help="Replace an existing collection.")
@click.pass_context
def build(ctx, name, captions_file, images, features, feature_name, model, weights, image_size, language, val, test,
          seed, overwrite):
    """Write collection NAME under the rootpath: ImageSets, TextData captions per language, FeatureData.

    Item ids are image file names without folders and extension: 'photos/dog_01.jpg', 'dog_01.jpg' and
    'dog_01' in the captions all name the item dog_01.
    """
    import json

    from w2vvx.config import ensure_writable_rootpath, load_settings
    from w2vvx.datasets.own_data import build_collection
    from w2vvx.errors import ConfigError

    try:
        val_size, test_size = _size(val), _size(test)
    except ValueError:
        raise ConfigError(f"--val/--test take a fraction (0.1) or a count (3), got {val!r}/{test!r}") from None
    root = Path(load_settings(rootpath=(ctx.obj or {}).get("rootpath")).rootpath)
    root.mkdir(parents=True, exist_ok=True)  # a new root for one's own data
    root = ensure_writable_rootpath(root)
    folder = build_collection(root, name, captions_file, images=images, features=features,
                              feature_name=feature_name, model=model, weights=weights, image_size=image_size,
                              language=language, val=val_size, test=test_size, seed=seed, overwrite=overwrite,
                              progress=sys.stdout.isatty())
    info = json.loads((folder / "collection.json").read_text(encoding="utf-8"))
    splits = ", ".join(f"{split} {count}" for split, count in info["splits"].items())
    click.echo(f"wrote {folder}: {info['captions']} captions ({', '.join(info['languages'])}) of "
               f"{info['captioned_items']} items ({splits}); {info['items']} items in FeatureData/{info['features']}")
