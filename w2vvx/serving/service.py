"""The search behind the page: a trained run plus a stored index, queried by sentence, with checked input.

:class:`SearchService` is what ``w2vvx serve`` puts on the web; it is usable from Python too. It calls
the library's search (``Retriever.search`` over the index of ``w2vvx index build``) and adds the
checks a public text box needs: empty or too long queries, unknown languages, a bad ``k``, and queries
none of whose words the model knows (they would rank items by the padding alone) are refused with a
:class:`QueryError` naming the field.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from w2vvx.errors import ConfigError, QueryError as LibraryQueryError

MAX_QUERY_CHARS = 300
MAX_K = 100
_UNKNOWN_TOKEN = 1  # Vocabulary index of <unk> (0 is <pad>)


class QueryError(LibraryQueryError):
    """A query the service refuses; ``field`` names the bad parameter (``q``, ``k`` or ``language``).

    The library's own :class:`w2vvx.errors.QueryError` (a query none of whose words the model knows) is
    answered the same way, as a bad ``q``.
    """

    def __init__(self, message: str, field: str = "q"):
        super().__init__(message)
        self.field = field


class SearchService:
    """Search a stored index with a trained run's text encoder.

    Args:
        run_dir: a run folder of ``w2vvx train`` (its ``best.keras``).
        index_dir: an index folder of ``w2vvx index build`` made with that run.
        images: an image folder whose files are named by item id (thumbnails), or ``None``.

    Example:
        >>> service = SearchService("runs/photos", "photos_index", images="photos")  # doctest: +SKIP
        >>> service.search("a cat on a sofa", k=3)["results"][0]["id"]              # doctest: +SKIP
        'chelsea'
    """

    def __init__(self, run_dir, index_dir, images=None):
        from w2vvx.search.index_store import StoredIndex
        from w2vvx.training.run_dir import check_encoding
        from w2vvx.training.trainer import load_run

        self.run = load_run(run_dir)
        check_encoding(index_dir, run_dir)  # an index encoded by another run's model is refused
        self.index = StoredIndex.load(index_dir)
        self.run_name = Path(run_dir).resolve().name
        self.image_paths: Dict[str, Path] = {}
        if images is not None:
            from w2vvx.features.images import list_images

            self.image_paths = list_images(images)
        preprocessor = self.run.model.preprocessor
        if preprocessor is None:
            raise ConfigError(f"the model of {run_dir} has no preprocessor, so it cannot read sentences")
        self.languages: List[str] = list(preprocessor.languages)
        self.default_language: str = preprocessor.default_language
        self._lock = threading.Lock()  # one model call at a time

    @property
    def size(self) -> int:
        """Items in the index."""
        return len(self.index.ids)

    def check(self, query, k=10, language=None):
        """``(query, k, language)`` checked and normalised; :class:`QueryError` otherwise."""
        query = " ".join(str(query or "").split())
        if not query:
            raise QueryError("the query is empty; type a sentence describing the image", "q")
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(f"the query has {len(query)} characters; at most {MAX_QUERY_CHARS} are accepted", "q")
        try:
            k = int(str(k).strip())
        except ValueError:
            raise QueryError(f"k must be a whole number of results (1 to {MAX_K}), got {k!r}", "k") from None
        if not 1 <= k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}, got {k}", "k")
        language = (language or "").strip() or self.default_language
        if language not in self.languages:
            raise QueryError(f"this model reads {', '.join(self.languages)}, not {language!r}", "language")
        return query, k, language

    def search(self, query, k=10, language=None) -> dict:
        """The top ``k`` items for ``query``: ``{"query", "language", "k", "results": [{"rank", "id", "score",
        "captions", "image"}], "unknown_words"}``.

        Raises:
            QueryError: an empty/too long query, a bad ``k``, a language the model was not trained on, or a
                query none of whose words are in the model's vocabulary.
        """
        query, k, language = self.check(query, k, language)
        model = self.run.model
        with self._lock:
            tokens = model.preprocess([query], language=language)["tokens"][0]
            words = tokens[tokens != 0]
            unknown = int(np.sum(words == _UNKNOWN_TOKEN))
            if words.size == 0 or unknown == words.size:
                others = [code for code in self.languages if code != language]
                hint = f"; is it in another language ({', '.join(others)})?" if others else ""
                raise QueryError(f"none of the words of {query!r} are in the model's {language} vocabulary, so "
                                 f"it cannot rank anything{hint}", "q")
            ids, scores = model.search([query], index=self.index.index, k=min(k, self.size), language=language)
        results = []
        for rank, (item, score) in enumerate(zip(ids[0], scores[0]), start=1):
            if item is None:
                continue
            item = str(item)
            results.append({"rank": rank, "id": item, "score": round(float(score), 4),
                            "captions": self.index.captions_of(item),
                            "image": f"/images/{item}" if item in self.image_paths else None})
        return {"query": query, "language": language, "k": k, "results": results,
                "unknown_words": unknown, "words": int(words.size)}

    def info(self) -> dict:
        """What is served: run, languages, index size and kind, whether thumbnails are shown."""
        return {"run": self.run_name, "languages": self.languages, "default_language": self.default_language,
                "items": self.size, "index_kind": self.index.kind, "thumbnails": bool(self.image_paths),
                "max_k": MAX_K, "max_query_chars": MAX_QUERY_CHARS}

    def thumbnail(self, item: str, size: int = 256) -> Optional[bytes]:
        """A JPEG thumbnail of item ``item`` (``None`` when no image of that id is known)."""
        path = self.image_paths.get(item)
        if path is None:
            return None
        import io

        from PIL import Image

        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=85)
        return buffer.getvalue()
