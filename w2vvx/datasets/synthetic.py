"""The embedded default collection: a synthetic, learnable, multilingual image-caption collection.

Every item is a scene (1-3 objects, each with a category, colour, count and size; a place; an action).
Its "visual feature" is a fixed random nonlinear function of that scene (object-level binding of
colour, size and count to the category through a random ReLU net, then a random 2-layer ReLU
projection to ``feature_dim`` non-negative values, plus noise), so that retrieving it needs the whole
sentence. Captions are rendered from the scene in English, Chinese (no spaces: jieba segmentation
matters) and German with several templates and synonyms; training captions in Chinese/German are a
simulated machine translation of the English ones (see :mod:`w2vvx.datasets.noise`), as in NRCCR.

Files written under ``<rootpath>/<name>/`` (NRCCR single-folder layout, see ``docs`` and DESIGN.md)::

    ImageSets/<name>{train,val,test}.txt
    FeatureData/<feature_name>/{feature.bin,id.txt,shape.txt}        all splits in one BigFile
    TextData/<name>train.caption.txt                                  English, '<item>#enc#<n>'
    TextData/<name>train_google_enc2<l>.caption.txt                   simulated MT,  '#enc2<l>#'
    TextData/<name>train_google_enc2<l>2enc.caption.txt               back-translation, '#enc2<l>2enc#'
    TextData/<name>{val,test}.caption.txt                             English, '#enc#'
    TextData/<name>{val,test}_<l>.caption.txt                         human-style <l>, '#<l>#'
    TextData/<name>{val,test}_google_<l>2enc.caption.txt              simulated MT of those to English, '#<l>2enc#'
    TextData/<name>train_<l>.caption.txt                              human-style <l> train captions: the
                                                                      COCO-CN protocol of ``do-all`` (the
                                                                      target model trained on human-written
                                                                      text, as COCO-CN's cococntrain) and the
                                                                      upper-bound experiment; never mixed into
                                                                      the MT setting
    scenes.json                                                       each item's scene (ground truth)
    generator.json                                                    parameters, seed, lexicon checksum

Everything is a deterministic function of the seed and the parameters; item ``i``'s scene, captions
and feature do not depend on how many items the other splits have.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from w2vvx.datasets.noise import Mention, MTNoise, NoiseTrace, ObjectMention, Slot
from w2vvx.datasets.synthetic_language import Lexicon, renderer, translate
from w2vvx.errors import ConfigError
from w2vvx.io.atomic import atomic_dir
from w2vvx.io.bigfile import BigFileWriter
from w2vvx.io.captions import caption_file_name, write_captions
from w2vvx.io.imagesets import write_imageset

GENERATOR_VERSION = "w2vvx-synthetic-1"
SUPPORTED_LANGUAGES = ("zh", "de")
SPLITS = ("train", "val", "test")
SCALES = {
    "tiny": dict(n_train=120, n_val=40, n_test=40),
    "default": dict(n_train=1500, n_val=300, n_test=1000),
    "large": dict(n_train=20000, n_val=2000, n_test=2000),
}
# Random-stream ids: every stream is np.random.default_rng([seed, STREAM, item_index]).
_STREAM = {"scene": 1, "en": 2, "feature_noise": 3, "feature_model": 4,
           "human_zh": 10, "human_de": 11, "mt_zh": 20, "mt_de": 21, "back_zh": 30, "back_de": 31,
           "to_en_zh": 40, "to_en_de": 41}
#: The embedded collection's feature size: small enough that the main job's three models train in minutes
#: on a 2-core CPU (the text MLP's output layer is the largest matmul of a W2VV step).
DEFAULT_FEATURE_DIM = 512
_LATENT = 256
_HIDDEN = 1024
_CHUNK = 2048


# --------------------------------------------------------------------------------------------------
# Scenes


class SceneObject(NamedTuple):
    category: str
    colour: str
    count: int
    size: str


class Scene(NamedTuple):
    """An item's latent structure; ``objects[0]`` is the main object (always mentioned)."""

    objects: Tuple[SceneObject, ...]
    place: str
    action: str

    def to_json(self) -> dict:
        return {"objects": [list(o) for o in self.objects], "place": self.place, "action": self.action}

    @classmethod
    def from_json(cls, data: dict) -> "Scene":
        return cls(tuple(SceneObject(o[0], o[1], int(o[2]), o[3]) for o in data["objects"]),
                   data["place"], data["action"])


