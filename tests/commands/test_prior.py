"""``spam prior``: from .npz mask proposals and from a (reduced) SAM checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from spam_gui.cli import main
from spam_gui.core.io.images import read_label_map
from spam_gui.core.prior.maps import write_masks_npz


def _img(path, h=40, w=50):
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_prior_from_masks(tmp_path, capsys):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    _img(imgs / "a.png")
    _img(imgs / "b.png")
    _img(imgs / "c.png")
    (imgs / "d.png").write_bytes(b"broken")
    masks = tmp_path / "masks"
    m = np.zeros((2, 40, 50), dtype=bool)
    m[0, :, :20] = True
    m[1, :, 22:] = True
    write_masks_npz(masks / "a.npz", m, scores=[0.9, 0.95])
    write_masks_npz(masks / "b.npz", np.zeros((1, 30, 50), dtype=bool))   # wrong size
    out = tmp_path / "out"
    rc = main(["prior", str(imgs), "--out", str(out), "--masks", str(masks)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "b.npz" in err and "50x30" in err          # wrong size, named
    assert "c.npz: no such file" in err               # missing masks, named
    assert "d.png" in err                             # unreadable image, named
    assert "3 of 4 image(s) failed" in err
    labels = read_label_map(out / "a.png")
    with Image.open(out / "a.png") as im:
        assert im.mode.startswith("I;16")             # 16-bit PNG
    assert labels.shape == (40, 50)
    assert (labels[:, 20:22] == 0).all() and len(np.unique(labels)) == 3
    side = json.loads((out / "a.json").read_text())
    assert side["source"] == "masks" and side["masks"]["n_proposals"] == 2
    assert side["aggregation"]["opening"] == 5 and side["n_objects"] == 2
    assert sorted(o["proposal"] for o in side["objects"]) == [0, 1]
    assert sorted(o["score"] for o in side["objects"]) == pytest.approx([0.9, 0.95])
    assert not (out / "b.png").exists() and not (out / "d.json").exists()


def test_prior_argument_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SPAM_SAM_CHECKPOINT", raising=False)
    img = _img(tmp_path / "a.png")
    # no checkpoint and no masks is the built-in prior (tests/commands/test_prior_builtin.py);
    # SAM asked for by name still needs a checkpoint
    assert main(["prior", str(img), "--out", str(tmp_path / "o"), "--method", "sam"]) == 2
    assert "--sam-checkpoint" in capsys.readouterr().err
    img2 = _img(tmp_path / "b.png")
    write_masks_npz(tmp_path / "m.npz", np.zeros((0, 40, 50), dtype=bool))
    assert main(["prior", str(img), str(img2), "--out", str(tmp_path / "o"),
                 "--masks", str(tmp_path / "m.npz")]) == 2
    assert "one file but 2 images" in capsys.readouterr().err
    # one image, no proposals at all: the whole image is one background object
    assert main(["prior", str(img), "--out", str(tmp_path / "o"),
                 "--masks", str(tmp_path / "m.npz")]) == 0
    assert (read_label_map(tmp_path / "o" / "a.png") == 1).all()


def test_prior_from_sam_checkpoint(tmp_path, capsys, monkeypatch):
    from tests.core.test_sam import _tiny_sam

    torch.set_num_threads(1)
    ckpt = tmp_path / "tiny.pth"
    torch.save(_tiny_sam().state_dict(), ckpt)
    monkeypatch.setenv("SPAM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SPAM_SAM_CHECKPOINT", str(ckpt))   # the default checkpoint
    img = _img(tmp_path / "photo.jpg", 48, 64)
    out = tmp_path / "out"
    args = ["prior", str(img), "--out", str(out), "--points-per-side", "4", "--device", "cpu",
            "--pred-iou-thresh", "-1", "--stability-score-thresh", "0", "--save-proposals"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "photo.jpg" in first and "SAM proposals" in first
    side = json.loads((out / "photo.json").read_text())
    assert side["source"] == "sam" and side["sam"]["checkpoint"]["variant"] == "custom"
    assert side["sam"]["generator"]["points_per_side"] == 4
    assert side["size"] == [64, 48]
    labels = read_label_map(out / "photo.png")
    assert set(np.unique(labels)) - {0} == {o["id"] for o in side["objects"]}
    with np.load(out / "photo_masks.npz") as z:
        assert z["masks"].dtype == bool and z["masks"].shape[1:] == (48, 64)

    # second open (outputs redone: without --save-proposals they are not the same outputs)
    assert main(args[:-1]) == 0                               # from the cache
    assert "from the cache" in capsys.readouterr().out
    np.testing.assert_array_equal(read_label_map(out / "photo.png"), labels)

    bad = tmp_path / "sam_vit_h_4b8939.pth"
    bad.write_bytes(b"\0" * 100)
    # a bad checkpoint is bad input: exit 2, as from spam segment
    assert main(["prior", str(img), "--out", str(out), "--sam-checkpoint", str(bad)]) == 2
    assert "sam_vit_h_4b8939.pth" in capsys.readouterr().err
