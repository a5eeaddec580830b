"""Issue 23, the fault catalogue (items 13-21), as the window shows it."""

from __future__ import annotations

import json

from tests.app.conftest import wait_displayed


def _state(folder, images, current="img0.png"):
    out = folder / "spam_labels"
    out.mkdir(exist_ok=True)
    path = out / ".spam_state.json"
    path.write_text(json.dumps({"format": "spam-studio-state", "version": 1,
                                "current": current, "images": images}))
    return path


def test_ratio_saved_for_an_object_the_new_prior_lacks_is_dropped_and_said(qtbot, make_window,
                                                                           image_folder):
    """13: the prior map changed since the ratio was chosen: the image opens (no ValueError on
    every start), the status bar names the object, and the state file no longer has it."""
    state = _state(image_folder, {"img0.png": {"ratios": {"2": 2.0, "11": 3.0}}})
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    o = wait_displayed(qtbot, win, "img0.png")
    assert o.result.objects_info[2].ratio == 2.0
    qtbot.waitUntil(lambda: "object 11 not used" in win.status_label.text(), timeout=30000)
    assert win.doc.ratios == {2: 2.0}
    win.session.save_now()
    saved = json.loads(state.read_text())["images"]["img0.png"]["ratios"]
    assert saved == {"2": 2.0}


def test_k_above_the_pixel_count_is_said_on_screen_as_the_cli_prints_it(qtbot, make_window,
                                                                         image_folder):
    """14: the window says what the CLI prints (the core's notes), and delivers one
    superpixel per pixel instead of collapsing."""
    win = make_window(precompute=False, k=20000, prior_source="none")
    win.open_folder(image_folder)
    o = wait_displayed(qtbot, win, "img0.png")
    assert o.result.n_superpixels == 96 * 128
    qtbot.waitUntil(lambda: "exceeds the 12288 pixels" in win.status_label.text(),
                    timeout=30000)
