"""Packaging files: the desktop entry, the icon, and the frozen build's Python NMS."""

from __future__ import annotations

import configparser
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_desktop_entry_and_icons():
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(ROOT / "packaging" / "spam-studio.desktop", encoding="utf-8")
    entry = cp["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "spam-studio"
    assert entry["Icon"] == "spam-studio"
    assert entry["Categories"].endswith(";")
    icons = ROOT / "resources" / "icons"
    assert (icons / "spam-studio.svg").read_text(encoding="utf-8").lstrip().startswith("<svg")
    from PIL import Image

    for size in (16, 32, 48, 64, 128, 256):
        with Image.open(icons / f"spam-studio-{size}.png") as im:
            assert im.size == (size, size)


def _hook():
    spec = importlib.util.spec_from_file_location(
        "rthook_torchvision_cpu_test", ROOT / "packaging" / "rthook_torchvision_cpu.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)   # torchvision is already importable here: install() is a no-op
    return mod


def test_python_nms_matches_torchvision():
    torch = pytest.importorskip("torch")
    ops = pytest.importorskip("torchvision.ops")
    from torchvision.extension import _has_ops

    if not _has_ops():
        pytest.skip("torchvision's C++ operators are not loaded here")
    nms_reference = _hook().nms_reference
    g = torch.Generator().manual_seed(0)
    for n in (0, 1, 7, 400):
        xy = torch.rand(n, 2, generator=g) * 200
        wh = torch.rand(n, 2, generator=g) * 60 + 1
        boxes = torch.cat([xy, xy + wh], 1)
        scores = torch.rand(n, generator=g)
        for thr in (0.0, 0.3, 0.7):
            assert torch.equal(nms_reference(boxes, scores, thr), ops.nms(boxes, scores, thr))