def _choice(rng: np.random.Generator, options: Sequence):
    return options[int(rng.integers(len(options)))]


def sample_scene(rng: np.random.Generator, lexicon: Lexicon) -> Scene:
    """Draw one scene: 1-3 objects of distinct categories, a place and an action."""
    n_objects = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
    categories = rng.choice(len(lexicon.categories), size=n_objects, replace=False)
    objects = tuple(
        SceneObject(lexicon.categories[int(c)], _choice(rng, lexicon.colours),
                    int(rng.choice([1, 2, 3, 4], p=[0.5, 0.25, 0.15, 0.1])), _choice(rng, lexicon.sizes))
        for c in categories)
    return Scene(objects, _choice(rng, lexicon.places), _choice(rng, lexicon.actions))


def sample_mention(scene: Scene, rng: np.random.Generator, lang: str, n_templates: int) -> Mention:
    """Choose the parts of ``scene`` one human-style caption mentions (always the main object)."""
    objects = []
    for position, obj in enumerate(scene.objects):
        main = position == 0
        if not main and rng.random() >= 0.5:
            continue
        objects.append(ObjectMention(
            category=Slot("category", obj.category), count=Slot("count", obj.count),
            colour=Slot("colour", obj.colour) if rng.random() < (0.75 if main else 0.5) else None,
            size=Slot("size", obj.size) if rng.random() < (0.4 if main else 0.3) else None,
            show_count=bool(rng.random() < (0.7 if main else 0.6))))
    if len(objects) > 2 and rng.random() < 0.5:
        objects[1], objects[2] = objects[2], objects[1]
    return Mention(objects=tuple(objects),
                   place=Slot("place", scene.place) if rng.random() < 0.7 else None,
                   action=Slot("action", scene.action) if rng.random() < 0.6 else None,
                   lang=lang, style="human", template=int(rng.integers(n_templates)))


# --------------------------------------------------------------------------------------------------
# Visual features


class SceneFeaturizer:
    """The fixed random nonlinear map scene -> non-negative feature vector.

    Object vectors bind colour, size and count to the category through a random ReLU layer (so "red
    car + blue bus" differs from "blue car + red bus"); the scene vector (weighted objects + place +
    action) goes through a random 2-layer ReLU projection to ``dim`` values; Gaussian noise is added
    before the final ReLU.

    Args:
        lexicon: the concept inventory.
        dim: output dimension.
        seed: the collection seed (the weights use their own stream of it).
        noise: standard deviation of the per-item noise relative to the pre-activation spread.
    """

    def __init__(self, lexicon: Lexicon, dim: int, seed: int, noise: float = 3.5):
        rng = np.random.default_rng([seed, _STREAM["feature_model"], dim])
        self.lex = lexicon
        self.dim = dim
        self.seed = seed
        self.noise = noise
        h = _LATENT
        self.tables = {
            "category": rng.standard_normal((len(lexicon.categories), h)),
            "colour": rng.standard_normal((len(lexicon.colours), h)),
            "size": rng.standard_normal((len(lexicon.sizes), h)),
            "count": rng.standard_normal((4, h)),
            "place": rng.standard_normal((len(lexicon.places), h)),
            "action": rng.standard_normal((len(lexicon.actions), h)),
        }
        self.bind = rng.standard_normal((4 * h, h)) / np.sqrt(4 * h)
        self.w1 = rng.standard_normal((h, _HIDDEN)) / np.sqrt(h)
        self.b1 = 0.1 * rng.standard_normal(_HIDDEN)
        self.w2 = rng.standard_normal((_HIDDEN, dim)) / np.sqrt(_HIDDEN / 2.0)
        self.b2 = 0.3 * rng.standard_normal(dim) - 0.2
        self._index = {kind: {name: i for i, name in enumerate(names)} for kind, names in (
            ("category", lexicon.categories), ("colour", lexicon.colours), ("size", lexicon.sizes),
            ("place", lexicon.places), ("action", lexicon.actions))}

    def latent(self, scenes: Sequence[Scene]) -> np.ndarray:
        """The scene vectors before the projection, ``(len(scenes), 256)``."""
        t, idx = self.tables, self._index
        out = np.zeros((len(scenes), _LATENT))
        weights = (1.0, 0.7, 0.55)
        for row, scene in enumerate(scenes):
            total = 0.9 * t["place"][idx["place"][scene.place]] + 0.7 * t["action"][idx["action"][scene.action]]
            for position, obj in enumerate(scene.objects):
                parts = (t["category"][idx["category"][obj.category]], t["colour"][idx["colour"][obj.colour]],
                         t["size"][idx["size"][obj.size]], t["count"][obj.count - 1])
                bound = np.maximum(np.concatenate(parts) @ self.bind, 0.0)
                linear = parts[0] + 0.6 * parts[1] + 0.35 * parts[2] + 0.35 * parts[3]
                total = total + weights[position] * (linear + 1.5 * bound)
            out[row] = total
        return out

    def clean(self, scenes: Sequence[Scene]) -> np.ndarray:
        """Pre-activation features without noise."""
        hidden = np.maximum(self.latent(scenes) @ self.w1 + self.b1, 0.0)
        return hidden @ self.w2 + self.b2

    def __call__(self, scenes: Sequence[Scene], indices: Sequence[int]) -> np.ndarray:
        """Features of ``scenes`` (item ``indices`` select each item's own noise stream), float32."""
        pre = self.clean(scenes)
        for row, index in enumerate(indices):
            noise_rng = np.random.default_rng([self.seed, _STREAM["feature_noise"], int(index)])
            pre[row] += self.noise * noise_rng.standard_normal(self.dim)
        return np.maximum(pre, 0.0).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Collection


