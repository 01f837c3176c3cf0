"""``w2vvx vocab``: the GRU and stopword-filtered BoW vocabularies of a split's captions."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from w2vvx.cli.common import COLLECTION_HELP, collection_of


@click.command("vocab")
@click.option("--collection", "collection_name", default=None, help=COLLECTION_HELP)
@click.option("--split", default="train", show_default=True)
@click.option("--variant", default=None, help="Caption variant, e.g. google_enc2zh (default: source captions).")
@click.option("--language", default="en", show_default=True, help="Language of untagged captions.")
@click.option("--min-count", default=5, show_default=True, type=click.IntRange(min=1),
              help="Keep words seen at least this often.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: <collection>/TextData/vocabulary/<split>[_<variant>]).")
@click.pass_context
def command(ctx, collection_name, split, variant, language, min_count, out):
    """Build the GRU and stopword-filtered BoW vocabularies from a split's captions."""
    from w2vvx.text.vocabulary import Vocabulary
    from w2vvx.text.tokenizers import tokenize_captions

    collection = collection_of(ctx, collection_name)
    captions = collection.captions(split, variant)
    out = Path(out) if out else collection.text_dir / "vocabulary" / (split + (f"_{variant}" if variant else ""))
    tokens, filtered = tokenize_captions(captions, language)
    check_min_count(tokens, min_count, collection.caption_path(split, variant))
    gru = Vocabulary.build(tokens, min_count=min_count)
    bow = Vocabulary.build(filtered, min_count=min_count)
    gru.save(out / f"word_vocab_{min_count}.txt")
    bow.save(out / f"word_vocab_filterstop_{min_count}.txt")
    click.echo(f"{len(captions)} captions -> GRU vocabulary {len(gru)} words, BoW vocabulary {len(bow)} words in {out}")


def check_min_count(token_lists, min_count: int, source) -> None:
    """Refuse a ``--min-count`` that no word reaches (the vocabularies would hold only the reserved tokens).

    Example:
        >>> check_min_count([["a", "dog"], ["a", "cat"]], 2, "x.caption.txt")
    """
    from w2vvx.errors import ConfigError

    counts = Counter(word for tokens in token_lists for word in tokens)
    if not counts:
        raise ConfigError(f"{source}: the captions hold no words; check the file and --variant/--language")
    word, top = counts.most_common(1)[0]
    if top < min_count:
        raise ConfigError(f"--min-count {min_count}: no word of {source} occurs that often (the most frequent, "
                          f"{word!r}, occurs {top} times), so the vocabularies would be empty; use --min-count {top} "
                          f"or less (the default is 5)")
