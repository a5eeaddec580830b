"""The image you look at comes first: choosing another image stops the running computation of
a large photo inside the engine's own stages, and the chosen one is drawn."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.app.conftest import make_image, wait_displayed


def test_choosing_a_small_image_pre_empts_a_large_one_mid_superpixels(qtbot, make_window,
                                                                        tmp_path):
    from spam_gui.app.pipeline import Pipeline
    from spam_gui.app.worker import SegmentJob

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    big = np.clip(rng.normal(128, 40, (1100, 1500, 3)), 0, 255).astype(np.uint8)   # 1.65 MP
    Image.fromarray(big).save(folder / "a_big.png")
    Image.fromarray(make_image(1)).save(folder / "b_small.png")

    in_engine = threading.Event()     # the big job is blocked inside Spam.segment
    never = threading.Event()         # never set: only a cancellation gets the big job out

    class Gated(Pipeline):
        """The real pipeline; inside the large photo's superpixel stage, every check the
        engine makes waits (as a long stage would) until the job is cancelled."""

        def segment(self, path, *args, check=lambda: None, progress=None, **kw):
            stage = {"superpixels": False}

            def watch(frac, text):
                stage["superpixels"] = text == "superpixels"
                if progress is not None:
                    progress(frac, text)

            def gated_check():
                check()
                # only a check made by the engine's own stages (the working grid's clustering,
                # the full-resolution labelling tiles) counts: not one between stages
                caller = sys._getframe(1).f_globals.get("__name__", "")
                if (Path(path).name == "a_big.png" and stage["superpixels"]
                        and caller.startswith("spam_gui.core.engine.fullres.working")):
                    in_engine.set()
                    while not never.is_set():
                        check()            # raises Cancelled once the window cancels the job
                        time.sleep(0.005)

            return super().segment(path, *args, check=gated_check, progress=watch, **kw)

    win = make_window(pipeline=Gated(), prior_source="none", k=200, precompute=False)
    cancelled: list = []
    finished: list = []
    win.fg.cancelled_job.connect(lambda job: cancelled.append(job))
    win.fg.finished_job.connect(lambda job, payload: finished.append(job))
    win.open_folder(folder)
    win.show_row(0)
    qtbot.waitUntil(in_engine.is_set, timeout=60000)
    qtbot.waitUntil(lambda: "a_big.png: superpixels" in win.canvas.message, timeout=30000)
    win.show_row(1)
    o = wait_displayed(qtbot, win, "b_small.png", timeout=60000)
    assert o.path.name == "b_small.png"
    big_jobs = [j for j in cancelled if isinstance(j, SegmentJob) and j.path.name == "a_big.png"]
    assert big_jobs, "the large photo's job was not cancelled"
    assert not any(isinstance(j, SegmentJob) and j.path.name == "a_big.png" for j in finished)
    assert win.displayed.path.name == "b_small.png"


def test_a_new_session_reads_a_large_photo_from_the_disk_cache(qtbot, make_window, tmp_path):
    """The second window on the same folder draws the large photo from the disk cache (no
    clustering), then computes its features in the background for the first click."""
    from spam_gui.app.worker import FeaturesJob

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(1)
    img = np.clip(rng.normal(128, 40, (800, 1000, 3)), 0, 255).astype(np.uint8)   # 0.8 MP
    Image.fromarray(img).save(folder / "photo.png")
    first = make_window(prior_source="none", precompute=False)
    first.open_folder(folder)
    o1 = wait_displayed(qtbot, first, "photo.png")
    assert o1.result._work is not None and "from_cache" not in o1.result.timings
    first.close()
    first.shutdown()

    second = make_window(prior_source="none", precompute=False)
    done: list = []
    second.bg.finished_job.connect(lambda job, payload: done.append(job))
    second.open_folder(folder)
    o2 = wait_displayed(qtbot, second, "photo.png")
    assert o2.result.timings.get("from_cache") == 1.0
    assert np.array_equal(o2.result.labels, o1.result.labels)
    qtbot.waitUntil(lambda: any(isinstance(j, FeaturesJob) for j in done), timeout=60000)
    engine = second.pipeline.engine(second.config)
    from spam_gui.core.io.cache import hash_array

    assert hash_array(o2.result._work.work_rgb) in engine._cache