@dataclass(frozen=True)
class SyntheticSpec:
    """All parameters of a synthetic collection (stored in ``generator.json``).

    Example:
        >>> spec = SyntheticSpec.from_scale("tiny", feature_dim=64)
        >>> spec.n_train, spec.feature_dim
        (120, 64)
    """

    name: str = "w2vvx_synth"
    seed: int = 0
    n_train: int = 1500
    n_val: int = 300
    n_test: int = 1000
    captions_per_item: int = 5
    mt_noise: float = 0.3
    languages: Tuple[str, ...] = ("zh", "de")
    feature_dim: int = DEFAULT_FEATURE_DIM
    feature_name: Optional[str] = None
    feature_noise: float = 3.5
    upper_bound_train: bool = True

    def __post_init__(self):
        object.__setattr__(self, "languages", tuple(self.languages))
        if self.feature_name is None:
            object.__setattr__(self, "feature_name", default_feature_name(self.feature_dim))
        for field_name in ("n_train", "n_val", "n_test"):
            value = getattr(self, field_name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{field_name} must be a positive integer; got {value!r}")
        if not isinstance(self.captions_per_item, int) or self.captions_per_item < 1:
            raise ConfigError(f"captions_per_item must be a positive integer; got {self.captions_per_item!r}")
        if not isinstance(self.feature_dim, int) or self.feature_dim < 8:
            raise ConfigError(f"feature_dim must be an integer >= 8; got {self.feature_dim!r}")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer; got {self.seed!r}")
        unknown = [lang for lang in self.languages if lang not in SUPPORTED_LANGUAGES]
        if unknown or len(set(self.languages)) != len(self.languages):
            raise ConfigError(f"languages must be distinct values among {SUPPORTED_LANGUAGES}; got {self.languages!r}")
        for field_name in ("name", "feature_name"):
            value = getattr(self, field_name)
            if not value or any(c.isspace() for c in value) or "/" in value or "#" in value:
                raise ConfigError(f"{field_name} must be a non-empty name without spaces, '/' or '#'; got {value!r}")
        if not 0.0 <= self.feature_noise:
            raise ConfigError(f"feature_noise must be >= 0; got {self.feature_noise!r}")
        MTNoise(self.mt_noise)

    @classmethod
    def from_scale(cls, scale: str = "default", **overrides) -> "SyntheticSpec":
        """A spec with the item counts of a collection scale (``tiny``, ``default``, ``large``)."""
        if scale not in SCALES:
            raise ConfigError(f"scale must be one of {sorted(SCALES)}; got {scale!r}")
        values = dict(SCALES[scale])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def n_items(self) -> int:
        return self.n_train + self.n_val + self.n_test

    def split_ranges(self) -> Dict[str, range]:
        return {"train": range(0, self.n_train), "val": range(self.n_train, self.n_train + self.n_val),
                "test": range(self.n_train + self.n_val, self.n_items)}

    def item_id(self, index: int) -> str:
        return f"synth{index:06d}"

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["languages"] = list(self.languages)
        return data


def default_feature_name(feature_dim: int) -> str:
    """The ``FeatureData`` folder of a generated collection with ``feature_dim``-d features.

    Example:
        >>> default_feature_name(512)
        'synth_scene_512'
    """
    return f"synth_scene_{int(feature_dim)}"


def item_scene(spec: SyntheticSpec, index: int, lexicon: Optional[Lexicon] = None) -> Scene:
    """The scene of item ``index`` (deterministic from the seed)."""
    lexicon = lexicon or Lexicon.default()
    return sample_scene(np.random.default_rng([spec.seed, _STREAM["scene"], index]), lexicon)


def _rng(spec: SyntheticSpec, stream: str, index: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, _STREAM[stream], index])


