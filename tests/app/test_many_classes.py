"""Issue 23 item 12 in the app: a labels.txt of thousands of classes imports (the 3,825th
class used to loop forever, the window frozen), every class with its own colour."""

from __future__ import annotations

from tests.app.conftest import wait_displayed


def test_labels_txt_of_4000_classes_imports(qtbot, make_window, image_folder, tmp_path):
    win = make_window(precompute=False)
    win.open_folder(image_folder)
    wait_displayed(qtbot, win, "img0.png")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"class {i}" for i in range(4000)) + "\n")
    assert win.annotations.import_labels(labels) == 4000
    colours = [c.color for c in win.annotations.classes]
    assert len(colours) == len(set(colours)) == 4000
    assert win.annotations.import_labels(labels) == 0          # all there already
