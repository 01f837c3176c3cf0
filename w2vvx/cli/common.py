"""What several ``w2vvx`` commands share: settings, the collection, option parsing, checks of inputs.

Nothing here imports Keras or a backend; the commands import what they need when they run.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import click

#: Help text of the ``--collection`` option of every command.
COLLECTION_HELP = "Collection (default: the embedded one)."
#: Help text of the ``--feature`` option of every command.
FEATURE_HELP = "Feature folder under FeatureData (default: the only one)."


def settings_of(ctx):
    """The resolved settings (``common.ini``, ``$W2VVX_ROOTPATH``, ``--rootpath``)."""
    from w2vvx.config import load_settings

    return load_settings(rootpath=(ctx.find_root().obj or {}).get("rootpath"))


def rootpath_of(ctx) -> Path:
    return Path(settings_of(ctx).rootpath)


def collection_of(ctx, name: Optional[str], must_exist: bool = True):
    """The collection ``name`` (default: ``default_collection`` of ``common.ini``) under the rootpath.

    Raises:
        MissingFileError: ``must_exist`` and there is no such folder; the message lists the collections
            that are there and how to make one.
    """
    from w2vvx.io.collection import Collection

    settings = settings_of(ctx)
    collection = Collection(settings.rootpath, name or settings.get("default_collection", "w2vvx_synth"))
    if must_exist and not collection.path.is_dir():
        from w2vvx.errors import MissingFileError

        root = Path(settings.rootpath)
        present = sorted(path.name for path in root.iterdir() if (path / "TextData").is_dir()) \
            if root.is_dir() else []
        listed = f"collections there: {', '.join(present)}" if present else "no collection is there"
        raise MissingFileError(f"no collection {collection.name!r} under the rootpath ({settings.rootpath_source}); "
                               f"{listed}. Give --collection NAME, another --rootpath, or create the embedded one "
                               "with `w2vvx generate`", path=collection.path)
    return collection


def split_list(text: str):
    """``"zh, de,"`` -> ``["zh", "de"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_overrides(pairs) -> dict:
    """``--set FIELD=VALUE`` pairs -> ``{field: value}`` (values parsed as JSON when they are JSON)."""
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


def progress_verbosity() -> int:
    """Keras ``verbose``: a progress bar on a terminal, one line per epoch (no carriage returns) otherwise."""
    return 1 if sys.stdout.isatty() else 2


def check_features_for_run(run_dir, features, item_ids, source=None) -> None:
    """Items without a feature row are refused blaming ``source`` (the split file they came from); NaN/Inf rows
    of the items used are refused naming file and id; another feature type is warned about."""
    from w2vvx.training.run_dir import check_features_for_run as check_run_features

    check_run_features(run_dir, features)
    if item_ids is not None:
        features.require(item_ids, source=source)
    features.check_finite(item_ids)


def item_captions(collection, split: Optional[str], item_ids) -> dict:
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


def source_language(collection, split: str, default: str = "en") -> str:
    """The language of a split's source captions (their tag's language; untagged captions are ``default``)."""
    from w2vvx.errors import W2VVXError
    from w2vvx.text.tokenizers import language_of_tag

    path = collection.caption_path(split)
    if not path.is_file():
        return default
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = handle.readline().split(" ", 1)[0]
    parts = first.split("#")
    if len(parts) < 3:
        return default
    try:
        return language_of_tag("#".join(parts[1:-1]))
    except W2VVXError:
        return default


def variant_in_language(collection, split: str, language: str, also=()) -> Optional[str]:
    """The caption variant of ``split`` in ``language``: ``<language>`` itself (human captions, e.g. ``zh``), else
    the first of ``also`` (e.g. the training variant ``google_enc2zh``) whose file exists; ``None`` if none."""
    for variant in (language, *also):
        if variant and collection.caption_path(split, variant).is_file():
            return variant
    return None


__all__ = ["COLLECTION_HELP", "FEATURE_HELP", "settings_of", "rootpath_of", "collection_of", "split_list",
           "parse_overrides", "progress_verbosity", "check_features_for_run", "item_captions", "source_language",
           "variant_in_language"]


def shard_options(command):
    """``--shard i/n|auto`` and ``--merge-shards N`` of ``encode`` and ``index build`` (w2vvx.search.sharding)."""
    command = click.option("--merge-shards", type=click.IntRange(min=1), default=None, metavar="N",
                           help="Join the N encoded shards into --out (atomic) instead of encoding.")(command)
    return click.option("--shard", default=None, metavar="i/n|auto",
                        help="Encode only shard i of n (contiguous rows) beside --out, e.g. one process per GPU; "
                             "'auto' = torchrun's RANK/WORLD_SIZE. Then join them with --merge-shards n.")(command)


def word_vectors_option(ctx, param, values):
    """Click callback of ``--word-vectors`` (see :func:`parse_word_vectors`)."""
    return parse_word_vectors(values)


def parse_word_vectors(values):
    """``--word-vectors`` values: ``()`` -> None, ``("PATH",)`` -> the path, ``("en=P", "zh=Q")`` -> a dict.

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp(); path = os.path.join(folder, "en.vec"); _ = open(path, "w").write("")
        >>> parse_word_vectors(()), parse_word_vectors((path,)) == path, list(parse_word_vectors((f"en={path}",)))
        (None, True, ['en'])
    """
    from w2vvx.text.languages import LANGUAGES

    if not values:
        return None
    by_language = {}
    for value in values:
        language, sep, path = value.partition("=")
        if not sep and len(values) == 1 and Path(value).exists():
            return value
        if not sep or language not in LANGUAGES:
            if not sep and not Path(value).exists():
                raise click.BadParameter(f"{value!r} does not exist", param_hint="--word-vectors")
            raise click.BadParameter(f"{value!r}: several word-vector files are given as LANG=PATH with LANG one of "
                                     f"{list(LANGUAGES)}", param_hint="--word-vectors")
        if language in by_language:
            raise click.BadParameter(f"language {language!r} is given twice", param_hint="--word-vectors")
        if not Path(path).exists():
            raise click.BadParameter(f"{path!r} (for {language}) does not exist", param_hint="--word-vectors")
        by_language[language] = path
    return by_language
