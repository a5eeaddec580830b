"""The app's pipeline without a display: content-keyed caches, file changes, no Qt."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
from PIL import Image

from spam_gui.app.model import Params
from spam_gui.app.pipeline import EngineConfig, Pipeline, _image_digest, file_token


def test_pipeline_and_core_import_no_qt():
    code = ("import sys, spam_gui.app.pipeline, spam_gui.app.model, spam_gui.core; "
            "bad = [m for m in sys.modules if m.startswith('PySide6')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def _two_images_one_pixel_apart():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    b = a.copy()
    b[13, 17, 1] ^= 1          # off any sampling grid a cheap key might use
    return a, b


def test_digest_sees_every_pixel():
    a, b = _two_images_one_pixel_apart()
    assert _image_digest(a) != _image_digest(b)
    assert _image_digest(a) == _image_digest(a.copy())


def test_saliency_is_never_shared_between_images_one_pixel_apart(monkeypatch):
    from spam_gui.core import saliency as sal_mod

    calls = []

    def fake(image, dino_checkpoint=None, device="auto"):
        calls.append(image)
        sal = np.full(image.shape[:2], float(image.sum() % 97), np.float32)
        return types.SimpleNamespace(saliency=sal, info={"method": "built-in"})

    monkeypatch.setattr(sal_mod, "compute_saliency_info", fake)
    p = Pipeline()
    a, b = _two_images_one_pixel_apart()
    sa, _ = p.saliency(a, EngineConfig())
    sb, _ = p.saliency(b, EngineConfig())
    assert len(calls) == 2 and not np.array_equal(sa, sb)
    p.saliency(a.copy(), EngineConfig())          # same content: cached
    assert len(calls) == 2


def test_sam_session_and_prompt_masks_are_keyed_on_content(monkeypatch):
    made = []

    class FakeSession:
        def __init__(self, model, image, cache=None):
            made.append(image)
            self.image = image

        def predict(self, points, labels):
            return self.image[..., 0] > 127, 1.0

    fake = types.SimpleNamespace(load_sam=lambda ckpt, device: object(),
                                 SamSession=FakeSession, default_cache=lambda: None)
    monkeypatch.setattr(Pipeline, "_sam_module", staticmethod(lambda: fake))
    from spam_gui.app.model import Prompt

    p = Pipeline()
    cfg = EngineConfig(sam_checkpoint="/x/sam.pth")
    a, b = _two_images_one_pixel_apart()
    prompt = Prompt(((5, 5, 1),))
    ma = p.prompt_mask(a, prompt, cfg)
    mb = p.prompt_mask(b, prompt, cfg)
    assert len(made) == 2 and made[0] is a and made[1] is b
    assert ma.shape == mb.shape


def test_segment_without_a_display_and_a_replaced_file(tmp_path):
    path = tmp_path / "x.png"
    a, b = _two_images_one_pixel_apart()
    Image.fromarray(a).save(path)
    p = Pipeline()
    cfg = EngineConfig(encoder="none", device="cpu")
    params = Params(n_segments=20, n_iter=3)
    o = p.segment(path, params, {}, (), cfg, "k", style=None)
    assert o.layers is None and o.result.labels.shape == a.shape[:2]
    assert o.is_current() and np.array_equal(o.image, a)
    Image.fromarray(b).save(path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    assert not o.is_current() and file_token(path) != o.file_token
    o2 = p.segment(path, params, {}, (), cfg, "k", style=None)
    assert np.array_equal(o2.image, b) and o2.image_sha256 != o.image_sha256
