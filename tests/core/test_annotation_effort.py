"""The greedy simulated annotator (spam_gui.core.evaluation.annotation_effort.simulate_annotation)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spam_gui.core.evaluation.annotation_effort import AnnotationRun, simulate_annotation
from spam_gui.core.evaluation.metrics import asa


def _blocks(h: int, w: int, bh: int, bw: int) -> np.ndarray:
    """Superpixels as a grid of bh x bw blocks, ids 1..n."""
    ry, rx = np.arange(h)[:, None] // bh, np.arange(w)[None, :] // bw
    return (ry * ((w + bw - 1) // bw) + rx + 1).astype(np.int32)


def _corner_case() -> tuple[np.ndarray, np.ndarray]:
    """6 x 6 pixels, class 7 on a 2 x 2 corner, class 3 elsewhere; nine 2 x 2 superpixels."""
    classes = np.full((6, 6), 3, dtype=np.int32)
    classes[4:, 4:] = 7
    return classes, _blocks(6, 6, 2, 2)


def test_superpixel_clicks_only_count_one_click_per_superpixel():
    classes, sp = _corner_case()
    run = simulate_annotation(classes, sp)
    assert run.n_clicks == 9 and run.n_pixels == 36
    assert run.correct.tolist() == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]
    assert not run.object_click.any()
    assert run.accuracy == 1.0 and not run.exhausted
    # 85 % of 36 pixels = 30.6 -> 31 pixels: eight superpixels (32 pixels)
    assert run.clicks_to(0.85) == 8
    assert run.clicks_to(0.0) == 0
    assert run.clicks_to(1.0) == 9


def test_object_fill_then_one_correction():
    classes, sp = _corner_case()
    whole = np.ones_like(classes)  # the image is one object: its fill gives 32 right pixels
    run = simulate_annotation(classes, sp, whole)
    assert run.correct.tolist() == [0, 32, 36]
    assert run.object_click.tolist() == [True, False]
    assert run.clicks_to(0.85) == 1 and run.clicks_to(0.95) == 2


def test_uncertain_pixels_are_no_object():
    classes, sp = _corner_case()
    objects = np.zeros_like(classes)  # every pixel uncertain: superpixel clicks only
    run = simulate_annotation(classes, sp, objects)
    assert run.n_clicks == 9 and not run.object_click.any()


def test_overwriting_right_pixels_counts_against_a_click():
    # two objects of 8 pixels; classes split one of them 5 / 3. After the two fills
    # (8 + 5 right), fixing the 3 minority pixels needs their superpixel.
    classes = np.array([[0, 0, 0, 0, 1, 1, 1, 1],
                        [0, 0, 0, 0, 1, 2, 2, 2]])
    objects = np.array([[1, 1, 1, 1, 2, 2, 2, 2],
                        [1, 1, 1, 1, 2, 2, 2, 2]])
    sp = np.array([[1, 1, 2, 2, 3, 3, 4, 4],
                   [1, 1, 2, 2, 3, 5, 5, 5]])
    run = simulate_annotation(classes, sp, objects)
    assert run.correct.tolist() == [0, 8, 13, 16]
    assert run.object_click.tolist() == [True, True, False]


def test_unreachable_level_stops_exhausted():
    # one superpixel holding two classes 50 / 50: at most half the pixels can be right
    classes = np.array([[1, 1, 2, 2]])
    run = simulate_annotation(classes, np.zeros_like(classes))
    assert run.correct.tolist() == [0, 2]
    assert run.exhausted
    assert run.clicks_to(0.5) == 1 and run.clicks_to(0.51) is None


def test_limits():
    classes, sp = _corner_case()
    capped = simulate_annotation(classes, sp, max_clicks=3)
    assert capped.n_clicks == 3 and not capped.exhausted and capped.clicks_to(0.5) is None
    stopped = simulate_annotation(classes, sp, target=0.5)
    assert stopped.correct[-1] == 20 and stopped.n_clicks == 5  # first count >= 18 pixels
    assert simulate_annotation(classes, sp, max_clicks=0).n_clicks == 0


def test_bad_inputs():
    classes, sp = _corner_case()
    with pytest.raises(ValueError, match="shape"):
        simulate_annotation(classes, sp[:4])
    with pytest.raises(ValueError, match="objects"):
        simulate_annotation(classes, sp, -np.ones_like(sp))
    with pytest.raises(ValueError, match="target"):
        simulate_annotation(classes, sp, target=1.5)
    with pytest.raises(ValueError, match="max_clicks"):
        simulate_annotation(classes, sp, max_clicks=-1)
    with pytest.raises(TypeError, match="integer"):
        simulate_annotation(classes.astype(float), sp)
    with pytest.raises(ValueError, match="level"):
        simulate_annotation(classes, sp).clicks_to(90)


def _reference(classes, sp, objects, max_clicks):
    """The same greedy written plainly with one boolean mask per region (the test oracle)."""
    regions = [sp == v for v in np.unique(sp)]
    n_sp = len(regions)
    if objects is not None:
        regions += [objects == v for v in np.unique(objects) if v > 0]
    right = np.zeros(classes.shape, dtype=bool)
    correct, kinds = [0], []
    while len(kinds) < max_clicks:
        best, best_gain, best_class = -1, 0, None
        for i, m in enumerate(regions):
            vals, counts = np.unique(classes[m], return_counts=True)
            c = vals[np.argmax(counts)]
            gain = int(np.sum(m & (classes == c))) - int(np.sum(m & right))
            if gain > best_gain:
                best, best_gain, best_class = i, gain, c
        if best < 0:
            break
        m = regions[best]
        right[m] = classes[m] == best_class
        correct.append(int(right.sum()))
        kinds.append(best >= n_sp)
    return correct, kinds


_maps = arrays(np.int64, (5, 6), elements=st.integers(0, 3))


@settings(max_examples=60, deadline=None)
@given(classes=_maps, sp=_maps, objects=st.one_of(st.none(), _maps), cap=st.integers(0, 40))
def test_matches_the_plain_greedy(classes, sp, objects, cap):
    run = simulate_annotation(classes, sp, objects, max_clicks=cap)
    correct, kinds = _reference(classes, sp, objects, cap)
    assert run.correct.tolist() == correct
    assert run.object_click.tolist() == kinds
    assert isinstance(run, AnnotationRun)
    assert np.all(np.diff(run.correct) > 0)
    if run.exhausted:  # no superpixel click gains: every superpixel holds its majority's count
        reachable = asa(sp, classes) * classes.size
        assert run.correct[-1] >= round(reachable)
        if objects is None:
            assert run.correct[-1] == round(reachable)


def test_an_object_click_fills_what_the_app_fills_the_uncertain_pixels_included():
    """The fill map (``SegmentationResult.fill_map``): every pixel takes its superpixel's
    object, so a fill covers the prior's uncertain pixels that joined the object's superpixels
    (as the app's Shift+click fill does); the prior map alone would leave them to superpixel
    clicks."""
    from spam_gui.core import Spam

    rng = np.random.default_rng(0)
    img = np.zeros((48, 64, 3), dtype=np.uint8)
    img[:, 32:] = 200
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    prior = np.ones((48, 64), dtype=np.int32)
    prior[:, 32:] = 2
    prior[:, 30:34] = 0                                    # an uncertain band between them
    res = Spam(encoder=None, device="cpu").segment(img, n_segments=24, prior=prior)
    fills = res.fill_map()
    assert fills.shape == prior.shape
    np.testing.assert_array_equal(fills, np.asarray(res.superpixel_object)[res.labels])
    inside = prior > 0
    np.testing.assert_array_equal(fills[inside], prior[inside])  # objects keep their pixels
    assert (fills[~inside] > 0).all()                            # the band joined them
    classes = np.where(np.arange(64)[None, :] < 32, 1, 2).repeat(48, axis=0)
    app = simulate_annotation(classes, res.labels, fills, target=0.99)
    prior_only = simulate_annotation(classes, res.labels, prior, target=0.99)
    assert app.correct[2] > prior_only.correct[2]          # two fills: the band is covered
    assert app.clicks_to(0.99) < prior_only.clicks_to(0.99)
