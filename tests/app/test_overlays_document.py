"""Unit tests of the overlays (patches equal full redraws), the documents and the settings."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spam_gui.core.io.images import list_folder
from spam_gui.app.document import (FolderSession, ImageDoc, Params, Prompt, SetParamsCommand,
                                   SetRatioCommand, state_key)
from spam_gui.app.overlays import (OverlayStyle, RasterLayer, boundaries_bgra, boundary_mask,
                                   build_layers, changed_region, heatmap_bgra, make_patch,
                                   mean_color_lut, meanfill_bgra, object_colors)


def fake_result(labels, objects, sp_obj):
    return SimpleNamespace(labels=labels, objects=objects, superpixel_object=sp_obj)


def grid_labels(h, w, step_y, step_x, offset=0):
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy // step_y) * ((w + step_x - 1) // step_x) + xx // step_x + 1 + offset).astype(np.int32)


@settings(max_examples=25, deadline=None)
@given(step=st.integers(2, 9), width=st.integers(1, 3), y0=st.integers(0, 20), x0=st.integers(0, 20),
       hh=st.integers(4, 20), ww=st.integers(4, 20))
def test_patch_equals_full_redraw(step, width, y0, x0, hh, ww):
    """Re-clustering one object and pasting its patch gives the same pixels as a full redraw."""
    h, w = 40, 48
    rng = np.random.default_rng(step * 100 + width)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    objects = np.ones((h, w), np.int32)
    objects[y0:y0 + hh, x0:x0 + ww] = 2
    old = grid_labels(h, w, 6, 6)
    new_inner = grid_labels(h, w, step, step, offset=10_000)
    # renumber: object 1 keeps the old grid cut by the object, object 2 gets a finer grid
    def relabel(lab1, lab2):
        lab = np.where(objects == 2, lab2, lab1 + 50_000)
        _, inv = np.unique(lab, return_inverse=True)
        lab = inv.reshape(h, w).astype(np.int32) + 1
        sp = np.zeros(lab.max() + 1, np.int32)
        sp[lab.ravel()] = objects.ravel()
        return lab, sp
    l_old, sp_old = relabel(old, old)
    l_new, sp_new = relabel(old, new_inner)
    r_old, r_new = fake_result(l_old, objects, sp_old), fake_result(l_new, objects, sp_new)
    style = OverlayStyle(boundary_color=(10, 200, 30), boundary_width=width)
    layers = build_layers(image, r_old, style)
    region = changed_region(r_old, r_new, {2})
    assert region is not None
    layers.apply(make_patch(image, r_new, region, style))
    full = build_layers(image, r_new, style)
    assert np.array_equal(layers.boundaries.view, full.boundaries.view)
    assert np.array_equal(layers.meanfill.view, full.meanfill.view)


def test_layers_content():
    labels = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 2]], np.int32)
    image = np.zeros((3, 3, 3), np.uint8)
    image[..., 0] = labels * 50
    b = boundary_mask(labels)
    assert b[0, 1] and not b[0, 0] and b[1, 0]
    bgra = boundaries_bgra(b, (255, 0, 0))
    assert tuple(bgra[0, 1]) == (0, 0, 255, 255) and bgra[0, 0, 3] == 0
    lut = mean_color_lut(image, labels)
    assert lut[2, 0] == 100
    fill = meanfill_bgra(lut, labels)
    assert fill[0, 2, 2] == 100 and fill[0, 2, 3] == 255
    heat = heatmap_bgra(np.array([[0.0, 1.0]]))
    assert heat[0, 0, 3] < heat[0, 1, 3]
    layer = RasterLayer(fill)
    assert layer.qimage.width() == 3 and layer.qimage.height() == 3
    layer.paste((0, 1, 0, 1), np.full((1, 1, 4), 7, np.uint8))
    assert layer.qimage.pixel(0, 0) == 0x07070707
    objects = np.array([[1, 1, 2, 2], [1, 3, 3, 2], [4, 4, 0, 5]], np.int32)
    colors = object_colors(objects)
    assert set(colors) == {1, 2, 3, 4, 5}
    for a, b in ((1, 2), (1, 3), (2, 3), (1, 4), (3, 4), (2, 5), (3, 5)):
        assert colors[a] != colors[b], (a, b)
    assert object_colors(objects) == colors      # stable


def test_params_from_json_is_forgiving():
    p = Params.from_dict({"n_segments": "250", "lambda_s": "bad", "va": 1, "unknown": 3,
                          "ratio_mode": "weird", "n_iter": -5})
    assert p.n_segments == 250 and p.lambda_s == 7.5 and p.va is True
    assert p.ratio_mode == "local" and p.n_iter == 0
    assert Params.from_dict(None) == Params()
    assert Params.from_dict(Params(n_segments=9).to_dict()) == Params(n_segments=9)


def test_state_key_ignores_unit_ratios():
    p = Params()
    assert state_key(p, {}, ()) == state_key(p, {3: 1.0}, ())
    assert state_key(p, {3: 2.0}, ()) != state_key(p, {}, ())
    assert state_key(p, {}, (Prompt(((1, 2, 1),)),)) != state_key(p, {}, ())


def test_doc_undo_and_json_round_trip(qtbot, tmp_path):
    d = ImageDoc(tmp_path / "a.png", Params())
    seen = []
    d.changed.connect(lambda k, v: seen.append((k, v)))
    d.undo_stack.push(SetRatioCommand(d, 3, 2.0))
    d.undo_stack.push(SetRatioCommand(d, 3, 4.0))
    d.undo_stack.push(SetParamsCommand(d, Params(n_segments=99)))
    assert d.ratios == {3: 4.0} and d.params.n_segments == 99 and d.edited
    d.undo_stack.undo()
    d.undo_stack.undo()
    assert d.ratios == {3: 2.0} and d.params == Params() and not d.params_touched
    d.undo_stack.undo()
    assert d.ratios == {} and not d.edited
    assert seen[0] == ("ratio", 3)
    d.undo_stack.redo()
    e = ImageDoc(tmp_path / "a.png", Params())
    e.load_json(json.loads(json.dumps(d.to_json())))
    assert e.ratios == {3: 2.0} and e.key() == d.key()


def test_folder_session_saves_and_restores(qtbot, tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    for n in ("b10.png", "b9.png", "a.JPG", ".hidden.png", "notes.txt"):
        (folder / n).write_bytes(b"x")
    paths = list_folder(folder)
    assert [p.name for p in paths] == ["a.JPG", "b9.png", "b10.png"]   # natural order
    out = folder / "spam_labels"
    s = FolderSession(folder, paths, out, Params(n_segments=50))
    assert s.save_now() and not out.exists()       # nothing to save: no folder created
    d = s.doc(1)
    d.undo_stack.push(SetRatioCommand(d, 2, 0.5))
    s.set_current(1)
    assert s.save_now()
    data = json.loads((out / ".spam_state.json").read_text())
    assert data["images"] == {"b9.png": d.to_json()} and data["current"] == "b9.png"
    s2 = FolderSession(folder, paths, out, Params(n_segments=50))
    assert s2.current_name == "b9.png"
    assert s2.saved_entry(1) is not None and s2.saved_entry(0) is None
    assert s2.doc(1).ratios == {2: 0.5} and s2.doc(0).ratios == {}


def test_state_falls_back_when_output_is_not_writable(qtbot, tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"x")
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the output folder should be")
    s = FolderSession(folder, list_folder(folder), blocker / "out", Params())
    d = s.doc(0)
    d.undo_stack.push(SetRatioCommand(d, 1, 2.0))
    assert s.save_now()
    assert s.state_path is not None and s.state_path.is_file()
    assert blocker not in s.state_path.parents
    s2 = FolderSession(folder, list_folder(folder), blocker / "out", Params())
    assert s2.doc(0).ratios == {1: 2.0}


def test_settings_round_trip_and_env(qtbot, monkeypatch, tmp_path):
    from spam_gui.app.settings import Settings

    s = Settings()
    assert s.prior_source == "auto" and s.encoder_mode == "shipped" and s.device == "auto"
    assert s.engine_config().encoder == "default"
    monkeypatch.setenv("SPAM_SAM_CHECKPOINT", "/models/sam.pth")
    assert s.sam_checkpoint == "/models/sam.pth"
    s.sam_checkpoint = "/other/sam.pth"
    assert s.sam_checkpoint == "/other/sam.pth"
    s.default_params = Params(n_segments=123, va=True)
    s.style = OverlayStyle(boundary_color=(1, 2, 3), boundary_width=3)
    s.encoder_mode, s.encoder_file = "file", "/w/enc.pt"
    for i in range(12):
        s.add_recent_folder(f"/data/{i}")
    s.set_output_dir_for(tmp_path, tmp_path / "out")
    s.sync()
    t = Settings()
    assert t.default_params == Params(n_segments=123, va=True)
    assert t.style == OverlayStyle(boundary_color=(1, 2, 3), boundary_width=3)
    assert t.engine_config().encoder == "/w/enc.pt"
    assert t.recent_folders[0] == "/data/11" and len(t.recent_folders) == 10
    assert t.output_dir_for(tmp_path) == tmp_path / "out"
    assert t.output_dir_for(tmp_path / "x") == tmp_path / "x" / "spam_labels"


@pytest.mark.parametrize("which", ["sam", "dino"])
def test_preferences_validate_checkpoints_on_the_spot(qtbot, tmp_path, which):
    from spam_gui.app.settings import PreferencesDialog, Settings

    bad = tmp_path / f"{which}_broken.pth"
    bad.write_bytes(b"definitely not a checkpoint")
    dlg = PreferencesDialog(Settings())
    qtbot.addWidget(dlg)
    field = dlg.sam if which == "sam" else dlg.dino
    field.set_path(str(bad))
    assert field.status.text() == "checking…"
    qtbot.waitUntil(lambda: field.valid is not None, timeout=30000)
    assert field.valid is False
    assert bad.name in field.status.text()
    field.set_path(str(tmp_path / "missing.pth"))
    qtbot.waitUntil(lambda: field.valid is not None, timeout=30000)
    assert field.valid is False and "missing.pth: no such" in field.status.text()
    dlg.width_spin.setValue(4)
    dlg.apply()
    s = Settings()
    assert s.style.boundary_width == 4
    assert (s.sam_checkpoint if which == "sam" else s.dino_checkpoint).endswith("missing.pth")


def test_dino_checkpoint_validates(qtbot, tmp_path):
    """A real (tiny, random) ViT state dict passes the DINO check."""
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    from spam_gui.app.settings import validate_dino_checkpoint

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0)
    p = tmp_path / "tiny_vit.pth"
    torch.save(model.state_dict(), p)
    text = validate_dino_checkpoint(str(p))
    assert "tiny_vit.pth" in text


def test_objects_layer_colours_every_object_even_one_the_colours_miss():
    """The objects layer made from a colour table (no counting pass) still colours an object
    the table does not name, below or above its largest id, as a full count would."""
    import numpy as np

    from spam_gui.app.model.rasters import object_color, objects_bgra

    objects = np.array([[0, 1, 2], [5, 7, 9]], np.int32)
    colors = {1: (10, 20, 30), 7: (40, 50, 60)}          # misses 2, 5 and 9
    out = objects_bgra(objects, colors)
    want = objects_bgra(objects, None)
    for (y, x), oid in np.ndenumerate(objects):
        if oid == 0:
            assert out[y, x, 3] == 0
        else:
            r, g, b = colors.get(int(oid)) or object_color(int(oid))
            assert tuple(out[y, x]) == (b, g, r, 255)
    assert np.array_equal(out[objects == 2], want[objects == 2])
    assert np.array_equal(out[objects == 9], want[objects == 9])
