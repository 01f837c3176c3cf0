"""Simulated machine-translation noise for the synthetic collection.

A caption is rendered from a :class:`Mention` (which parts of a scene it talks about). Machine
translation is simulated on that meaning, then on the rendered words:

* wrong word sense: a concept is replaced by a confusable one (``car`` -> ``truck``);
* dropped word: an attribute (colour, size, numeral), a secondary object, the place or the action is lost;
* untranslated word: a concept is left in the source language (``一辆红色的car``);
* literal word-by-word order: the source sentence is translated token by token, in source order;
* local reordering: neighbouring words are swapped.

:class:`MTNoise` turns one ``level`` knob in ``[0, 1]`` into those rates; level 0 is a perfect
translation of the caption's meaning.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from w2vvx.errors import ConfigError


@dataclass(frozen=True)
class Slot:
    """One concept a caption mentions.

    Attributes:
        kind: ``"category"``, ``"colour"``, ``"size"``, ``"count"``, ``"place"`` or ``"action"``.
        value: the concept name (``"car"``, ``"red"``) or, for ``count``, the number 1-4.
        lang: when set, the word is written in that language whatever the caption's language
            (an untranslated word).
    """

    kind: str
    value: object
    lang: Optional[str] = None


@dataclass(frozen=True)
class ObjectMention:
    """An object as a caption mentions it; ``count`` always holds the number (it drives plural forms)
    while ``show_count`` says whether the numeral is written."""

    category: Slot
    count: Slot
    colour: Optional[Slot] = None
    size: Optional[Slot] = None
    show_count: bool = True


@dataclass(frozen=True)
class Mention:
    """What one caption says about a scene, and how it was worded.

    Attributes:
        objects: the mentioned objects, in caption order (the first is the scene's main object).
        place, action: the mentioned place / action, or ``None``.
        lang: the language of the caption this meaning was rendered in.
        style: ``"human"`` (free templates and synonyms) or ``"mt"`` (one canonical template).
        template: the template index used for ``lang``/``style``.
    """

    objects: Tuple[ObjectMention, ...]
    place: Optional[Slot] = None
    action: Optional[Slot] = None
    lang: str = "en"
    style: str = "human"
    template: int = 0


@dataclass
class NoiseTrace:
    """What the noise model did to one caption (counts of concept slots)."""

    slots: int = 0
    wrong: int = 0
    dropped: int = 0
    untranslated: int = 0
    swaps: int = 0
    literal: bool = False

    def add(self, other: "NoiseTrace") -> "NoiseTrace":
        return NoiseTrace(self.slots + other.slots, self.wrong + other.wrong, self.dropped + other.dropped,
                          self.untranslated + other.untranslated, self.swaps + other.swaps,
                          self.literal or other.literal)


@dataclass(frozen=True)
class MTNoise:
    """Error rates of the simulated machine translation, all derived from one ``level``.

    Args:
        level: overall noise in ``[0, 1]``; 0 translates the meaning exactly.
        wrong_sense, drop, untranslated: per concept-slot probabilities at ``level=1``.
        literal: probability at ``level=1`` that the whole caption is translated word by word.
        swap: probability at ``level=1`` that each pair of neighbouring words is swapped.

    Example:
        >>> noise = MTNoise(0.5)
        >>> noise.rates()["wrong_sense"]
        0.125
    """

    level: float = 0.3
    wrong_sense: float = 0.25
    drop: float = 0.25
    untranslated: float = 0.15
    literal: float = 0.5
    swap: float = 0.15

    def __post_init__(self):
        if not isinstance(self.level, (int, float)) or not 0.0 <= float(self.level) <= 1.0:
            raise ConfigError(f"mt_noise must be a number in [0, 1]; got {self.level!r}")
        for name in ("wrong_sense", "drop", "untranslated", "literal", "swap"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"MTNoise.{name} must be in [0, 1]; got {value!r}")
        if self.wrong_sense + self.drop + self.untranslated > 1.0:
            raise ConfigError("MTNoise.wrong_sense + drop + untranslated must not exceed 1; got "
                              f"{self.wrong_sense + self.drop + self.untranslated}")

    def rates(self) -> dict:
        """The effective probabilities at this level."""
        level = float(self.level)
        return {"wrong_sense": self.wrong_sense * level, "drop": self.drop * level,
                "untranslated": self.untranslated * level, "literal": self.literal * level,
                "swap": self.swap * level}

    def corrupt(self, mention: Mention, rng: np.random.Generator, confusables: Callable[[str, object], Sequence],
                source_lang: str) -> Tuple[Mention, NoiseTrace]:
        """Apply the slot-level errors (wrong sense, drop, untranslated) to a meaning.

        Args:
            mention: the source caption's meaning.
            rng: the random stream of this caption.
            confusables: ``(kind, value) -> candidates`` for a wrong word sense.
            source_lang: the language untranslated words stay in.

        Returns:
            the corrupted meaning (its ``lang``/``style``/``template`` still those of the source) and the trace.
        """
        rates = self.rates()
        trace = NoiseTrace()

        def fate(slot: Slot, droppable: bool) -> Tuple[Optional[Slot], str]:
            trace.slots += 1
            u = rng.random()
            if u < rates["wrong_sense"]:
                options = list(confusables(slot.kind, slot.value))
                if options:
                    trace.wrong += 1
                    return dataclasses.replace(slot, value=options[int(rng.integers(len(options)))]), "wrong"
                return slot, "kept"
            u -= rates["wrong_sense"]
            if u < rates["drop"]:
                if droppable:
                    trace.dropped += 1
                    return None, "dropped"
                return slot, "kept"
            u -= rates["drop"]
            if u < rates["untranslated"]:
                trace.untranslated += 1
                return dataclasses.replace(slot, lang=slot.lang or source_lang), "untranslated"
            return slot, "kept"

        objects: List[ObjectMention] = []
        for position, obj in enumerate(mention.objects):
            category, _ = fate(obj.category, droppable=position > 0)
            if category is None:
                continue
            colour = fate(obj.colour, True)[0] if obj.colour is not None else None
            size = fate(obj.size, True)[0] if obj.size is not None else None
            count, show_count = obj.count, obj.show_count
            if obj.show_count and obj.count.value != 1:
                new_count, outcome = fate(obj.count, True)
                if outcome == "dropped":
                    show_count = False
                else:
                    count = new_count
            objects.append(ObjectMention(category=category, count=count, colour=colour, size=size,
                                         show_count=show_count))
        place = fate(mention.place, True)[0] if mention.place is not None else None
        action = fate(mention.action, True)[0] if mention.action is not None else None
        corrupted = dataclasses.replace(mention, objects=tuple(objects), place=place, action=action)
        return corrupted, trace

    def use_literal(self, rng: np.random.Generator) -> bool:
        """Draw whether this caption is translated word by word."""
        return bool(rng.random() < self.rates()["literal"])

    def reorder(self, tokens: list, rng: np.random.Generator, trace: NoiseTrace) -> list:
        """Swap neighbouring tokens with the ``swap`` rate (each token moves at most one place)."""
        rate = self.rates()["swap"]
        tokens = list(tokens)
        if rate <= 0.0:
            return tokens
        position = 0
        while position < len(tokens) - 1:
            if rng.random() < rate:
                tokens[position], tokens[position + 1] = tokens[position + 1], tokens[position]
                trace.swaps += 1
                position += 2
            else:
                position += 1
        return tokens


def slots_of(mention: Mention) -> List[Slot]:
    """All concept slots of a meaning (numerals only when written and above one)."""
    found: List[Slot] = []
    for obj in mention.objects:
        found.append(obj.category)
        if obj.colour is not None:
            found.append(obj.colour)
        if obj.size is not None:
            found.append(obj.size)
        if obj.show_count and obj.count.value != 1:
            found.append(obj.count)
    for slot in (mention.place, mention.action):
        if slot is not None:
            found.append(slot)
    return found


__all__ = ["Slot", "ObjectMention", "Mention", "NoiseTrace", "MTNoise", "slots_of"]
