"""The synthetic languages of the default collection: the lexicon, rendering in en / zh / de, simulated MT.

A :class:`~w2vvx.datasets.noise.Mention` (what a caption says about a scene) is rendered into tokens
by the renderer of a language; each token keeps the concept it expresses, so that a literal
(word-by-word) machine translation with controlled noise (:func:`translate`) can map it. Used by
:mod:`w2vvx.datasets.synthetic`, which builds the collection.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import lru_cache
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from w2vvx.datasets.noise import Mention, MTNoise, NoiseTrace, ObjectMention, Slot
from w2vvx.errors import ConfigError
from w2vvx.resources import data_path

# --------------------------------------------------------------------------------------------------
# Lexicon


class Lexicon:
    """The word lists of ``data/synthetic/lexicon.json`` with lookups used by the renderers.

    Example:
        >>> lex = Lexicon.default()
        >>> len(lex.categories) >= 40, lex.surface("category", "car", "zh")
        (True, '汽车')
    """

    def __init__(self, table: dict, source: str = "<dict>"):
        self.table = table
        self.source = source
        self.categories: List[str] = list(table["categories"])
        self.colours: List[str] = list(table["colours"])
        self.sizes: List[str] = list(table["sizes"])
        self.places: List[str] = list(table["places"])
        self.actions: List[str] = list(table["actions"])
        self.indeclinable_de = set(table.get("indeclinable_de", ()))
        self.sha256 = hashlib.sha256(json.dumps(table, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()

    @classmethod
    def default(cls) -> "Lexicon":
        return _default_lexicon()

    def _entry(self, kind: str, value) -> dict:
        group = {"category": "categories", "colour": "colours", "size": "sizes", "place": "places",
                 "action": "actions"}[kind]
        return self.table[group][value]

    def variants(self, kind: str, value, lang: str) -> list:
        """All surface variants of a concept in ``lang`` (first = the one MT uses)."""
        if kind == "count":
            return [self.table["counts"][lang][int(value) - 1]]
        return self._entry(kind, value)[lang]

    def surface(self, kind: str, value, lang: str, plural: bool = False, variant: int = 0) -> str:
        """The dictionary form of a concept (nouns in the right number, verbs in the plural/base form)."""
        forms = self.variants(kind, value, lang)[variant]
        if kind == "category":
            if lang == "zh":
                return forms
            return forms[1] if plural else forms[0]
        if kind == "place":
            return forms if lang == "zh" else forms[1]
        if kind == "action":
            if lang == "zh":
                return forms
            return forms[2] if lang == "en" else forms[1]
        if kind == "count" and lang == "en" and int(value) == 1:
            return "a"
        return forms

    def confusables(self, kind: str, value) -> list:
        if kind == "count":
            return [c for c in (int(value) - 1, int(value) + 1) if 2 <= c <= 4]
        return list(self._entry(kind, value).get("confusable", ()))

    def literal(self, source_lang: str, target_lang: str) -> Dict[str, str]:
        return self.table["literal"].get(f"{source_lang}->{target_lang}", {})

    def chinese_words(self) -> set:
        """Every Chinese word the renderers can emit (content words, numeral+measure words, function words)."""
        words = {"的", "和", "在", "有", "正在", "图中", "一些", "里", "上", "是", "一个", "那里", "照片", "图片"}
        for name in self.categories:
            entry = self.table["categories"][name]
            words.update(entry["zh"])
            words.add(entry["measure"])
            for number in self.table["counts"]["zh"]:
                words.update((number, number + entry["measure"]))
        for group in ("colours", "sizes", "places", "actions"):
            for entry in self.table[group].values():
                words.update(entry["zh"])
                words.add(entry.get("zh_suffix", ""))
        words.discard("")
        return words


# --------------------------------------------------------------------------------------------------
# Rendering: a Mention -> tokens. A token keeps the concept it expresses so that a literal
# (word-by-word) translation can map it.


class Token(NamedTuple):
    text: str
    key: Optional[tuple] = None   # ("category", value, plural, lang) / ("prep", place) / None for function words


class _Renderer:
    """Renders meanings in one language; ``rng=None`` picks the first synonym and fixed wording (MT style)."""

    n_templates = 1

    def __init__(self, lexicon: Lexicon, lang: str):
        self.lex = lexicon
        self.lang = lang

    def pick(self, kind, value, rng) -> int:
        if rng is None:
            return 0
        return int(rng.integers(len(self.lex.variants(kind, value, self.lang))))

    def concept(self, slot: Slot, rng, plural: bool = False, **forms) -> Token:
        """A concept token in this language, or in the slot's own language when it was left untranslated."""
        lang = slot.lang if slot.lang and slot.lang != self.lang else self.lang
        if lang != self.lang:
            text = self.lex.surface(slot.kind, slot.value, lang, plural=plural)
        else:
            text = self.word(slot, rng, plural, **forms)
        return Token(text, (slot.kind, slot.value, plural, slot.lang))

    def word(self, slot, rng, plural, **forms) -> str:
        return self.lex.surface(slot.kind, slot.value, self.lang, plural=plural,
                                variant=self.pick(slot.kind, slot.value, rng))

    def render(self, mention: Mention, rng=None) -> List[Token]:
        raise NotImplementedError

    def join(self, tokens: Sequence[Token]) -> str:
        raise NotImplementedError


