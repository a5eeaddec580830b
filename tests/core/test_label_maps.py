"""Label maps and priors hold whole, non-negative ids: floats are accepted only when every
value is whole; 1.5, 0.4, NaN, inf and negative values are refused by name, never truncated."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from spam_gui.core.io.images import ImageReadError, integer_labels, read_label_map
from spam_gui.core.prior.maps import PriorError, prior_from_label_map, read_prior


def _float_tiff(path, values):
    Image.fromarray(np.asarray(values, dtype=np.float32)).save(path)
    return path


@pytest.mark.parametrize("bad, what", [(1.5, "non-integer"), (0.4, "non-integer"),
                                       (np.nan, "NaN"), (np.inf, "infinite"),
                                       (-2.0, "negative")])
def test_a_float_label_map_with_bad_values_is_refused_by_name(tmp_path, bad, what):
    arr = np.full((6, 8), 3.0)
    arr[2, 5] = bad
    path = _float_tiff(tmp_path / "prior.tif", arr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no raw numpy warning on the way
        with pytest.raises(ImageReadError) as exc:
            read_label_map(path)
        with pytest.raises(PriorError) as exc2:
            read_prior(path, shape=(6, 8))
    for e in (exc.value, exc2.value):
        assert str(path) in str(e) and what in str(e)
    if what == "non-integer":
        assert "row 2, column 5" in str(exc.value)


def test_a_float_label_map_of_whole_numbers_is_accepted(tmp_path):
    arr = np.zeros((6, 8))
    arr[:, 4:] = 70000.0
    arr[:3, :4] = 2.0
    labels = read_label_map(_float_tiff(tmp_path / "prior.tif", arr))
    assert labels.dtype == np.int32 and np.array_equal(labels, arr.astype(np.int32))
    prior = prior_from_label_map(arr)
    assert sorted(prior.objects) == [2, 70000]


def test_negative_integer_labels_are_refused(tmp_path):
    arr = np.ones((4, 5), np.int32)
    arr[0, 0] = -7
    path = tmp_path / "neg.tif"
    Image.fromarray(arr).save(path)
    with pytest.raises(ImageReadError, match="negative"):
        read_label_map(path)


def test_prior_from_label_map_refuses_fractional_arrays():
    with pytest.raises(PriorError, match="non-integer"):
        prior_from_label_map(np.array([[1.0, 1.5], [2.0, 0.0]]))
    assert np.array_equal(integer_labels(np.array([[True, False]])), [[1, 0]])
