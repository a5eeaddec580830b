"""``spam segment`` on small generated folders: outputs, priors, and errors reported by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.measure import label as cc_label

from spam_gui.cli import main
from spam_gui.core.io.images import read_label_map

H, W = 30, 40


def _image(seed: int, h: int = H, w: int = W) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = rng.integers(0, 256, 3)
    img[h // 3:, w // 2:] = rng.integers(0, 256, 3)
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


def _prior(h: int = H, w: int = W) -> np.ndarray:
    p = np.full((h, w), 4, np.uint16)
    p[h // 3:, w // 2:] = 9
    p[h // 3 - 1, :] = 0
    return p


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    Image.fromarray(_image(0)).save(d / "a.png")
    Image.fromarray(_image(1)).save(d / "b.jpg", quality=95)
    (d / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    (d / "notes.txt").write_text("not an image, and not picked up")
    return d


def _outputs(out: Path, stem: str) -> list[Path]:
    return [out / f"{stem}.png", out / f"{stem}_objects.png", out / f"{stem}.json"]


def _check_output(out: Path, stem: str, prior: np.ndarray | None = None) -> dict:
    labels = read_label_map(out / f"{stem}.png")
    objects = read_label_map(out / f"{stem}_objects.png")
    doc = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
    n = int(labels.max())
    assert np.array_equal(np.unique(labels), np.arange(1, n + 1))
    assert cc_label(labels, background=0, connectivity=1).max() == n
    assert doc["n_superpixels"] == n
    expected = np.ones_like(labels) if prior is None else prior.astype(np.int32)
    assert np.array_equal(objects, expected)
    sp_obj = np.asarray(doc["superpixel_object"])   # indexed by label, like the API
    certain = objects > 0
    assert np.array_equal(sp_obj[labels][certain], objects[certain])
    return doc


def test_folder_with_a_corrupt_image(folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["segment", str(folder), "--out", str(out), "--n-segments", "40",
               "--encoder", "none", "--no-progress"])
    err = capsys.readouterr().err
    assert rc != 0
    assert "bad.png" in err
    for stem in ("a", "b"):
        assert all(p.is_file() for p in _outputs(out, stem))
        doc = _check_output(out, stem)
        assert doc["parameters"]["n_segments"] == 40
        assert doc["parameters"]["encoder"] == "none (D=5)"
        assert doc["prior"]["source"] == "none"
        assert doc["image"]["name"] == ("a.png" if stem == "a" else "b.jpg")
    assert not any(p.exists() for p in _outputs(out, "bad"))
    assert "2 of 3" in err
    assert not list(out.glob(".*"))   # no temporary files left


def test_good_inputs_exit_zero_and_options_reach_the_sidecar(folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["segment", str(folder / "a.png"), str(folder / "b.jpg"), "--out", str(out),
               "-k", "25", "--lambda-s", "3", "--lambda-c", "0.5", "--iterations", "4",
               "--seed", "7", "--smoothing", "2", "--encoder", "none", "--device", "cpu",
               "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    doc = _check_output(out, "a")
    p = doc["parameters"]
    assert (p["n_segments"], p["lambda_s"], p["lambda_c"], p["n_iter"], p["seed"]) == (25, 3.0, 0.5, 4, 7)
    assert p["smoothing"] == 2
    # the same command again gives the same maps
    first = (out / "a.png").read_bytes()
    out2 = tmp_path / "out2"
    main(["segment", str(folder / "a.png"), "--out", str(out2), "-k", "25", "--lambda-s", "3",
          "--lambda-c", "0.5", "--iterations", "4", "--seed", "7", "--smoothing", "2",
          "--encoder", "none", "--no-progress"])
    assert np.array_equal(read_label_map(out2 / "a.png"), read_label_map(out / "a.png"))
    assert first == (out2 / "a.png").read_bytes()


def test_prior_folder(folder, tmp_path, capsys):
    priors = tmp_path / "priors"
    priors.mkdir()
    prior = _prior()
    Image.fromarray(prior).save(priors / "a.png")
    Image.fromarray(prior).save(priors / "b.png")
    (folder / "bad.png").unlink()
    out = tmp_path / "out"
    rc = main(["segment", str(folder), "--out", str(out), "-k", "30", "--prior", str(priors),
               "--encoder", "none", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    for stem in ("a", "b"):
        doc = _check_output(out, stem, prior)
        pinfo = doc["prior"]
        assert pinfo["source"] == "label map" and pinfo["file"] == f"{stem}.png"
        assert pinfo["path"].endswith(f"{stem}.png") and len(pinfo["sha256"]) == 64
        assert pinfo["prompts"] == []
        assert [o["id"] for o in doc["objects"]] == [4, 9]
        assert doc["parameters"]["prior"] is True


def test_prior_of_the_wrong_size_is_reported(folder, tmp_path, capsys):
    priors = tmp_path / "priors"
    priors.mkdir()
    Image.fromarray(_prior()).save(priors / "a.png")
    Image.fromarray(_prior(H + 2, W - 3)).save(priors / "b.png")    # wrong size
    (folder / "bad.png").unlink()
    out = tmp_path / "out"
    rc = main(["segment", str(folder), "--out", str(out), "-k", "30", "--prior", str(priors),
               "--encoder", "none", "--no-progress"])
    err = capsys.readouterr().err
    assert rc != 0
    assert "b.png" in err and f"{W - 3}x{H + 2}" in err and f"{W}x{H}" in err
    _check_output(out, "a", _prior())
    assert not any(p.exists() for p in _outputs(out, "b"))


def test_missing_prior_map_is_a_warning_and_the_image_gets_the_automatic_prior(folder, tmp_path,
                                                                                capsys):
    """The app's rule: a map missing from the prior folder is a warning naming the image and
    the folder; that image is segmented with the automatic prior (the whole image one object)."""
    priors = tmp_path / "priors"
    priors.mkdir()
    Image.fromarray(_prior()).save(priors / "a.png")
    (folder / "bad.png").unlink()
    out = tmp_path / "out"
    rc = main(["segment", str(folder), "--out", str(out), "-k", "30", "--prior", str(priors),
               "--encoder", "none", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "b.jpg" in warnings[0] and str(priors) in warnings[0] and "b.png" in warnings[0]
    assert "whole image" in warnings[0]
    _check_output(out, "a", _prior())
    doc = _check_output(out, "b")                      # objects all 1: the whole image
    assert doc["prior"]["source"] == "automatic"
    assert doc["prior"]["missing_map"] == str(priors / "b.png")
    assert doc["parameters"]["prior"] is False


def test_single_prior_file_for_one_image(folder, tmp_path, capsys):
    prior_file = tmp_path / "objects.png"
    Image.fromarray(_prior()).save(prior_file)
    out = tmp_path / "out"
    rc = main(["segment", str(folder / "a.png"), "--out", str(out), "-k", "30",
               "--prior", str(prior_file), "--encoder", "none", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    _check_output(out, "a", _prior())


def test_argument_errors(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["segment", str(folder), "--out", str(out), "--prior", str(tmp_path / "nope"),
                 "--encoder", "none"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["segment", str(folder), "--out", str(out), "-k", "0", "--encoder", "none"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["segment", str(empty), "--out", str(out), "--encoder", "none"]) == 2
    assert "no images" in capsys.readouterr().err
    bad_enc = tmp_path / "enc.pt"
    bad_enc.write_text("not weights")
    assert main(["segment", str(folder), "--out", str(out), "--encoder", str(bad_enc)]) == 2
    assert "enc.pt" in capsys.readouterr().err
    assert not out.exists()


def test_missing_input_file_is_reported(folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["segment", str(folder / "a.png"), str(folder / "missing.png"), "--out", str(out),
               "-k", "20", "--encoder", "none", "--no-progress"])
    # a missing input is bad input, refused up front (exit 2) before any model is loaded
    assert rc == 2 and "missing.png: no such file or folder" in capsys.readouterr().err
    assert not (out / "a.png").exists()


def test_same_stem_twice_is_reported(folder, tmp_path, capsys):
    Image.fromarray(_image(3)).save(folder / "a.jpg")
    out = tmp_path / "out"
    rc = main(["segment", str(folder / "a.png"), str(folder / "a.jpg"), "--out", str(out),
               "-k", "20", "--encoder", "none", "--no-progress"])
    assert rc != 0 and "a.jpg" in capsys.readouterr().err
    assert json.loads((out / "a.json").read_text())["image"]["name"] == "a.png"


def test_too_many_superpixels_warns_and_still_writes(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    Image.fromarray(_image(0, 8, 8)).save(d / "tiny.png")
    out = tmp_path / "out"
    rc = main(["segment", str(d / "tiny.png"), "--out", str(out), "-k", "400",
               "--encoder", "none", "--no-progress"])
    assert rc == 0
    assert "tiny.png" in capsys.readouterr().err
    labels = read_label_map(out / "tiny.png")
    assert 1 <= labels.max() <= 64


def test_console_entry_point(folder, tmp_path):
    (folder / "bad.png").unlink()
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "spam_gui.cli", "segment", str(folder), "--out", str(out),
         "-k", "20", "--encoder", "none"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "a.png").is_file() and (out / "b.png").is_file()


def test_segment_with_a_sam_checkpoint_goes_through_the_cache(tmp_path, monkeypatch, capsys):
    import json

    import torch
    from PIL import Image

    from spam_gui.cli import main
    from spam_gui.core.io.images import read_label_map
    from tests.core.test_sam import _tiny_sam

    torch.set_num_threads(1)
    ckpt = tmp_path / "tiny.pth"
    torch.save(_tiny_sam().state_dict(), ckpt)
    monkeypatch.setenv("SPAM_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 56, 3)).astype(np.uint8)
    img[:, 28:] = (250, 20, 20)
    Image.fromarray(img).save(tmp_path / "photo.png")
    args = ["segment", str(tmp_path / "photo.png"), "--out", str(tmp_path / "out"),
            "--sam-checkpoint", str(ckpt), "--points-per-side", "4", "--device", "cpu",
            "--encoder", "none", "-k", "20"]
    assert main(args) == 0
    side = json.loads((tmp_path / "out" / "photo.json").read_text())
    assert side["prior"]["source"] == "sam"
    objects = read_label_map(tmp_path / "out" / "photo_objects.png")
    labels = read_label_map(tmp_path / "out" / "photo.png")
    for lab in np.unique(labels):  # every superpixel inside one prior object
        assert np.unique(objects[(labels == lab) & (objects > 0)]).size <= 1
    assert main(args + ["--overwrite"]) == 0   # without it, the complete outputs are skipped
    side2 = json.loads((tmp_path / "out" / "photo.json").read_text())
    assert side2["prior"]["cache"] == "prior"

    bad = tmp_path / "sam_vit_b_01ec64.pth"
    bad.write_bytes(b"not a checkpoint")
    assert main(args[:5] + [str(bad)] + args[6:]) == 2
    assert "sam_vit_b_01ec64.pth" in capsys.readouterr().err