def human_captions(scene: Scene, lang: str, n: int, rng: np.random.Generator,
                   lexicon: Lexicon) -> List[Tuple[str, Mention]]:
    """``n`` human-style captions of ``scene`` written directly in ``lang`` (independent wording)."""
    writer = renderer(lexicon, lang)
    out = []
    for _ in range(n):
        mention = sample_mention(scene, rng, lang, writer.n_templates)
        out.append((writer.join(writer.render(mention, rng)), mention))
    return out


def build_captions(spec: SyntheticSpec, scenes: Dict[int, Scene], lexicon: Lexicon):
    """All caption files as ``{(split, variant): [(sent_id, text), ...]}`` plus MT noise statistics."""
    files: Dict[Tuple[str, Optional[str]], List[Tuple[str, str]]] = {}
    stats: Dict[str, NoiseTrace] = {}
    noise = MTNoise(spec.mt_noise)
    n = spec.captions_per_item

    def add(split, variant, sent_id, text):
        files.setdefault((split, variant), []).append((sent_id, text))

    for split, indices in spec.split_ranges().items():
        for index in indices:
            item, scene = spec.item_id(index), scenes[index]
            english = human_captions(scene, "en", n, _rng(spec, "en", index), lexicon)
            for k, (text, _) in enumerate(english):
                add(split, None, f"{item}#enc#{k}", text)
            for lang in spec.languages:
                human_needed = split != "train" or spec.upper_bound_train
                if human_needed:
                    human = human_captions(scene, lang, n, _rng(spec, f"human_{lang}", index), lexicon)
                    for k, (text, _) in enumerate(human):
                        add(split, lang, f"{item}#{lang}#{k}", text)
                if split == "train":
                    mt_rng, back_rng = _rng(spec, f"mt_{lang}", index), _rng(spec, f"back_{lang}", index)
                    for k, (_, mention) in enumerate(english):
                        text, meaning, trace = translate(mention, lang, noise, mt_rng, lexicon)
                        add(split, f"google_enc2{lang}", f"{item}#enc2{lang}#{k}", text)
                        stats[f"enc2{lang}"] = stats.get(f"enc2{lang}", NoiseTrace()).add(trace)
                        back, _, trace = translate(meaning, "en", noise, back_rng, lexicon)
                        add(split, f"google_enc2{lang}2enc", f"{item}#enc2{lang}2enc#{k}", back)
                        stats[f"enc2{lang}2enc"] = stats.get(f"enc2{lang}2enc", NoiseTrace()).add(trace)
                else:
                    to_en_rng = _rng(spec, f"to_en_{lang}", index)
                    for k, (_, mention) in enumerate(human):
                        text, _, trace = translate(mention, "en", noise, to_en_rng, lexicon)
                        add(split, f"google_{lang}2enc", f"{item}#{lang}2enc#{k}", text)
                        stats[f"{lang}2enc"] = stats.get(f"{lang}2enc", NoiseTrace()).add(trace)
    return files, stats


