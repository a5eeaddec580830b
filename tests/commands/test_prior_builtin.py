"""``spam prior --method builtin`` (the default without a checkpoint or masks)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from spam_gui.cli import main
from spam_gui.core.io.images import read_label_map
from spam_gui.core.params import PRIOR_DEFAULTS


def _img(path, h=40, w=56, seed=0):
    rng = np.random.default_rng(seed)
    a = np.zeros((h, w, 3))
    a[:, : w // 2] = (210, 50, 40)
    a[:, w // 2:] = (40, 70, 200)
    a[h // 2:, w // 2:] = (50, 190, 60)
    a += rng.normal(0, 5, a.shape)
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SPAM_SAM_CHECKPOINT", raising=False)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    _img(imgs / "a.png")
    _img(imgs / "b.jpg", h=36, w=30, seed=1)
    (imgs / "c.png").write_bytes(b"\x89PNG broken")
    return imgs


def test_builtin_is_the_default(folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["prior", str(folder), "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 1                                       # c.png failed, at the end
    assert "c.png" in cap.err and "1 of 3 image(s) failed" in cap.err
    assert "a.png" in cap.out and "built-in prior" in cap.out
    for stem, shape in (("a", (40, 56)), ("b", (36, 30))):
        prior = read_label_map(out / f"{stem}.png")
        assert prior.shape == shape
        n = int(prior.max())
        assert n >= 1 and set(np.unique(prior).tolist()) - {0} == set(range(1, n + 1))
        for oid in range(1, n + 1):
            assert ndi.label(prior == oid)[1] == 1
        side = json.loads((out / f"{stem}.json").read_text())
        assert side["source"] == "builtin" and side["tool"] == "spam prior"
        assert side["n_objects"] == n and side["size"] == [shape[1], shape[0]]
        assert side["builtin"]["coarseness"] == pytest.approx(PRIOR_DEFAULTS.coarseness)
        assert side["builtin"]["encoder"].startswith("spam_encoder_d20")
        assert len(side["image_sha256"]) == 64
    assert not (out / "c.png").exists() and not (out / "c.json").exists()


def test_coarseness_and_method_flags(folder, tmp_path, capsys):
    fine, coarse = tmp_path / "fine", tmp_path / "coarse"
    img = folder / "a.png"
    assert main(["prior", str(img), "--out", str(fine), "--method", "builtin",
                 "--coarseness", "0.05"]) == 0
    assert main(["prior", str(img), "--out", str(coarse), "--coarseness", "1"]) == 0
    n_fine = int(read_label_map(fine / "a.png").max())
    n_coarse = int(read_label_map(coarse / "a.png").max())
    assert n_fine >= n_coarse == 1
    side = json.loads((fine / "a.json").read_text())
    assert side["builtin"]["coarseness"] == pytest.approx(0.05)
    capsys.readouterr()
    assert main(["prior", str(img), "--out", str(fine), "--coarseness", "1.5"]) == 2
    assert "--coarseness" in capsys.readouterr().err
    assert main(["prior", str(img), "--out", str(fine), "--method", "masks"]) == 2
    assert "--masks" in capsys.readouterr().err
    assert main(["prior", str(img), "--out", str(fine), "--method", "builtin",
                 "--masks", str(tmp_path / "m.npz")]) == 2
    assert "--masks" in capsys.readouterr().err
    assert main(["prior", str(img), "--out", str(fine), "--encoder",
                 str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_segment_with_the_builtin_prior(folder, tmp_path, capsys):
    """``spam segment --builtin-prior``: the same objects as ``spam prior``, superpixels inside
    them, the prior named in the sidecar; another coarseness is redone, not skipped."""
    img = folder / "a.png"
    priors, out = tmp_path / "priors", tmp_path / "seg"
    assert main(["prior", str(img), "--out", str(priors), "--coarseness", "0.3"]) == 0
    assert main(["segment", str(img), "--out", str(out), "--builtin-prior", "--coarseness",
                 "0.3", "-k", "30", "--no-progress"]) == 0
    objects = read_label_map(out / "a_objects.png")
    assert np.array_equal(objects, read_label_map(priors / "a.png"))
    labels = read_label_map(out / "a.png")
    for sp in np.unique(labels):
        assert len(np.unique(objects[(labels == sp) & (objects > 0)])) <= 1
    side = json.loads((out / "a.json").read_text())
    assert side["prior"]["source"] == "builtin"
    assert side["prior"]["coarseness"] == pytest.approx(0.3)
    assert len(side["prior"]["edge_model_sha256"]) == 64
    capsys.readouterr()
    assert main(["segment", str(img), "--out", str(out), "--builtin-prior", "--coarseness",
                 "0.8", "-k", "30", "--no-progress"]) == 0
    assert "1 done, 0 skipped" in capsys.readouterr().err
    assert main(["segment", str(img), "--out", str(out), "--builtin-prior", "--prior",
                 str(priors)]) == 2
    assert main(["segment", str(img), "--out", str(out), "--coarseness", "0.3"]) == 2
    assert "--builtin-prior" in capsys.readouterr().err