class _PrepositionRenderer(_Renderer):
    """A language that says a place as a preposition and a noun (English, German)."""

    def place(self, mention, rng) -> List[Token]:
        slot = mention.place
        if slot is None:
            return []
        variant = self.pick("place", slot.value, rng)
        prep, noun = self.lex.variants("place", slot.value, self.lang)[variant]
        noun_token = (Token(noun, ("place", slot.value, False, slot.lang)) if not slot.lang or slot.lang == self.lang
                      else self.concept(slot, rng))
        return [Token(prep, ("prep", slot.value))] + [noun_token]


def _subject_plural(mention: Mention) -> bool:
    return len(mention.objects) > 1 or int(mention.objects[0].count.value) > 1


class EnglishRenderer(_PrepositionRenderer):
    n_templates = 5

    def word(self, slot, rng, plural, form="base"):
        variant = self.pick(slot.kind, slot.value, rng)
        if slot.kind == "action":
            ing, third, base = self.lex.variants("action", slot.value, "en")[variant]
            return {"ing": ing, "s": third, "base": base}[form]
        return self.lex.surface(slot.kind, slot.value, "en", plural=plural, variant=variant)

    def object_phrase(self, obj: ObjectMention, rng) -> List[Token]:
        count = int(obj.count.value)
        plural = count > 1
        tokens: List[Token] = []
        if count == 1:
            one = "one" if rng is not None and rng.random() < 0.15 else "a"
            lang = obj.count.lang if obj.count.lang and obj.count.lang != "en" else "en"
            text = self.lex.surface("count", 1, lang) if lang != "en" else one
            tokens.append(Token(text, ("count", 1, False, obj.count.lang)))
        elif obj.show_count:
            tokens.append(self.concept(obj.count, rng, plural))
        elif rng is None or rng.random() < 0.5:
            tokens.append(Token("some"))
        adjectives = [self.concept(s, rng, plural) for s in (obj.size, obj.colour) if s is not None]
        if rng is not None and len(adjectives) == 2 and rng.random() < 0.15:
            adjectives.reverse()
        tokens += adjectives
        tokens.append(self.concept(obj.category, rng, plural))
        if tokens[0].text == "a" and tokens[1].text[:1].lower() in "aeiou":
            tokens[0] = tokens[0]._replace(text="an")
        return tokens

    def objects(self, mention, rng) -> List[Token]:
        tokens: List[Token] = []
        for position, obj in enumerate(mention.objects):
            if position:
                tokens.append(Token("and") if position == len(mention.objects) - 1 else Token(","))
            tokens += self.object_phrase(obj, rng)
        return tokens

    def render(self, mention, rng=None):
        objects, place = self.objects(mention, rng), self.place(mention, rng)
        plural = _subject_plural(mention)
        be = Token("are" if plural else "is")
        act = mention.action
        ing = [self.concept(act, rng, plural, form="ing")] if act is not None else []
        finite = [self.concept(act, rng, plural, form="base" if plural else "s")] if act is not None else []
        template = mention.template if mention.style == "human" else 0
        if template == 0:
            return objects + ([be] + ing if ing else []) + place
        if template == 1:
            return [Token("there"), be] + objects + ing + place
        if template == 2 and place:
            return place + [Token(",")] + objects + finite
        if template == 3:
            return [Token("a"), Token("photo"), Token("of")] + objects + ing + place
        return objects + finite + place

    def join(self, tokens):
        text = " ".join(t.text for t in tokens if t.text)
        return text.replace(" ,", ",")