def generate_collection(rootpath, name: str = "w2vvx_synth", seed: int = 0, n_train: Optional[int] = None,
                        n_val: Optional[int] = None, n_test: Optional[int] = None, captions_per_item: int = 5,
                        mt_noise: float = 0.3, languages: Sequence[str] = ("zh", "de"),
                        feature_dim: int = DEFAULT_FEATURE_DIM, feature_name: Optional[str] = None,
                        overwrite: bool = False, scale: str = "default",
                        feature_noise: float = 3.5, upper_bound_train: bool = True) -> Path:
    """Generate the synthetic collection under ``<rootpath>/<name>`` (atomically) and return its folder.

    Args:
        rootpath: the VisualSearch root folder.
        name: collection name (folder and file prefix).
        seed: everything is a deterministic function of it and the other arguments.
        n_train, n_val, n_test: item counts; ``None`` takes them from ``scale``.
        captions_per_item: captions per item and language.
        mt_noise: simulated machine-translation noise level in ``[0, 1]``.
        languages: target languages among ``("zh", "de")``.
        feature_dim: visual feature dimension.
        feature_name: the ``FeatureData`` folder name (default ``synth_scene_<feature_dim>``).
        overwrite: replace an existing collection folder.
        scale: collection scale ``tiny`` (120/40/40), ``default`` (1500/300/1000) or ``large`` (20000/2000/2000).
        feature_noise: per-item feature noise.
        upper_bound_train: also write human-style ``train_<lang>`` captions (COCO-CN protocol of do-all, upper bound).

    Example:
        >>> import tempfile
        >>> folder = generate_collection(tempfile.mkdtemp(), scale="tiny", feature_dim=32)
        >>> (folder / "generator.json").is_file()
        True
    """
    spec = SyntheticSpec.from_scale(scale, name=name, seed=seed, n_train=n_train, n_val=n_val, n_test=n_test,
                                    captions_per_item=captions_per_item, mt_noise=mt_noise,
                                    languages=tuple(languages), feature_dim=feature_dim,
                                    feature_name=feature_name, feature_noise=feature_noise,
                                    upper_bound_train=upper_bound_train)
    return write_collection(spec, rootpath, overwrite=overwrite)


def write_collection(spec: SyntheticSpec, rootpath, overwrite: bool = False,
                     lexicon: Optional[Lexicon] = None) -> Path:
    """Write the collection described by ``spec``; see :func:`generate_collection`."""
    lexicon = lexicon or Lexicon.default()
    final = Path(rootpath) / spec.name
    if final.exists() and not overwrite:
        raise ConfigError(f"{final} exists; pass overwrite=True (CLI: --overwrite) to regenerate it")
    scenes = {i: item_scene(spec, i, lexicon) for i in range(spec.n_items)}
    files, stats = build_captions(spec, scenes, lexicon)
    featurizer = SceneFeaturizer(lexicon, spec.feature_dim, spec.seed, spec.feature_noise)
    with atomic_dir(final, overwrite=overwrite) as tmp:
        for split, indices in spec.split_ranges().items():
            write_imageset(tmp / "ImageSets" / f"{spec.name}{split}.txt", [spec.item_id(i) for i in indices])
        for (split, variant), pairs in sorted(files.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            write_captions(tmp / "TextData" / caption_file_name(spec.name, split, variant), pairs)
        with BigFileWriter(tmp / "FeatureData" / spec.feature_name, dim=spec.feature_dim) as writer:
            for start in range(0, spec.n_items, _CHUNK):
                indices = range(start, min(start + _CHUNK, spec.n_items))
                writer.add([spec.item_id(i) for i in indices], featurizer([scenes[i] for i in indices], indices))
        scene_table = {spec.item_id(i): scenes[i].to_json() for i in range(spec.n_items)}
        (tmp / "scenes.json").write_text(json.dumps(scene_table, ensure_ascii=False, separators=(",", ":")),
                                         encoding="utf-8")
        meta = {
            "generator": GENERATOR_VERSION,
            "spec": spec.to_json(),
            "lexicon_sha256": lexicon.sha256,
            "mt_noise_rates": MTNoise(spec.mt_noise).rates(),
            "mt_noise_observed": {k: dataclasses.asdict(v) for k, v in sorted(stats.items())},
            "files": sorted(f"TextData/{caption_file_name(spec.name, s, v)}" for s, v in files),
            "notes": ("train_<lang>.caption.txt hold human-style target-language captions of the training items; "
                      "they serve the COCO-CN protocol of do-all (a target model trained on human-written text) "
                      "and the upper-bound experiment, and must not be used by the cross-lingual transfer "
                      "setting, which trains on English plus google_enc2<lang> machine translations."),
        }
        (tmp / "generator.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                            encoding="utf-8")
    return final


def load_scenes(collection_dir) -> Dict[str, Scene]:
    """Read ``scenes.json`` of a generated collection."""
    path = Path(collection_dir) / "scenes.json"
    table = json.loads(path.read_text(encoding="utf-8"))
    return {item: Scene.from_json(data) for item, data in table.items()}


__all__ = ["SyntheticSpec", "generate_collection", "write_collection", "Scene", "SceneObject",
           "SceneFeaturizer", "sample_scene", "sample_mention", "human_captions",
           "item_scene", "load_scenes", "default_feature_name", "DEFAULT_FEATURE_DIM", "SCALES", "SUPPORTED_LANGUAGES"]
