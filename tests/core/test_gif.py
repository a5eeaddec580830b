"""GIF: an accepted image everywhere (arguments and folder scans); a file of several frames
gives its first frame, with a warning naming the file and the frame count."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spam_gui.cli import main
from spam_gui.core.io.images import IMAGE_EXTENSIONS, list_images, read_image


def _gif(path: Path, frames: int) -> Path:
    imgs = []
    for i in range(frames):
        a = np.zeros((24, 32, 3), np.uint8)
        a[:, : 8 * (i + 1)] = (200, 30 * i, 10)
        imgs.append(Image.fromarray(a))
    imgs[0].save(path, save_all=frames > 1, append_images=imgs[1:], duration=100, loop=0)
    return path


def test_gif_is_an_image_extension_of_folder_scans(tmp_path):
    assert ".gif" in IMAGE_EXTENSIONS
    _gif(tmp_path / "b.gif", 1)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_images([tmp_path])] == ["a.png", "b.gif"]


def test_app_folder_scan_lists_gifs(tmp_path):
    pytest.importorskip("PySide6")
    from spam_gui.core.io.images import list_folder

    _gif(tmp_path / "anim.GIF", 3)
    assert [p.name for p in list_folder(tmp_path)] == ["anim.GIF"]


def test_an_animated_gif_uses_its_first_frame_with_a_warning(tmp_path, caplog):
    p = _gif(tmp_path / "anim.gif", 3)
    with caplog.at_level(logging.WARNING, logger="spam_gui.core.io.images"):
        img = read_image(p)
    assert img.shape == (24, 32, 3)
    assert (img[:, :8, 0] > 150).all() and (img[:, 8:, 0] < 50).all()   # frame 0 only
    msgs = [r.getMessage() for r in caplog.records]
    assert any(str(p) in m and "3 frames" in m and "first frame" in m for m in msgs), msgs


def test_a_single_frame_gif_reads_without_a_warning(tmp_path, caplog):
    p = _gif(tmp_path / "still.gif", 1)
    with caplog.at_level(logging.WARNING, logger="spam_gui.core.io.images"):
        assert read_image(p).shape == (24, 32, 3)
    assert not caplog.records


def test_spam_segment_takes_gifs_from_a_folder(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _gif(folder / "anim.gif", 2)
    out = tmp_path / "out"
    assert main(["segment", str(folder), "--out", str(out), "-k", "6", "--encoder", "none",
                 "--no-progress"]) == 0
    assert (out / "anim.png").is_file()


def test_app_and_cli_list_a_folder_alike(tmp_path):
    """One lister: natural order, hidden files out, the same for the app and `spam segment`."""
    from spam_gui.app.model import doc_data  # noqa: F401  (the app's model needs no Qt)
    from spam_gui.core.io.images import list_folder

    for n in ("img10.png", "img2.png", "Img1.jpg", ".hidden.png", "notes.txt"):
        (tmp_path / n).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    want = ["Img1.jpg", "img2.png", "img10.png"]
    assert [p.name for p in list_folder(tmp_path)] == want
    assert [p.name for p in list_images([tmp_path])] == want
