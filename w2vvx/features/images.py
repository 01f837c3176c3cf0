"""Image folders: which files are images, the id of each (the id rule), and loading them as model input.

**The id rule.** An image's id is its file name without the extension: ``photos/dog_01.jpg`` is
``dog_01``. This is the lineage's rule (captions ``dog_01.jpg#enc#0`` name the item ``dog_01``, see
:mod:`w2vvx.io.captions`), so feature files, ImageSets and captions meet on the same id. Ids are
case-sensitive; sub-folders are not searched (one folder per collection, or per video's frames).
Two files with the same stem (``a.jpg`` and ``a.png``) or a stem with whitespace are refused, since
they cannot be told apart in ``id.txt``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError

#: File suffixes read as images (case-insensitive).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def image_id(path) -> str:
    """The item id of an image file: its name without the extension (the lineage's id rule).

    Example:
        >>> image_id("photos/COCO_val2014_000000000042.jpg"), image_id("cat.PNG")
        ('COCO_val2014_000000000042', 'cat')
    """
    return Path(path).stem


def list_images(folder) -> Dict[str, Path]:
    """``{id: path}`` of the images directly in ``folder``, sorted by id.

    Args:
        folder: a folder of image files (other files are ignored; sub-folders are not searched).

    Raises:
        MissingFileError: the folder does not exist.
        DataFormatError: two images with the same id, an id with whitespace, or no image at all.

    Example:
        >>> import tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> for name in ("b.jpg", "a.png", "notes.txt"):
        ...     _ = open(os.path.join(folder, name), "w").close()
        >>> list(list_images(folder))
        ['a', 'b']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError("image folder not found; give the folder holding the image files", path=folder)
    found: Dict[str, Path] = {}
    for child in sorted(folder.iterdir()):
        if not child.is_file() or child.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        item = image_id(child)
        if not item or item.split() != [item]:
            raise DataFormatError(f"the image id {item!r} (the file name without extension) is empty or contains "
                                  "whitespace, which id.txt cannot hold; rename the file (e.g. spaces to '_')",
                                  path=child)
        if item in found:
            raise DataFormatError(f"two images have the id {item!r} ({found[item].name} and {child.name}); ids are "
                                  "file names without extension, so rename or remove one", path=child)
        found[item] = child
    if not found:
        raise DataFormatError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder", path=folder)
    return dict(sorted(found.items()))


def load_image(path, size: int) -> np.ndarray:
    """Read an image as RGB, resize its shorter side to ``size`` and crop the centre: ``(size, size, 3)`` float32
    in ``[0, 255]``.

    Raises:
        DataFormatError: the file is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ConfigError(f"image size must be an integer >= 8 (pixels), got {size!r}")
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            width, height = image.size
            scale = size / min(width, height)
            resized = image.resize((max(size, round(width * scale)), max(size, round(height * scale))),
                                   Image.BICUBIC)
            left = (resized.width - size) // 2
            top = (resized.height - size) // 2
            cropped = resized.crop((left, top, left + size, top + size))
            return np.asarray(cropped, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataFormatError(f"cannot read this image ({type(error).__name__}: {error}); remove or re-save it",
                              path=path) from None


def load_batch(paths: List[Path], size: int) -> np.ndarray:
    """Stack :func:`load_image` of each path: ``(len(paths), size, size, 3)`` float32."""
    return np.stack([load_image(path, size) for path in paths]) if paths else np.zeros((0, size, size, 3),
                                                                                         np.float32)