class ChineseRenderer(_Renderer):
    n_templates = 4

    def object_phrase(self, obj: ObjectMention, rng) -> List[Token]:
        count = int(obj.count.value)
        plural = count > 1
        measure = self.lex.table["categories"][obj.category.value]["measure"]
        tokens: List[Token] = []
        if count == 1 or obj.show_count:
            if obj.count.lang and obj.count.lang != "zh":
                tokens.append(self.concept(obj.count, rng, plural))
            else:
                tokens.append(Token(self.lex.surface("count", count, "zh") + measure,
                                    ("count", count, plural, obj.count.lang)))
        else:
            tokens.append(Token("一些"))
        if obj.size is not None:
            tokens += [self.concept(obj.size, rng, plural), Token("的")]
        if obj.colour is not None:
            tokens.append(self.concept(obj.colour, rng, plural))
            if rng is None or rng.random() < 0.7:
                tokens.append(Token("的"))
        tokens.append(self.concept(obj.category, rng, plural))
        return tokens

    def objects(self, mention, rng):
        tokens: List[Token] = []
        for position, obj in enumerate(mention.objects):
            if position:
                tokens.append(Token("和"))
            tokens += self.object_phrase(obj, rng)
        return tokens

    def render(self, mention, rng=None):
        objects = self.objects(mention, rng)
        place = [self.concept(mention.place, rng)] if mention.place is not None else []
        act = [self.concept(mention.action, rng)] if mention.action is not None else []
        template = mention.template if mention.style == "human" else 0
        at = [Token("在", ("prep", mention.place.value))] if place else []
        if template == 1 and place:
            suffix = self.lex.table["places"][mention.place.value].get("zh_suffix", "")
            located = place + ([Token(suffix)] if suffix and not mention.place.lang else [])
            return located + [Token("有")] + objects + ([Token("在")] + act if act else [])
        if template == 2 and act:
            return objects + [Token("正在")] + place + act
        if template == 3:
            return [Token("图中"), Token("有")] + objects + at + place + (
                [Token("在")] + act if act and not place else act)
        if not place and act:
            return objects + [Token("在")] + act
        return objects + at + place + act

    def join(self, tokens):
        return "".join(t.text for t in tokens if t.text)


class GermanRenderer(_PrepositionRenderer):
    n_templates = 4
    _ENDINGS = {("nom", "m"): "er", ("nom", "f"): "e", ("nom", "n"): "es",
                ("acc", "m"): "en", ("acc", "f"): "e", ("acc", "n"): "es"}

    def noun(self, slot, rng, plural, case) -> Tuple[Token, str]:
        if slot.lang and slot.lang != "de":
            return self.concept(slot, rng, plural), "n"
        variant = self.pick("category", slot.value, rng)
        forms = self.lex.variants("category", slot.value, "de")[variant]
        text = forms[1] if plural else (forms[3] if case == "acc" and len(forms) > 3 else forms[0])
        return Token(text, ("category", slot.value, plural, None)), forms[2]

    def adjective(self, slot, rng, plural, case, gender) -> Token:
        if slot.lang and slot.lang != "de":
            return self.concept(slot, rng, plural)
        stem = self.word(slot, rng, plural)
        if stem not in self.lex.indeclinable_de:
            stem += "e" if plural else self._ENDINGS[(case, gender)]
        return Token(stem, (slot.kind, slot.value, plural, None))

    def object_phrase(self, obj: ObjectMention, rng, case) -> Tuple[List[Token], str]:
        count = int(obj.count.value)
        plural = count > 1
        noun, gender = self.noun(obj.category, rng, plural, case)
        tokens: List[Token] = []
        if count == 1:
            article = {"m": "ein", "f": "eine", "n": "ein"}[gender]
            if case == "acc" and gender == "m":
                article = "einen"
            if obj.count.lang and obj.count.lang != "de":
                tokens.append(self.concept(obj.count, rng, plural))
            else:
                tokens.append(Token(article, ("count", 1, False, None)))
        elif obj.show_count:
            tokens.append(self.concept(obj.count, rng, plural))
        else:
            tokens.append(Token("einige"))
        tokens += [self.adjective(s, rng, plural, case, gender) for s in (obj.size, obj.colour) if s is not None]
        tokens.append(noun)
        return tokens, gender

    def objects(self, mention, rng, case) -> Tuple[List[Token], str]:
        tokens: List[Token] = []
        genders = []
        for position, obj in enumerate(mention.objects):
            if position:
                tokens.append(Token("und") if position == len(mention.objects) - 1 else Token(","))
            phrase, gender = self.object_phrase(obj, rng, case)
            tokens += phrase
            genders.append(gender)
        return tokens, genders[0]

    def verb(self, mention, rng, plural) -> List[Token]:
        slot = mention.action
        if slot is None:
            return []
        if slot.lang and slot.lang != "de":
            return [self.concept(slot, rng, plural)]
        variant = self.pick("action", slot.value, rng)
        singular_form, plural_form = self.lex.variants("action", slot.value, "de")[variant]
        return [Token(plural_form if plural else singular_form, ("action", slot.value, plural, None))]

    def render(self, mention, rng=None):
        plural = _subject_plural(mention)
        place = self.place(mention, rng)
        verb = self.verb(mention, rng, plural)
        template = mention.template if mention.style == "human" else 0
        if template in (0, 1):
            objects, _ = self.objects(mention, rng, "nom")
            if template == 1 and place:
                return place + (verb or [Token("sind" if plural else "ist")]) + objects
            return objects + verb + place
        objects, gender = self.objects(mention, rng, "acc")
        relative = []
        if verb:
            pronoun = "die" if plural else {"m": "der", "f": "die", "n": "das"}[gender]
            relative = [Token(","), Token(pronoun)] + verb
        opening = [Token("man"), Token("sieht")] if template == 2 else [Token("es"), Token("gibt")]
        return opening + objects + place + relative

    def join(self, tokens):
        text = " ".join(t.text for t in tokens if t.text).replace(" ,", ",")
        return (text[:1].upper() + text[1:] + ".") if text else text


