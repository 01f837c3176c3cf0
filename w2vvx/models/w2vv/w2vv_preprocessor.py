"""Raw sentences of each language -> the text tower's inputs: :class:`W2VVPreprocessor`.

The preprocessor is the only way from raw text to token ids in w2vvx: training batches
(:mod:`w2vvx.datasets.batching`), validation, NRCCR's aligned views, ``encode_text`` and the CLI all call
it, and its vocabularies live only inside the saved model (``.keras`` assets, preset folder).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import keras
import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.models.preprocessor import Preprocessor
from w2vvx.text.featurizer import SentenceFeaturizer
from w2vvx.text.languages import LANGUAGES, resolve_language
from w2vvx.text.vocabulary import Vocabulary

GRU_VOCAB_ASSET = "gru_vocab.txt"
BOW_VOCAB_ASSET = "bow_vocab.txt"
W2V_VOCAB_ASSET = "w2v_vocab.txt"


@keras.saving.register_keras_serializable(package="w2vvx")
class W2VVPreprocessor(Preprocessor):
    """Tokenise sentences with the tokenizer of their language and map them to ``tokens``/``bow_tokens``.

    ``tokens``: every token through the GRU vocabulary (unknown words -> ``<unk>``), post-padded to
    ``maxlen``; ``bow_tokens``: the stopword-filtered tokens found in the BoW vocabulary. One
    vocabulary pair serves every language of a run (a multilingual run learns one joint vocabulary).

    Tokenisation runs in Python (jieba for Chinese), outside the compiled graph: call the layer on a
    list of strings, it returns NumPy int32 arrays. The two vocabularies are saved as assets inside
    the ``.keras`` file (``save_assets``/``load_assets``), so a loaded model needs no other file.

    With a ``w2v_vocab`` (the word-vector vocabulary: every stopword-filtered training word, whatever
    its count) it also gives ``w2v_tokens``, the words the mean-word2vec branch averages with
    ``ModelConfig.w2v_words`` ``"pretrained"``/``"pretrained_unique"``; it is saved as a third asset.
    Models saved without one load as before (their word2vec branch reads ``bow_tokens``).

    Args:
        gru_vocab: :class:`~w2vvx.text.Vocabulary` of the recurrent branch (``None`` until
            ``load_assets`` fills it).
        bow_vocab: vocabulary of the bag-of-words branch (and of the mean-word2vec one with
            ``w2v_words="bow"``).
        w2v_vocab: optional word-vector vocabulary (adds ``w2v_tokens``).
        languages: the languages the vocabularies were built from.
        default_language: the language of sentences given without one.
        maxlen: padded sentence length (32 in the lineage).
        vocabulary_digests: ``{asset: {"count": n, "sha256": ...}}`` of the vocabularies the model was
            saved with (``get_config`` writes it); :meth:`load_assets` refuses assets that differ.

    Example:
        >>> vocab = Vocabulary(["dog", "runs", "hund"])
        >>> pre = W2VVPreprocessor(vocab, vocab, languages=["en", "de"], maxlen=4)
        >>> pre(["The dog runs"])["tokens"].tolist()
        [[1, 2, 3, 0]]
        >>> pre(["Der Hund"], language="de")["tokens"].tolist()
        [[1, 4, 0, 0]]
    """

    def __init__(self, gru_vocab: Optional[Vocabulary] = None, bow_vocab: Optional[Vocabulary] = None,
                 languages: Sequence[str] = ("en",), default_language: str = "en", maxlen: int = 32,
                 vocabulary_digests: Optional[dict] = None, w2v_vocab: Optional[Vocabulary] = None, **kwargs):
        kwargs.setdefault("name", "preprocessor")
        super().__init__(**kwargs)
        languages = [str(language) for language in ([languages] if isinstance(languages, str) else languages)]
        unknown = [language for language in list(languages) + [default_language] if not _known(language)]
        if unknown:
            raise ConfigError(f"unsupported language(s) {unknown}; supported: {list(LANGUAGES)} (or caption tags "
                              "such as 'google_enc2zh')")
        languages = [resolve_language(language) for language in languages]
        default_language = resolve_language(default_language)
        if isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 1:
            raise ConfigError(f"maxlen must be a positive integer, got {maxlen!r}")
        self.languages = sorted(set(languages) | {default_language})
        self.default_language = default_language
        self.maxlen = int(maxlen)
        if vocabulary_digests is not None and not isinstance(vocabulary_digests, dict):
            raise ConfigError(f"vocabulary_digests must be a dict, got {type(vocabulary_digests).__name__}")
        self.vocabulary_digests = vocabulary_digests
        self.gru_vocab: Optional[Vocabulary] = None
        self.bow_vocab: Optional[Vocabulary] = None
        self.w2v_vocab: Optional[Vocabulary] = None
        self._featurizers: Dict[str, SentenceFeaturizer] = {}
        if (gru_vocab is None) != (bow_vocab is None):
            raise ConfigError("give both gru_vocab and bow_vocab (or neither, to load them with load_assets)")
        if gru_vocab is not None:
            self.set_vocabularies(gru_vocab, bow_vocab, w2v_vocab)
        elif w2v_vocab is not None:
            raise ConfigError("w2v_vocab needs gru_vocab and bow_vocab too")
        self.built = True

    def set_vocabularies(self, gru_vocab: Vocabulary, bow_vocab: Vocabulary,
                         w2v_vocab: Optional[Vocabulary] = None) -> None:
        """Use these vocabularies (the tokenizers are created again on first use)."""
        for name, vocab in (("gru_vocab", gru_vocab), ("bow_vocab", bow_vocab), ("w2v_vocab", w2v_vocab)):
            if not isinstance(vocab, Vocabulary) and not (name == "w2v_vocab" and vocab is None):
                raise ConfigError(f"{name} must be a w2vvx Vocabulary, got {type(vocab).__name__}")
        self.gru_vocab, self.bow_vocab, self.w2v_vocab = gru_vocab, bow_vocab, w2v_vocab
        self._featurizers = {}

    def resolve_language(self, language: Optional[str]) -> str:
        """``language`` (a code such as ``"zh"`` or a caption tag such as ``"google_enc2zh"``) as a code of this run.

        Names resolve through :func:`w2vvx.text.languages.resolve_language`, as everywhere in w2vvx.
        """
        code = resolve_language(language, default=self.default_language)
        if code not in self.languages:
            raise ConfigError(f"this model was trained on {self.languages} text, not {language!r}; encode "
                              "sentences of those languages (or train a model on this one)")
        return code

    def featurizer(self, language: Optional[str] = None) -> SentenceFeaturizer:
        """The :class:`~w2vvx.text.SentenceFeaturizer` of ``language`` (one tokenizer per language, reused)."""
        if self.gru_vocab is None:
            raise ConfigError("the preprocessor has no vocabularies: build it with gru_vocab/bow_vocab or load "
                              "a saved model (its vocabularies are assets of the .keras file)")
        code = self.resolve_language(language)
        if code not in self._featurizers:
            self._featurizers[code] = SentenceFeaturizer(code, self.gru_vocab, self.bow_vocab, maxlen=self.maxlen,
                                                         w2v_vocab=self.w2v_vocab)
        return self._featurizers[code]

    def __call__(self, sentences, language: Optional[str] = None, check_queries: bool = True) -> Dict[str, np.ndarray]:
        # Python-side tokenisation: Keras's tensor conversion of the inputs does not apply to strings.
        return self.call(sentences, language=language, check_queries=check_queries)

    def call(self, sentences, language: Optional[str] = None, check_queries: bool = True) -> Dict[str, np.ndarray]:
        """``{"tokens", "bow_tokens"[, "w2v_tokens"]}``: ``(N, maxlen)`` int32 arrays of ``sentences``.

        Args:
            sentences: one string, a list of strings (all in ``language``), ``w2vvx.io.Caption``
                objects (each in the language of its tag; untagged ones in ``language``) or
                ``(item_id, text)`` pairs.
            language: the language of plain strings (default: ``default_language``).
            check_queries: plain strings are user queries: one none of whose words the vocabularies
                know raises :class:`~w2vvx.errors.QueryError` (it would rank like the empty query), one
                mostly unknown warns (:class:`~w2vvx.errors.UnknownWordsWarning`); see
                :meth:`~w2vvx.text.SentenceFeaturizer.check_query`. Captions and pairs (data) are not checked.
        """
        if isinstance(sentences, str):
            sentences = [sentences]
        sentences = list(sentences)
        by_language: Dict[str, List[int]] = {}
        texts: List[str] = []
        queries: List[tuple] = []
        resolved: Dict[Optional[str], str] = {}
        for position, sentence in enumerate(sentences):
            code = language
            if isinstance(sentence, str):
                text = sentence
                queries.append((position, code))
            elif hasattr(sentence, "text"):
                text = sentence.text
                code = getattr(sentence, "tag", None) or language
            elif isinstance(sentence, (tuple, list)) and len(sentence) == 2 and isinstance(sentence[1], str):
                text = sentence[1]
            else:
                raise ConfigError(f"sentence {position} is a {type(sentence).__name__}; expected a str, a "
                                  "w2vvx.io.Caption or an (item_id, text) pair")
            if code not in resolved:
                resolved[code] = self.resolve_language(code)
            by_language.setdefault(resolved[code], []).append(position)
            texts.append(text)
        if check_queries:
            for position, code in queries:
                self.featurizer(code).check_query(texts[position], self.languages,
                                                  position=position if len(sentences) > 1 else None)
        keys = ("tokens", "bow_tokens") + (() if self.w2v_vocab is None else ("w2v_tokens",))
        out = {key: np.zeros((len(texts), self.maxlen), np.int32) for key in keys}
        for code, positions in by_language.items():
            arrays = self.featurizer(code).batch([texts[position] for position in positions])
            for key in out:
                out[key][positions] = arrays[key]
        return out

    def vocabulary_digests_now(self) -> Dict[str, dict]:
        """``{asset: {"count": n, "sha256": ...}}`` of the vocabularies held now (equal digests: same word ids)."""
        if self.gru_vocab is None:
            raise ConfigError("the preprocessor has no vocabularies yet")
        return {name: {"count": len(vocab), "sha256": vocab.digest()}
                for name, vocab in ((GRU_VOCAB_ASSET, self.gru_vocab), (BOW_VOCAB_ASSET, self.bow_vocab),
                                    (W2V_VOCAB_ASSET, self.w2v_vocab)) if vocab is not None}

    def save_assets(self, dir_path) -> None:
        if self.gru_vocab is None:
            raise ConfigError("cannot save a preprocessor without vocabularies")
        self.gru_vocab.save(Path(dir_path) / GRU_VOCAB_ASSET)
        self.bow_vocab.save(Path(dir_path) / BOW_VOCAB_ASSET)
        if self.w2v_vocab is not None:
            self.w2v_vocab.save(Path(dir_path) / W2V_VOCAB_ASSET)

    def load_assets(self, dir_path) -> None:
        if dir_path is None:  # Keras retries a layer whose assets failed under a path without assets
            raise getattr(self, "_asset_error", None) or MissingFileError(
                "the saved preprocessor has no assets folder (its vocabularies); save the model again")
        names = [GRU_VOCAB_ASSET, BOW_VOCAB_ASSET]
        if (Path(dir_path) / W2V_VOCAB_ASSET).is_file() or W2V_VOCAB_ASSET in (self.vocabulary_digests or {}):
            names.append(W2V_VOCAB_ASSET)  # models saved before w2vvx kept a word-vector vocabulary have none
        paths = [Path(dir_path) / name for name in names]
        missing = [path.name for path in paths if not path.is_file()]
        if missing:
            raise MissingFileError(f"the saved preprocessor lacks its vocabularies {missing}; the model file is "
                                   "incomplete, save it again", path=dir_path)
        vocabularies = [Vocabulary.load(path) for path in paths]
        for path, vocab in zip(paths, vocabularies):
            expected = (self.vocabulary_digests or {}).get(path.name)
            if not isinstance(expected, dict):
                continue  # saved before w2vvx recorded digests
            if expected.get("count") != len(vocab) or expected.get("sha256") != vocab.digest():
                self._asset_error = DataFormatError(
                    f"the vocabulary asset {path.name} of this saved model holds {len(vocab)} entries (sha256 "
                    f"{vocab.digest()[:12]}...) but the model was saved with {expected.get('count')} (sha256 "
                    f"{str(expected.get('sha256'))[:12]}...): the file was edited or damaged, so words would map to "
                    "other words' embeddings. Restore the model file or preset folder from its source, or save it "
                    "again from the run", path=Path(dir_path) / path.name)
                raise self._asset_error
        self.set_vocabularies(*vocabularies)

    def get_config(self):
        config = super().get_config()
        config.update({"languages": list(self.languages), "default_language": self.default_language,
                       "maxlen": self.maxlen})
        if self.gru_vocab is not None:
            config["vocabulary_digests"] = self.vocabulary_digests_now()
        elif self.vocabulary_digests is not None:
            config["vocabulary_digests"] = self.vocabulary_digests
        return config


def _known(language) -> bool:
    try:
        resolve_language(language)
    except ConfigError:
        return False
    return True
