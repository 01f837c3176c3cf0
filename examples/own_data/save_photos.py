"""Save the photographs bundled with scikit-image into a folder, as JPEG files named by id.

    python examples/own_data/save_photos.py my_photos

They match examples/own_data/captions.csv (captions written by hand for these pictures).
"""
import sys
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

PHOTOS = {  # file name -> skimage.data function (all bundled in the wheel, no download)
    "astronaut": "astronaut", "camera": "camera", "chelsea": "chelsea", "coffee": "coffee", "coins": "coins",
    "colorwheel": "colorwheel", "grass": "grass", "gravel": "gravel", "hubble": "hubble_deep_field",
    "ihc": "immunohistochemistry", "moon": "moon", "page": "page", "retina": "retina", "rocket": "rocket",
    "clock": "clock", "motorcycle": "stereo_motorcycle", "horse": "horse", "brick": "brick",
}


def save_photos(folder, max_side: int = 320) -> list:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, function in PHOTOS.items():
        pixels = getattr(skimage.data, function)()
        if isinstance(pixels, tuple):  # stereo_motorcycle: (left, right, disparity)
            pixels = pixels[0]
        pixels = np.asarray(pixels)
        if pixels.dtype == bool:
            pixels = np.where(pixels, 0, 255).astype(np.uint8)  # the horse silhouette: black on white
        image = Image.fromarray(pixels).convert("RGB")
        image.thumbnail((max_side, max_side))
        image.save(folder / f"{name}.jpg", quality=90)
        written.append(folder / f"{name}.jpg")
    return written


if __name__ == "__main__":
    paths = save_photos(sys.argv[1] if len(sys.argv) > 1 else "my_photos")
    print(f"saved {len(paths)} photos in {paths[0].parent}")
