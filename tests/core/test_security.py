"""No file the project reads can run code: a real pickle payload is refused by every loader.

The payload is an object whose ``__reduce__`` would create a marker file when unpickled; each
loader must refuse it with a message naming the file, and the marker must never appear.
"""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spam_gui.cli import main as spam_main
from spam_gui.core.errors import CheckpointError
from spam_gui.core.models.verify import validate_checkpoint
from spam_gui.core.evaluation.datasets import Sample
from spam_gui.core.training import (Trainer, TrainConfig, TrainingCheckpointError,
                                    read_training_checkpoint)

TORCH_ADVICE = re.compile(r"weights_only|file an issue|trusted source|add_safe_globals",
                          re.IGNORECASE)


class _WritesMarker:
    """Unpickling this calls ``open(marker, "w")``: the marker file proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payload_file(path: Path, marker: Path, wrap: bool = True) -> Path:
    obj = {"model": {}, "optimizer": {}, "iteration": 1, "evil": _WritesMarker(marker)} \
        if wrap else _WritesMarker(marker)
    buf = io.BytesIO()
    torch.save(obj, buf)
    path.write_bytes(buf.getvalue())
    return path


def test_the_payload_really_runs_code_when_unpickled(tmp_path):
    """The test's own check: without weights_only the payload writes the marker."""
    marker = tmp_path / "ran"
    p = _payload_file(tmp_path / "x.pt", marker)
    torch.load(p, weights_only=False)
    assert marker.exists()


def _cfg(**kw) -> TrainConfig:
    base = dict(iterations=2, batch_size=1, crop=24, n_seeds=4, feature_dim=8, val_every=0,
                checkpoint_every=1000, scale_min=0.9, scale_max=1.1)
    base.update(kw)
    return TrainConfig(**base)


def _samples() -> list[Sample]:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    gt = np.zeros((32, 32), np.int64)
    gt[8:24, 8:24] = 1
    return [Sample.from_arrays(img, [gt])]


def _check_message(msg: str, path: Path) -> None:
    assert str(path) in msg, msg
    assert not TORCH_ADVICE.search(msg), msg
    assert msg.rstrip().endswith("."), msg


def test_trainer_refuses_a_payload_checkpoint(tmp_path):
    marker = tmp_path / "ran"
    tr = Trainer(tmp_path, tmp_path / "m.pt", _cfg(), torch.device("cpu"), train=_samples(),
                 val=[])
    _payload_file(tr.ckpt_path, marker)
    with pytest.raises(TrainingCheckpointError) as exc:
        tr.load_checkpoint()
    assert not marker.exists()
    _check_message(str(exc.value), tr.ckpt_path)
    assert "could run code" in str(exc.value)
    assert isinstance(exc.value, CheckpointError) and isinstance(exc.value, ValueError)


def test_an_old_checkpoint_that_needs_unpickling_is_refused(tmp_path):
    """A checkpoint holding numpy objects (which only a full unpickler reads) is refused."""
    p = tmp_path / "old.pt.ckpt"
    torch.save({"model": {}, "optimizer": {}, "iteration": 3,
                "rng_numpy": np.random.default_rng(0).integers(0, 9, 4)}, p)
    with pytest.raises(TrainingCheckpointError) as exc:
        read_training_checkpoint(p)
    _check_message(str(exc.value), p)
    assert "older version" in str(exc.value) and "without --resume" in str(exc.value)


def test_a_checkpoint_round_trips_with_weights_only(tmp_path):
    tr = Trainer(tmp_path, tmp_path / "m.pt", _cfg(), torch.device("cpu"), train=_samples(),
                 val=[])
    tr.step()
    tr.save_checkpoint()
    st = torch.load(tr.ckpt_path, weights_only=True)   # plain state only
    assert st["format"] == "spam-training-checkpoint" and st["iteration"] == 1
    assert isinstance(st["rng_python"], list) and isinstance(st["rng_numpy"], dict)
    other = Trainer(tmp_path, tmp_path / "m.pt", _cfg(seed=5), torch.device("cpu"),
                    train=_samples(), val=[])
    other.load_checkpoint()
    assert other.iteration == 1
    assert other.rng.bit_generator.state == tr.rng.bit_generator.state


def _bsds(root: Path) -> Path:
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "gt").mkdir(parents=True)
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
        root / "train" / "images" / "1.png")
    gt = np.zeros((40, 40), np.uint8)
    gt[10:30, 10:30] = 1
    Image.fromarray(gt).save(root / "train" / "gt" / "1_0.png")
    return root


def test_spam_train_resume_refuses_a_payload(tmp_path, capsys):
    marker = tmp_path / "ran"
    out = tmp_path / "model.pt"
    ckpt = _payload_file(Path(str(out) + ".ckpt"), marker)
    rc = spam_main(["train", "--data", str(_bsds(tmp_path / "data")), "--out", str(out),
                    "--resume", "--iterations", "1", "--device", "cpu", "--crop", "24",
                    "--batch-size", "1", "--n-seeds", "4", "--val-every", "0"])
    err = capsys.readouterr().err
    assert rc == 2
    assert not marker.exists()
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ")
    _check_message(line, ckpt)
    assert not out.exists()


@pytest.mark.parametrize("kind", ["encoder", "sam", "dino"])
def test_model_loaders_refuse_a_payload(tmp_path, kind):
    marker = tmp_path / "ran"
    p = _payload_file(tmp_path / f"{kind}.pth", marker, wrap=False)
    with pytest.raises(CheckpointError) as exc:
        validate_checkpoint(kind, p)
    assert not marker.exists()
    _check_message(str(exc.value), p)


def _unsafe_calls(path: Path) -> list[str]:
    """``torch.load`` without ``weights_only=True``, ``np.load`` without ``allow_pickle=False``,
    any ``weights_only=False`` and any import of an unpickler, in one source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(n.split(".")[0] in ("pickle", "dill", "joblib", "cloudpickle") for n in names):
                out.append(f"{path}:{node.lineno}: imports an unpickler")
        if not isinstance(node, ast.Call):
            continue
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        if any(isinstance(v, ast.Constant) and v.value is False
               for k, v in kw.items() if k == "weights_only"):
            out.append(f"{path}:{node.lineno}: weights_only=False")
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "load" and isinstance(f.value, ast.Name):
            if f.value.id == "torch":
                v = kw.get("weights_only")
                if not (isinstance(v, ast.Constant) and v.value is True):
                    out.append(f"{path}:{node.lineno}: torch.load without weights_only=True")
            if f.value.id in ("np", "numpy"):
                v = kw.get("allow_pickle")
                if not (isinstance(v, ast.Constant) and v.value is False):
                    out.append(f"{path}:{node.lineno}: np.load without allow_pickle=False")
    return out


def test_no_loader_in_the_project_unpickles():
    """Every torch.load passes weights_only=True; np.load never allows pickles; no pickle."""
    root = Path(__file__).resolve().parents[2]
    files = [p for folder in ("spam_gui", "benchmarks", "training", "scripts")
             for p in sorted((root / folder).rglob("*.py"))]
    assert len(files) > 20
    offenders = [o for p in files for o in _unsafe_calls(p)]
    assert not offenders, "\n".join(offenders)
