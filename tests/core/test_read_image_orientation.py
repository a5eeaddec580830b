"""read_image honours EXIF orientation, and copies the pixels only when it has to turn them."""

from __future__ import annotations

import numpy as np
from PIL import Image

from spam_gui.core.io.images import read_image


def _saved(tmp_path, name, orientation):
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    kw = {}
    if orientation is not None:
        exif = im.getexif()
        exif[0x0112] = orientation
        kw["exif"] = exif
    im.save(tmp_path / name, **kw)          # PNG: lossless, so the pixels compare exactly
    return arr


def test_orientation_turns_the_pixels(tmp_path):
    arr = _saved(tmp_path, "plain.png", None)
    assert np.array_equal(read_image(tmp_path / "plain.png"), arr)
    arr1 = _saved(tmp_path, "one.png", 1)
    assert np.array_equal(read_image(tmp_path / "one.png"), arr1)
    arr6 = _saved(tmp_path, "six.png", 6)   # 6: rotate 90° clockwise to display
    out = read_image(tmp_path / "six.png")
    assert out.shape == (20, 12, 3)
    assert np.array_equal(out, np.rot90(arr6, k=-1))
