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


def test_export_of_an_image_replaced_with_the_same_size_and_time_is_refused_then_right(
        qtbot, make_window, tmp_path):
    """18: same byte size, modification time restored: the export checks the content hash,
    refuses the stale labels, and the view recomputes; the next export is the new image's."""
    import hashlib
    import os

    import numpy as np
    from PIL import Image

    from tests.app.conftest import make_image

    folder = tmp_path / "bmps"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(make_image(i)).save(folder / f"img{i}.bmp")
    win = make_window(precompute=False, prior_source="none")
    win.open_folder(folder)
    old = wait_displayed(qtbot, win, "img0.bmp")
    target = folder / "img0.bmp"
    st = target.stat()
    new_pixels = np.ascontiguousarray(make_image(7)[::-1])
    Image.fromarray(new_pixels).save(target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_size == st.st_size
    win.exports.export_current()
    qtbot.waitUntil(lambda: win.exports.last_export is not None, timeout=30000)
    assert not win.exports.last_export["done"]
    assert "content changed" in win.last_error_details
    sidecar = folder / "spam_labels" / "img0.json"
    assert not sidecar.exists()
    o = wait_displayed(qtbot, win, "img0.bmp")            # recomputed from the new pixels
    qtbot.waitUntil(lambda: win.displayed is not old and np.array_equal(win.displayed.image,
                                                                      new_pixels),
                    timeout=30000)
    win.exports.last_export = None
    win.exports.export_current()
    qtbot.waitUntil(lambda: win.exports.last_export is not None, timeout=30000)
    assert win.exports.last_export["done"], win.last_error_details
    meta = json.loads(sidecar.read_text())
    assert hashlib.sha256(target.read_bytes()).hexdigest() in json.dumps(meta)
    assert o is not None


def _saved_rasters(qtbot, folder):
    """img0's class and instance maps saved in the folder's state, as the window saves them."""
    import numpy as np

    from spam_gui.app.document import FolderSession, Params
    from spam_gui.core.io.images import list_folder
    from tests.app.conftest import H, W

    out = folder / "spam_labels"
    s = FolderSession(folder, list_folder(folder), out, Params())
    d = s.doc(0)
    classes = np.zeros((H, W), np.int32)
    classes[10:40, 10:50] = 1
    instances = (classes > 0).astype(np.int32)
    d.set_raster("classes", classes)
    d.set_raster("instances", instances)
    assert s.save_now()
    s.deleteLater()
    return out / ".spam_state.json.d", classes


def test_a_damaged_annotation_raster_is_said_on_screen_and_kept_aside(qtbot, make_window,
                                                                       image_folder):
    """19: a damaged instance map in .spam_state.json.d/ was silently not restored (a log line
    only). Now the window says it, restores what was found (the class map), and keeps the
    broken file aside."""
    import numpy as np

    rasters, classes = _saved_rasters(qtbot, image_folder)
    (inst,) = rasters.glob("*.instances.*png")
    inst.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    qtbot.waitUntil(lambda: "saved work not restored" in win.status_label.text(),
                    timeout=30000)
    box = win.state_notice
    assert box is not None and box.objectName() == "rasterProblem" and box.isVisible()
    assert inst.name in box.text() and ".broken-" in box.text()
    box.accept()
    assert not inst.exists()
    (kept,) = rasters.glob(inst.name + ".broken-*")
    assert b"garbage" in kept.read_bytes()                      # kept as it was
    ann = win.annotations.annotation(0)
    assert ann is not None and np.array_equal(ann.class_map, classes)   # what was found


def test_a_half_size_prior_map_is_taken_by_the_window_as_by_the_cli(qtbot, make_window,
                                                                     image_folder):
    """20: a prior map at half the image's size, same aspect ratio, is resized (nearest
    neighbour) in the app as `spam segment --prior` does."""
    import numpy as np
    from PIL import Image

    from tests.app.conftest import make_prior

    for p in (image_folder / "priors").glob("*.png"):
        Image.fromarray(make_prior()[::2, ::2].copy()).save(p)
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    o = wait_displayed(qtbot, win, "img0.png")
    assert o.result.objects.shape == (96, 128)
    assert sorted(o.result.objects_info) == [1, 2, 3]
    assert np.array_equal(np.unique(o.result.objects), [1, 2, 3])


def test_a_saved_prompt_with_clicks_outside_the_image_is_dropped_and_said(qtbot, make_window,
                                                                           image_folder,
                                                                           tmp_path):
    """13: a prompt saved for an earlier (larger) image no longer applies: it is removed and
    named, the image recomputed without it."""
    import numpy as np

    from spam_gui.app.pipeline import Pipeline

    asked = []

    class FakeSam(Pipeline):
        def prompt_mask(self, image, prompt, config):
            asked.append(prompt.points)
            m = np.zeros(image.shape[:2], bool)
            m[:10, :10] = True
            return m

    ckpt = tmp_path / "sam_vit_b.pth"
    ckpt.write_bytes(b"stand-in")
    state = _state(image_folder, {"img0.png": {"prompts": [[[5, 5, 1]], [[900, 700, 1]]]}})
    win = make_window(pipeline=FakeSam(), precompute=False)
    win.settings.sam_checkpoint = str(ckpt)
    win.engine.apply()
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    qtbot.waitUntil(lambda: "clicks outside the 128x96 image" in win.status_label.text(),
                    timeout=30000)
    assert [p.points for p in win.doc.prompts] == [((5, 5, 1),)]
    o = wait_displayed(qtbot, win, "img0.png")
    assert len(o.prompts) == 1                   # recomputed with the prompt that applies
    win.session.save_now()
    assert json.loads(state.read_text())["images"]["img0.png"]["prompts"] == [[[5, 5, 1]]]
