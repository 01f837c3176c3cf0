"""Captions of one sentence in several languages, aligned by item and caption index (NRCCR's file layout).

A source caption ``<item>#enc#<n>``, its machine translation ``<item>#enc2zh#<n>`` and its
back-translation ``<item>#enc2zh2enc#<n>`` describe the same item with the same index ``n``:
:func:`align_translations` puts the lists in the same order.
"""
from __future__ import annotations

from typing import List

from w2vvx.errors import ConfigError, DataFormatError

__all__ = ["align_translations"]


def _key(caption):
    return (str(caption.item_id), int(caption.index))


def align_translations(source, *translations, name: str = "translation") -> List[list]:
    """Align caption lists on ``(item_id, caption index)``, in the order of ``source``.

    Args:
        source: Captions (``w2vvx.io.Caption``) of the source language.
        *translations: Caption lists (or None) holding one caption per source caption.
        name: what the translations are, for error messages.

    Returns:
        ``[source, translation_1, ...]`` with the translations reordered to match ``source``
        (a ``None`` translation stays ``None``).

    Raises:
        DataFormatError: a source caption has no translation with the same item and index.

    Example:
        >>> from w2vvx.io.captions import Caption
        >>> en = [Caption("a#enc#0", "a", "enc", 0, "a dog")]
        >>> zh = [Caption("a#enc2zh#0", "a", "enc2zh", 0, "一只狗")]
        >>> [c.text for c in align_translations(en, zh)[1]]
        ['一只狗']
    """
    source = list(source)
    for position, caption in enumerate(source):
        if not hasattr(caption, "item_id") or not hasattr(caption, "index"):
            raise ConfigError(f"caption #{position} is {caption!r}; NRCCR aligns w2vvx.io.Caption objects "
                              "(read them with w2vvx.io.read_captions / Collection.captions)")
    aligned = [source]
    for translation in translations:
        if translation is None:
            aligned.append(None)
            continue
        lookup = {_key(caption): caption for caption in translation}
        missing = [caption.sent_id for caption in source if _key(caption) not in lookup]
        if missing:
            raise DataFormatError(
                f"{len(missing)} of {len(source)} source captions have no {name} with the same item and caption "
                f"index (e.g. {', '.join(missing[:3])}); the {name} file must hold one sentence "
                "<item>#<tag>#<n> per source sentence <item>#<tag>#<n>")
        aligned.append([lookup[_key(caption)] for caption in source])
    return aligned
