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
