"""Locate the small data files that ship with w2vvx (stopword lists, synthetic word lists)."""
from pathlib import Path


def data_path(*parts: str) -> Path:
    """Return the path of a shipped data file.

    The files live in the repository's top-level ``data/`` folder, which is installed as the
    ``w2vvx.data`` package; both locations are looked up so that editable and regular installs work.

    Args:
        *parts: path components below ``data/``, e.g. ``("stopwords", "en.txt")``.

    Example:
        >>> data_path("stopwords", "en.txt").name
        'en.txt'
    """
    here = Path(__file__).resolve().parent
    for base in (here / "data", here.parent / "data"):
        candidate = base.joinpath(*parts)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"shipped data file {'/'.join(parts)!r} not found under {here / 'data'} or {here.parent / 'data'}; "
        "reinstall w2vvx (pip install -e .) so that its data/ folder is present"
    )
