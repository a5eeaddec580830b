"""The bundled sample set: the user copy, the priors, and a segmentation of a sample."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from spam_gui.core.io.images import read_image, read_label_map
from spam_gui.core.env import ENV_DATA_DIR
from spam_gui.samples import (
    bundled_samples_dir,
    sample_folder,
    sample_images,
    sample_prior_folder,
)

ROOT = Path(__file__).resolve().parents[2]


def test_bundled_set_is_small_and_documented():
    src = bundled_samples_dir()
    images = sample_images()
    assert 3 <= len(images) <= 4
    total = sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    assert total < 1.5e6
    readme = (src / "README.md").read_text(encoding="utf-8")
    for p in images:
        assert p.name in readme            # every photo has its source and licence listed


def test_priors_match_images():
    for img_path in sample_images():
        image = read_image(img_path)
        prior_path = bundled_samples_dir() / "priors" / f"{img_path.stem}.png"
        from PIL import Image

        with Image.open(prior_path) as im:
            assert im.mode.startswith("I;16") or im.mode == "I", (prior_path, im.mode)
        prior = read_label_map(prior_path)
        assert prior.shape == image.shape[:2], img_path.name
        ids = np.unique(prior)
        assert ids[0] == 0                  # some pixels are uncertain
        assert 3 <= len(ids) - 1 <= 100     # a handful of objects
        assert (prior == 0).mean() < 0.25   # but mostly objects


def test_sample_folder_copies_once(tmp_path):
    dest = tmp_path / "samples"
    out = sample_folder(dest)
    assert out == dest
    names = sorted(p.name for p in sample_images(out))
    assert names == sorted(p.name for p in sample_images())
    for name in names:
        assert (out / "priors" / f"{Path(name).stem}.png").is_file()
    assert sample_prior_folder(out) == out / "priors"
    # the copy is writable, and a second call keeps the user's files and restores deleted ones
    (out / "spam_labels").mkdir()
    (out / "README.md").write_text("mine", encoding="utf-8")
    (out / "priors" / "coffee.png").unlink()
    again = sample_folder(dest)
    assert again == out
    assert (out / "README.md").read_text(encoding="utf-8") == "mine"
    assert (out / "priors" / "coffee.png").is_file()
    assert not list(out.rglob(".*.part"))


def test_sample_folder_default_is_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "data"))
    out = sample_folder()
    assert out == tmp_path / "data" / "samples"
    assert len(sample_images(out)) == len(sample_images())


def test_sample_folder_error_names_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    from spam_gui.samples import SampleError

    with pytest.raises(SampleError, match=str(blocker)):
        sample_folder(blocker / "samples")


def test_segment_sample_with_prior(tmp_path):
    """A sample segmented with its prior: superpixels stay inside the prior's objects."""
    import torch

    from spam_gui.core.prior.maps import read_prior
    from spam_gui.core.engine.spam import Spam

    torch.set_num_threads(1)
    folder = sample_folder(tmp_path / "samples")
    img_path = folder / "coffee.jpg"
    image = read_image(img_path)
    prior = read_prior(sample_prior_folder(folder) / "coffee.png", shape=image.shape)
    res = Spam(encoder="none", device="cpu").segment(image, n_segments=150, prior=prior.object_map,
                                                     n_iter=4)
    assert res.labels.shape == image.shape[:2]
    assert res.labels.min() >= 1 and res.n_superpixels >= 100
    # every superpixel lies in one object: its object pixels all carry its object's id
    sp_obj = res.superpixel_object[res.labels]
    inside = prior.object_map > 0
    assert np.array_equal(sp_obj[inside], prior.object_map[inside])
    # many objects get their own superpixels
    assert len(np.unique(res.superpixel_object[1:])) >= 8


def test_spam_segment_cli_on_sample(tmp_path):
    from spam_gui.cli import main

    folder = sample_folder(tmp_path / "samples")
    out = tmp_path / "out"
    rc = main(["segment", str(folder / "immunohistochemistry.jpg"), "--out", str(out),
               "--prior", str(folder / "priors"), "--encoder", "none", "--device", "cpu",
               "-k", "100", "--iterations", "3", "--no-progress"])
    assert rc == 0
    labels = read_label_map(out / "immunohistochemistry.png")
    assert labels.shape == (512, 512) and labels.min() >= 1
    side = json.loads((out / "immunohistochemistry.json").read_text(encoding="utf-8"))
    assert side["prior"]["source"] == "label map"


def test_startup_target(tmp_path, monkeypatch):
    from spam_gui.app.first_run import startup_target

    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "data"))
    samples = str(tmp_path / "data" / "samples")
    assert startup_target(None, [], sample=False) == samples           # first launch
    assert startup_target("x.jpg", [], sample=False) == "x.jpg"
    assert startup_target("x.jpg", [], sample=True) == samples
    assert startup_target(None, [str(tmp_path)]) == str(tmp_path)       # last folder
    assert startup_target(None, [str(tmp_path / "gone")]) is None       # used before: no samples
    assert startup_target(None, [], restore=False) is None


@pytest.mark.skipif(importlib.util.find_spec("skimage") is None, reason="needs scikit-image")
def test_make_sample_priors_reproduces_committed_prior():
    import skimage

    if skimage.__version__ != "0.26.0":
        pytest.skip("the committed priors were made with scikit-image 0.26.0")
    spec = importlib.util.spec_from_file_location("make_sample_priors",
                                                  ROOT / "scripts" / "make_sample_priors.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    image = read_image(bundled_samples_dir() / "coffee.jpg")
    omap = mod.make_prior(image, mod.SETTINGS["coffee"])
    assert np.array_equal(omap, read_label_map(bundled_samples_dir() / "priors" / "coffee.png"))