_RENDERERS = {"en": EnglishRenderer, "zh": ChineseRenderer, "de": GermanRenderer}


def renderer(lexicon: Lexicon, lang: str) -> _Renderer:
    if lang not in _RENDERERS:
        raise ConfigError(f"language {lang!r} is not supported by the synthetic collection; "
                          f"expected one of {sorted(_RENDERERS)}")
    return _RENDERERS[lang](lexicon, lang)


# --------------------------------------------------------------------------------------------------
# Simulated machine translation


def _literal_tokens(tokens: Sequence[Token], lexicon: Lexicon, source: str, target: str) -> List[Token]:
    """Translate word by word in source order (concepts by dictionary form, function words by a small table)."""
    table = lexicon.literal(source, target)
    out: List[Token] = []
    for token in tokens:
        key = token.key
        if key is None:
            word = table.get(token.text.lower(), "")
            out.extend(Token(w) for w in word.split(" ") if w)
            continue
        if key[0] == "prep":
            if target == "zh":
                out.append(Token("在", key))
            else:
                out.append(Token(lexicon.variants("place", key[1], target)[0][0], key))
            continue
        kind, value, plural, foreign = key
        lang = foreign if foreign and foreign != target else target
        if kind == "count" and lang == "zh":
            text = lexicon.surface("count", value, "zh") + "个"
        elif kind == "size" and lang == "zh":
            text = lexicon.surface("size", value, "zh") + "的"
        else:
            text = lexicon.surface(kind, value, lang, plural=plural)
        out.append(Token(text, key))
    return out


def translate(mention: Mention, target: str, noise: MTNoise, rng: np.random.Generator,
              lexicon: Lexicon) -> Tuple[str, Mention, NoiseTrace]:
    """Simulate machine translation of a caption's meaning into ``target``.

    Returns:
        ``(text, meaning_of_the_translation, trace)``; the returned meaning can be translated again
        (back-translation).
    """
    source = mention.lang
    corrupted, trace = noise.corrupt(mention, rng, lexicon.confusables, source_lang=source)
    if noise.use_literal(rng):
        trace.literal = True
        source_tokens = renderer(lexicon, source).render(corrupted, None)
        tokens = _literal_tokens(source_tokens, lexicon, source, target)
    else:
        tokens = renderer(lexicon, target).render(dataclasses.replace(corrupted, lang=target, style="mt"), None)
    tokens = noise.reorder(tokens, rng, trace)
    translated = dataclasses.replace(corrupted, lang=target, style="mt", template=0)
    return renderer(lexicon, target).join(tokens), translated, trace


@lru_cache(maxsize=1)
def _default_lexicon() -> Lexicon:
    path = data_path("synthetic", "lexicon.json")
    return Lexicon(json.loads(path.read_text(encoding="utf-8")), source=str(path))
