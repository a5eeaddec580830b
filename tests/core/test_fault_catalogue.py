"""Issue 23, the fault catalogue (items 13-21): each case with a real payload or a simulated
failure, the message in our words naming the file and the problem."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spam_gui.core.errors import SpamError


def _image(h: int = 40, w: int = 60) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.full((h, w, 3), 90, np.uint8)
    img[:, w // 2:] = (200, 60, 50)
    return np.clip(img + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- 13 changed prior


def test_ratio_of_an_object_the_prior_lost_is_dropped_and_reported():
    from spam_gui.core.spam import DroppedRatiosWarning, Spam

    img = _image()
    prior = np.ones(img.shape[:2], np.int32)
    prior[:, 30:] = 2
    spam = Spam(encoder=None, device="cpu")
    with pytest.warns(DroppedRatiosWarning, match="object 11 not used"):
        res = spam.segment(img, n_segments=20, prior=prior, ratios={2: 2.0, 11: 3.0}, n_iter=2)
    assert res.params["dropped_ratios"] == {"11": 3.0}
    assert res.objects_info[2].ratio == 2.0                   # the ratio that applies is kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = spam.segment(img, n_segments=20, prior=prior, ratios={2: 2.0}, n_iter=2)
    assert "dropped_ratios" not in clean.params
    assert np.array_equal(clean.labels, res.labels)          # the same as without the stale one


def test_ratios_array_errors_are_ours():
    from spam_gui.core.budget import ratios_array, split_ratios

    assert split_ratios([1, 2], {2: 2.0, 11: 3.0}) == ({2: 2.0}, {11: 3.0})
    with pytest.raises(SpamError, match="object 5, which is not in the prior"):
        ratios_array([3, 7], {5: 2.0})


# ----------------------------------------------------------------------------- 14 large K


@pytest.mark.parametrize("h, w, k", [(2, 2, 4), (1, 200, 50), (40, 60, 2400), (10, 10, 100)])
def test_k_up_to_one_superpixel_per_pixel_is_delivered(h, w, k):
    """14: K near the pixel count used to collapse into one superpixel (the thin-sliver merge
    took every one-pixel-thick superpixel); now one per pixel at most is delivered."""
    from spam_gui.core.spam import Spam

    img = np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = Spam(encoder=None, device="cpu").segment(img, n_segments=k, n_iter=3)
    if k == h * w:
        assert res.n_superpixels == k          # one superpixel per pixel
    else:
        assert abs(res.n_superpixels - k) <= 0.1 * k
    assert res.labels.min() == 1 and res.labels.max() == res.n_superpixels


def test_large_k_stays_close_and_k_above_the_pixels_is_said():
    from spam_gui.core.spam import Spam

    img = np.repeat(np.repeat(np.random.default_rng(2).integers(0, 255, (12, 16, 3),
                                                                 dtype=np.uint8), 10, 0), 10, 1)
    spam = Spam(encoder=None, device="cpu")
    with warnings.catch_warnings(record=True) as caught:          # mean size 1.6 pixels
        warnings.simplefilter("always")
        res = spam.segment(img, n_segments=12000, n_iter=3)
    assert res.n_superpixels >= 0.5 * 12000                     # was 1 before
    said = [str(w.message) for w in caught]
    if res.n_superpixels < 0.75 * 12000:                         # short of K: said, with N
        assert said == [f"n_segments=12000 asked, {res.n_superpixels} superpixels delivered: "
                        "this image (or its prior's objects) cannot hold more at this density"]
    else:
        assert not said
    with pytest.warns(UserWarning, match="exceeds the 19200 pixels"):
        res = spam.segment(img, n_segments=50000, n_iter=3)
    assert res.n_superpixels == 19200
    assert "exceeds the 19200 pixels" in res.params["notes"][0]


def test_far_fewer_superpixels_than_k_is_said_with_the_number():
    """A prior whose objects cover 3 pixels cannot hold K = 50: the result says 3."""
    from spam_gui.core.spam import Spam

    img = _image()
    prior = np.zeros(img.shape[:2], np.int32)
    prior[5, 5:8] = 1
    with pytest.warns(UserWarning, match="n_segments=50 asked, 3 superpixels delivered"):
        res = Spam(encoder=None, device="cpu").segment(img, n_segments=50, prior=prior,
                                                        n_iter=2)
    assert res.n_superpixels == 3
    assert any("3 superpixels delivered" in n for n in res.params["notes"])


def test_cli_segment_of_a_tiny_image_gives_one_superpixel_per_pixel(tmp_path, capsys):
    from PIL import Image

    from spam_gui.cli import main as spam_main

    Image.fromarray(np.random.default_rng(3).integers(0, 255, (2, 2, 3), dtype=np.uint8)).save(
        tmp_path / "tiny.png")
    rc = spam_main(["segment", str(tmp_path / "tiny.png"), "--out", str(tmp_path / "out"),
                    "-k", "4", "--encoder", "none", "--device", "cpu"])
    assert rc == 0
    labels = np.asarray(Image.open(tmp_path / "out" / "tiny.png"))
    assert sorted(np.unique(labels).tolist()) == [1, 2, 3, 4]
    rc = spam_main(["segment", str(tmp_path / "tiny.png"), "--out", str(tmp_path / "out2"),
                    "-k", "9", "--encoder", "none", "--device", "cpu"])
    assert rc == 0
    assert "exceeds the 4 pixels" in capsys.readouterr().err
