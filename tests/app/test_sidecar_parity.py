"""The app's export and ``spam segment`` write one sidecar schema for the same image."""

from __future__ import annotations

import json

import numpy as np

from spam_gui.cli import main as spam_main
from tests.app.conftest import wait_displayed


def _keys(d, prefix=""):
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict) and k not in ("parameters", "ratios", "timings"):
            out |= _keys(v, prefix + k + ".")
    return out


def test_app_and_cli_sidecars_have_the_same_keys_and_values(qtbot, make_window, image_folder,
                                                           tmp_path):
    cli_out = tmp_path / "cli"
    rc = spam_main(["segment", str(image_folder / "img0.png"), "--out", str(cli_out),
                    "--prior", str(image_folder / "priors"), "--encoder", "none",
                    "-k", "60", "--iterations", "5", "--no-progress"])
    assert rc == 0
    cli = json.loads((cli_out / "img0.json").read_text())

    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    win.exports.export_current()
    app_json = image_folder / "spam_labels" / "img0.json"
    qtbot.waitUntil(lambda: win.exports.last_export is not None, timeout=30000)
    app = json.loads(app_json.read_text())

    # "batch" is the CLI's resume record (core.batch.resume: parameter and input hashes that let a
    # rerun skip this image); everything else is the one schema both write.
    assert "batch" in cli and "batch" not in app
    assert _keys(app) == {k for k in _keys(cli) if k.split(".")[0] != "batch"}
    assert app["format_version"] == cli["format_version"] >= 2
    assert app["prior"]["source"] == cli["prior"]["source"] == "label map"
    assert app["prior"]["sha256"] == cli["prior"]["sha256"]        # the prior file, named
    assert app["prior"]["path"] == cli["prior"]["path"]
    assert app["image"]["sha256"] == cli["image"]["sha256"]
    assert app["program"]["name"] == "spam-gui" and cli["program"]["name"] == "spam segment"
    assert app["parameters"]["n_segments"] == cli["parameters"]["n_segments"] == 60
    # superpixel_object is indexed by label, like the Python API (entry 0 unused)
    assert len(app["superpixel_object"]) == app["n_superpixels"] + 1
    o = win.displayed
    assert app["superpixel_object"][1:] == np.asarray(
        o.result.certain_superpixel_object()[1:]).astype(int).tolist()
    assert len(o.result.superpixel_object) == len(app["superpixel_object"])


def test_a_rescaled_result_keeps_the_segmentation_timings():
    from spam_gui.core.engine.spam import Spam
    from tests.app.conftest import make_image, make_prior

    spam = Spam(encoder="none", device="cpu")
    res = spam.segment(make_image(0), n_segments=40, prior=make_prior(), n_iter=3)
    out = spam.rescale(res, 2, 2.0)
    assert set(res.timings) <= set(out.timings) and "rescale" in out.timings
    assert out.timings["total"] == res.timings["total"]
