"""Word vocabularies: index 0 is ``<pad>``, 1 is ``<unk>``, then words by descending frequency.

Saved as plain text, one ``word count`` per line (the lineage's ``word_vocab_counter_<thr>.txt``),
without the two special entries.
"""
from __future__ import annotations

import collections
import hashlib
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.atomic import atomic_path

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
SPECIALS = (PAD, UNK)


class Vocabulary:
    """A word <-> index map with counts.

    Args:
        words: the words after the special entries, in index order (indices 2, 3, ...).
        counts: their training counts (same length as ``words``), or ``None``.

    Example:
        >>> vocab = Vocabulary.build([["a", "dog"], ["a", "cat"]], min_count=1)
        >>> vocab.word(2), len(vocab), vocab.encode(["a", "cow"], maxlen=4).tolist()
        ('a', 5, [2, 1, 0, 0])
    """

    def __init__(self, words: Sequence[str], counts: Optional[Sequence[int]] = None):
        words = list(words)
        if counts is not None and len(counts) != len(words):
            raise ConfigError(f"got {len(words)} words but {len(counts)} counts")
        self._words: List[str] = list(SPECIALS) + words
        self._counts: List[int] = [0, 0] + (list(counts) if counts is not None else [0] * len(words))
        self._index: Dict[str, int] = {}
        for position, word in enumerate(self._words):
            if not isinstance(word, str) or not word or word.split() != [word]:
                raise DataFormatError(f"vocabulary word {word!r} at index {position} is empty or contains whitespace")
            if word in self._index:
                raise DataFormatError(f"vocabulary word {word!r} appears twice (indices {self._index[word]} and "
                                      f"{position})" + ("; it is a reserved special token" if word in SPECIALS else ""))
            self._index[word] = position

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 5) -> "Vocabulary":
        """Count tokens and keep those seen at least ``min_count`` times (frequency desc, then word)."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ConfigError(f"min_count must be a positive integer, got {min_count!r}")
        counter: collections.Counter = collections.Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise ConfigError("Vocabulary.build expects lists of tokens, got a str; tokenize the sentences first")
            counter.update(tokens)
        for special in SPECIALS:
            counter.pop(special, None)
        kept = sorted(((word, count) for word, count in counter.items() if count >= min_count and word.strip()),
                      key=lambda pair: (-pair[1], pair[0]))
        return cls([word for word, _ in kept], [count for _, count in kept])

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word) -> bool:
        return word in self._index

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self._words == other._words and self._counts == other._counts

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} entries incl. {PAD}, {UNK})"

    @property
    def words(self) -> List[str]:
        """All entries in index order, specials included."""
        return list(self._words)

    def digest(self) -> str:
        """SHA-256 (hex) of the words in index order: equal digests mean the same word -> id map.

        Example:
            >>> Vocabulary(["a", "b"]).digest() == Vocabulary(["b", "a"]).digest()
            False
        """
        return hashlib.sha256("\n".join(self._words).encode("utf-8")).hexdigest()

    def word(self, index: int) -> str:
        return self._words[index]

    def count(self, word: str) -> int:
        return self._counts[self._index[word]] if word in self._index else 0

    def id(self, word: str) -> int:
        """The index of ``word``, or ``UNK_ID``."""
        return self._index.get(word, UNK_ID)

    def encode(self, tokens: Sequence[str], maxlen: int = 32, drop_unknown: bool = False) -> np.ndarray:
        """Map tokens to an int32 array of length ``maxlen`` (post-padded with 0, truncated at the end).

        Args:
            tokens: the tokens of one sentence.
            maxlen: output length.
            drop_unknown: drop out-of-vocabulary tokens instead of mapping them to ``<unk>``.
        """
        if isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 1:
            raise ConfigError(f"maxlen must be a positive integer, got {maxlen!r}")
        if drop_unknown:
            ids = [self._index[token] for token in tokens if token in self._index]
        else:
            ids = [self._index.get(token, UNK_ID) for token in tokens]
        out = np.zeros(int(maxlen), dtype=np.int32)
        ids = ids[:maxlen]
        out[: len(ids)] = ids
        return out

    def save(self, path) -> None:
        """Write ``word count`` lines (specials excluded) atomically."""
        with atomic_path(path) as tmp:
            tmp.write_text("".join(f"{w} {c}\n" for w, c in zip(self._words[2:], self._counts[2:])),
                           encoding="utf-8")

    @classmethod
    def load(cls, path) -> "Vocabulary":
        """Read a vocabulary file of ``word count`` lines (or bare ``word`` lines, count 0)."""
        path = Path(path)
        if not path.is_file():
            raise MissingFileError("vocabulary file not found; build it with Vocabulary.build(...).save(path)",
                                   path=path)
        return parse_vocabulary(path.read_bytes(), path=path)


def parse_vocabulary(data: bytes, path=None) -> Vocabulary:
    """Parse the bytes of a vocabulary file (see :meth:`Vocabulary.load`)."""
    from w2vvx.io.textlines import check_not_wide, split_lines

    data = check_not_wide(data, path)  # BOM dropped, UTF-16 refused by name
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataFormatError("not valid UTF-8; save the vocabulary as UTF-8", path=path, line=line) from None
    entries: List[Tuple[str, int]] = []
    seen: Dict[str, int] = {}
    for number, line in enumerate(split_lines(text), start=1):  # \n, \r\n or a lone \r end a line
        fields = line.split()
        if not fields:
            continue
        if len(fields) > 2:
            raise DataFormatError(f"expected 'word count', found {len(fields)} fields", path=path, line=number)
        word = fields[0]
        count = 0
        if len(fields) == 2:
            if not fields[1].isascii() or not fields[1].isdigit():
                raise DataFormatError(f"count {fields[1][:40]!r} of word {word!r} is not a non-negative integer",
                                      path=path, line=number)
            count = int(fields[1])
        if word in SPECIALS:
            continue
        if word in seen:
            raise DataFormatError(f"word {word!r} appears twice (lines {seen[word]} and {number})", path=path,
                                  line=number)
        seen[word] = number
        entries.append((word, count))
    return Vocabulary([w for w, _ in entries], [c for _, c in entries])
