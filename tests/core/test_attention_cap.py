"""Visual attention keeps the background alive (issue 12, item 8).

When salient objects cover more than about 1/r of the image, the SPEC §3.3 budget leaves the
background objects one superpixel each. The foreground is capped at ``K - N_b / 5`` (N_b: the
background's uniform share), every background object keeps at least a fifth of its uniform
share, and the result says so (``ObjectInfo.attention_capped``, the sidecar's objects and
params).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from spam_gui.core import Spam
from spam_gui.core.engine.budget import attention_allocation

FEW = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def spam() -> Spam:
    return Spam(encoder=None, device="cpu")


def _image(h: int, w: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = ndi.gaussian_filter(rng.random((h, w, 3)), (2.0, 2.0, 0))
    smooth = (smooth - smooth.min()) / max(np.ptp(smooth), 1e-9)
    return (smooth * 255).astype(np.uint8)


def _scene(salient_rows: int, h: int = 80, w: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two salient objects in the top ``salient_rows`` rows, three background objects below
    (a large one, a middle one and a small one); the saliency map is 1 on the salient ones."""
    prior = np.full((h, w), 7, np.int64)           # large background object
    prior[:salient_rows, : w // 2] = 1
    prior[:salient_rows, w // 2:] = 2
    prior[salient_rows:, int(0.7 * w):] = 8        # middle background object
    prior[h - 6:, :10] = 9                         # small background object
    saliency = np.isin(prior, (1, 2)).astype(np.float64)
    return _image(h, w), prior, saliency


@pytest.mark.parametrize("r", [2.0, 2.5, 4.0])
def test_sixty_percent_salient_keeps_a_fifth_of_the_background(spam, r):
    img, prior, sal = _scene(48)                   # 48 of 80 rows: 60 % salient
    k = 300
    res = spam.segment(img, n_segments=k, prior=prior, saliency=sal, attention_ratio=r)
    info = res.objects_info
    assert {o for o, i in info.items() if i.salient} == {1, 2}
    assert sum(i.k for i in info.values()) == k    # the total stays K
    n_pix = prior.size
    for o in (7, 8, 9):
        uniform = k * info[o].area / n_pix
        assert info[o].k >= max(1, int(np.floor(uniform / 5 + 1e-9))), (o, info[o].k, uniform)
    assert sum(info[o].k for o in (7, 8, 9)) >= np.ceil(0.2 * k * 0.4)
    # the foreground keeps the higher density
    d_fg = (info[1].k + info[2].k) / (info[1].area + info[2].area)
    d_bg = sum(info[o].k for o in (7, 8, 9)) / sum(info[o].area for o in (7, 8, 9))
    assert d_fg > d_bg
    # the cap is recorded, per object and in the parameters
    assert all(i.attention_capped is True for i in info.values())
    assert all(i.as_dict()["attention_capped"] is True for i in info.values())
    assert res.params["attention_capped"] is True
    # the large background object really has several superpixels
    assert res.superpixel_counts()[7] > 1


def test_small_salient_objects_are_not_capped(spam):
    img, prior, sal = _scene(12)                   # 15 % salient: far below the cap
    k = 300
    res = spam.segment(img, n_segments=k, prior=prior, saliency=sal, attention_ratio=2.5)
    info = res.objects_info
    ids = sorted(info)
    areas = np.array([info[o].area for o in ids])
    salient = np.array([bool(info[o].salient) for o in ids])
    # the plain SPEC §3.3 budget, as without any background share
    plain = attention_allocation(areas, k, salient, 2.5, background_min_share=0.0)
    assert [info[o].k for o in ids] == plain.k.tolist()
    assert all(i.attention_capped is False for i in info.values())
    assert res.params["attention_capped"] is False


def test_without_attention_nothing_is_recorded(spam):
    img, prior, _ = _scene(48)
    res = spam.segment(img, n_segments=200, prior=prior)
    assert all(i.attention_capped is None for i in res.objects_info.values())
    assert res.params["attention_capped"] is None


@FEW
@given(st.integers(30, 70), st.sampled_from([1.5, 2.5, 4.0, 8.0]), st.integers(120, 600))
def test_background_share_for_any_salient_cover(spam, salient_rows, r, k):
    img, prior, sal = _scene(salient_rows)
    res = spam.segment(img, n_segments=k, prior=prior, saliency=sal, attention_ratio=r, n_iter=2)
    info = res.objects_info
    assert sum(i.k for i in info.values()) == k
    for o in (7, 8, 9):
        assert info[o].k >= max(1, int(np.floor(k * info[o].area / prior.size / 5 + 1e-9)))
    f = (info[1].area + info[2].area) / prior.size
    # capped exactly when r times the foreground's share would not leave the background
    # its reserve N_b / 5 (slack: rounding, and the three background objects' minimum of 1)
    reserve = 0.2 * k * (1 - f)
    if r * k * f + 4 <= k - reserve:
        assert info[1].attention_capped is False
    elif r * k * f - 1 >= k - reserve:
        assert info[1].attention_capped is True
