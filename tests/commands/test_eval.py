"""``spam eval`` and spam_gui.core.evaluation.evaluate on a tiny generated dataset."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spam_gui.commands import eval as eval_cmd
from spam_gui.core.evaluation import metrics as M
from spam_gui.core.evaluation import regularity as R
from spam_gui.core.evaluation.datasets import load_dataset
from spam_gui.core.evaluation.evaluate import (
    SuperpixelMethod, evaluate, format_table, grid_labels, make_method,
)

H, W = 36, 48
MEAN_KEYS = {"asa", "br", "bp", "gr", "ev", "delta_k", "n_superpixels", "seconds"}
PER_IMAGE_KEYS = {"id", "asa", "br", "bp", "gr", "ev", "n_superpixels"}


def scene(seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """An image of coloured rectangles (+ noise) and two annotators: the rectangles, and a
    coarser annotation that merges two of them."""
    rng = np.random.default_rng(seed)
    gt = np.ones((H, W), np.int32)
    y0, x0 = rng.integers(4, 12, 2)
    gt[y0:y0 + 14, x0:x0 + 18] = 2
    gt[20:, 30:] = 3
    gt[:8, 36:] = 4
    palette = rng.integers(0, 256, size=(5, 3))
    image = np.clip(palette[gt] + rng.normal(0, 6, (H, W, 3)), 0, 255).astype(np.uint8)
    coarse = np.where(gt == 4, 1, gt) + 300  # any ids
    return image, [gt, coarse]


def make_dataset(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "gt").mkdir()
    for i, name in enumerate(["img_b", "img_a"]):
        image, gts = scene(i)
        Image.fromarray(image).save(root / "images" / f"{name}.png")
        for k, g in enumerate(gts):
            Image.fromarray(g.astype(np.uint16)).save(root / "gt" / f"{name}_{k}.png")
    return root


def run_eval(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    eval_cmd.add_arguments(parser)
    return eval_cmd.run(parser.parse_args(argv))


def test_eval_slic_json_plot_and_table(tmp_path, capsys):
    data = make_dataset(tmp_path / "data")
    out_json, out_png = tmp_path / "out" / "r.json", tmp_path / "out" / "fig.png"
    rc = run_eval(["--data", str(data), "--method", "slic", "--n-segments", "12,24",
                   "--json", str(out_json), "--plot", str(out_png), "--no-progress"])
    assert rc == 0
    table = capsys.readouterr().out
    assert "slic" in table and "ASA" in table and "GR" in table and "s/img" in table

    results = json.loads(out_json.read_text())
    assert [(e["method"], e["n_segments"]) for e in results] == [("slic", 12), ("slic", 24)]
    from skimage.segmentation import slic

    for entry in results:
        assert MEAN_KEYS <= set(entry["mean"])
        assert [p["id"] for p in entry["per_image"]] == ["img_a", "img_b"]
        for p in entry["per_image"]:
            assert PER_IMAGE_KEYS <= set(p)
        # the protocol, recomputed here: exactly skimage's slic; per (image, annotator),
        # annotators averaged, then images averaged
        k = entry["n_segments"]
        per_img_asa, per_img_br, per_img_gr, khat = [], [], [], []
        for _name, seed in (("img_a", 1), ("img_b", 0)):
            image, gts = scene(seed)
            labels = slic(image, n_segments=k, compactness=10, start_label=1)
            per_img_asa.append(np.mean([M.asa(labels, g) for g in gts]))
            per_img_br.append(np.mean([M.boundary_recall(labels, g) for g in gts]))
            per_img_gr.append(R.shape_regularity(labels))
            khat.append(M.n_superpixels(labels))
        assert entry["mean"]["asa"] == pytest.approx(np.mean(per_img_asa))
        assert entry["mean"]["br"] == pytest.approx(np.mean(per_img_br))
        assert entry["mean"]["gr"] == pytest.approx(np.mean(per_img_gr))
        assert entry["mean"]["n_superpixels"] == pytest.approx(np.mean(khat))
        assert entry["mean"]["delta_k"] == pytest.approx(np.mean([abs(n - k) / k for n in khat]))
        assert entry["mean"]["seconds"] >= 0
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_through_the_cli_with_limit_and_markdown(tmp_path, capsys):
    from spam_gui.cli import main

    data = make_dataset(tmp_path / "data")
    out_json = tmp_path / "r.json"
    rc = main(["eval", "--data", str(data), "--method", "grid,slic-zero", "--n-segments", "16",
               "--limit", "1", "--json", str(out_json), "--markdown", "--no-progress"])
    assert rc == 0
    assert "| method | K | ASA" in capsys.readouterr().out
    results = json.loads(out_json.read_text())
    assert [e["method"] for e in results] == ["grid", "slic-zero"]
    assert all(e["n_images"] == 1 and e["per_image"][0]["id"] == "img_a" for e in results)


def test_eval_errors(tmp_path, capsys):
    rc = run_eval(["--data", str(tmp_path / "missing"), "--method", "slic", "--no-progress"])
    assert rc == 2 and "missing: no such folder" in capsys.readouterr().err
    data = make_dataset(tmp_path / "data")
    rc = run_eval(["--data", str(data), "--method", "slic", "--plot", str(tmp_path / "f.xyz")])
    assert rc == 2 and "f.xyz" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_eval(["--data", str(data), "--method", "nope"])
    with pytest.raises(SystemExit):
        run_eval(["--data", str(data), "--n-segments", "10,x"])
    (data / "gt" / "img_b_1.png").write_bytes(b"broken")
    rc = run_eval(["--data", str(data), "--method", "grid", "--n-segments", "8", "--no-progress"])
    assert rc == 1 and "img_b_1.png" in capsys.readouterr().err


def test_evaluate_averages_annotators_then_images(tmp_path):
    """A fake method whose ASA is known per (image, annotator)."""
    root = tmp_path / "d"
    (root / "images").mkdir(parents=True)
    (root / "gt").mkdir()
    img = np.zeros((2, 4, 3), np.uint8)
    left_right = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    quarters = np.array([[1, 2, 3, 4], [1, 2, 3, 4]])
    one = np.ones((2, 4), int)
    for name, gts in {"x": [left_right, quarters], "y": [one, one, quarters]}.items():
        Image.fromarray(img).save(root / "images" / f"{name}.png")
        for k, g in enumerate(gts):
            Image.fromarray(g.astype(np.uint16)).save(root / "gt" / f"{name}_{k}.png")
    method = SuperpixelMethod("halves", "halves", lambda im, k, p: left_right.copy())
    (entry,) = evaluate(load_dataset(root), [method], [2], progress=False)
    # x: ASA 1 and 1/2 -> 0.75; y: 1, 1, 1/2 -> 5/6; images: (0.75 + 5/6) / 2
    assert entry["per_image"][0]["asa"] == pytest.approx(0.75)
    assert entry["per_image"][1]["asa"] == pytest.approx(5 / 6)
    assert entry["mean"]["asa"] == pytest.approx((0.75 + 5 / 6) / 2)
    assert entry["mean"]["asa_annotator0"] == pytest.approx(1.0)
    assert entry["mean"]["delta_k"] == 0.0 and entry["mean"]["n_superpixels"] == 2
    assert "halves" in format_table([entry])


def test_grid_labels_and_unknown_method():
    g = grid_labels((30, 40), 12)  # n_w = floor(sqrt(16)) = 4, n_h = floor(sqrt(9)) = 3
    assert M.n_superpixels(g) == 12 and g.min() == 1
    with pytest.raises(ValueError, match="unknown method"):
        make_method("nope")
    with pytest.raises(ValueError, match="unknown prior"):
        make_method("slic", prior="sam")


def test_eval_spam_with_gt_prior(tmp_path, capsys):
    data = make_dataset(tmp_path / "data")
    out_json = tmp_path / "r.json"
    rc = run_eval(["--data", str(data), "--method", "spam,slic", "--encoder", "none",
                   "--prior", "gt", "--n-segments", "20", "--device", "cpu", "--smoothing", "0",
                   "--json", str(out_json), "--no-progress"])
    assert rc == 0
    assert "spam" in capsys.readouterr().out
    spam_entry, slic_entry = json.loads(out_json.read_text())
    assert spam_entry["method"] == "spam" and slic_entry["method"] == "slic"
    assert spam_entry["options"]["prior"] == "gt"
    assert spam_entry["options"]["smoothing"] == 0
    assert spam_entry["options"]["encoder"] == "none (D=5)"
    assert MEAN_KEYS <= set(spam_entry["mean"])
    # superpixels stay inside the prior's objects: ASA against annotator 0 is (about) 1
    assert spam_entry["mean"]["asa_annotator0"] >= 0.995
    for p in spam_entry["per_image"]:
        assert p["asa_annotator0"] >= 0.995 and p["n_superpixels"] >= 4
