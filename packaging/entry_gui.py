"""Frozen entry point of ``spam-studio`` (the desktop app), with a start-up smoke test.

``spam-studio [spam-gui arguments]`` runs :func:`spam_gui.app.main.main`.

``spam-studio --smoke [--smoke-timeout S] [--smoke-out DIR]`` checks that a build works: it starts
the real app (offscreen when there is no display, or as ``QT_QPA_PLATFORM`` says) on the bundled sample set, with
settings, data and cache in a temporary folder, waits until the main window shows superpixels on
the first sample, prints what it saw, saves a screenshot (``DIR/smoke.png``, when asked) and exits
0; 1 when nothing is drawn within the timeout (default 300 s), or on an error.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def _smoke(argv: list[str]) -> int:
    timeout, out_dir = 300.0, None
    if "--smoke-timeout" in argv:
        timeout = float(argv[argv.index("--smoke-timeout") + 1])
    if "--smoke-out" in argv:
        out_dir = Path(argv[argv.index("--smoke-out") + 1])
    tmp = Path(tempfile.mkdtemp(prefix="spam-studio-smoke-"))
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")   # fresh QSettings
    os.environ["SPAM_DATA_DIR"] = str(tmp / "data")        # fresh sample copy
    os.environ["SPAM_CACHE_DIR"] = str(tmp / "cache")
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[smoke {time.perf_counter() - t0:6.2f}s] {msg}", flush=True)

    import torch

    say(f"frozen={getattr(sys, 'frozen', False)} python={sys.version.split()[0]} "
        f"torch={torch.__version__} cuda_build={torch.version.cuda} threads={torch.get_num_threads()}")
    from spam_gui.samples import sample_folder, sample_images

    folder = sample_folder()
    say(f"sample folder {folder}: {[p.name for p in sample_images(folder)]}")

    from spam_gui.app.qt import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    say(f"Qt platform {app.platformName()}")
    state = {"rc": 1}

    def window():
        for w in app.topLevelWidgets():
            if w.objectName() == "mainWindow":
                return w
        return None

    def poll() -> None:
        w = window()
        o = getattr(w, "displayed", None) if w is not None else None
        if o is not None and getattr(o, "result", None) is not None:
            res = o.result
            say(f"drawn: {o.path.name} {res.labels.shape[1]}x{res.labels.shape[0]}, "
                f"{res.n_superpixels} superpixels, {len(res.objects_info)} prior objects")
            status = getattr(w, "status_label", None)
            if status is not None:
                say(f"status bar: {status.text()}")
            models = [lab.text() for lab in w.findChildren(QtWidgets.QLabel)
                      if lab.objectName() and "model" in lab.objectName().lower()]
            if models:
                say(f"models: {' | '.join(models)}")
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                w.grab().save(str(out_dir / "smoke.png"))
                say(f"screenshot {out_dir / 'smoke.png'}")
            state["rc"] = 0
            timer.stop()
            w.close()          # saves the session, stops the worker threads
            app.exit(0)
        elif time.perf_counter() - t0 > timeout:
            say(f"nothing drawn after {timeout:.0f} s")
            timer.stop()
            if w is not None:
                w.close()
            app.exit(1)

    timer = QtCore.QTimer()
    timer.timeout.connect(poll)
    timer.start(100)
    from spam_gui.app.main import main

    rc = main([str(folder), "--no-restore"])
    say(f"app exited with {rc}; smoke {'passed' if state['rc'] == 0 else 'FAILED'}")
    return state["rc"]


def run() -> int:
    argv = sys.argv[1:]
    if "--smoke" in argv:
        return _smoke(argv)
    from spam_gui.app.main import main

    return main(argv)


if __name__ == "__main__":
    sys.exit(run())
