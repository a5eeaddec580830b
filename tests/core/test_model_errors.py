"""Bad model files: one wording in our words, naming the file; one exit code across commands;
input paths checked before any model is loaded."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spam_gui.cli import main
from spam_gui.core import saliency as S
from spam_gui.core.prior import sam as sam_mod
from spam_gui.core.engine import spam as spam_mod
from spam_gui.core.engine.encoder import EncoderLoadError, SSNEncoder, load_encoder, save_encoder
from spam_gui.core.errors import EXIT_USAGE, CheckpointError, SpamError
from spam_gui.core.models.verify import validate_checkpoint

TORCH_TEXT = re.compile(r"weights_only|file an issue|trusted source|torch\.load|"
                        r"WeightsUnpickler|PytorchStreamReader|safe_globals", re.IGNORECASE)


def _check(msg: str, path: Path) -> None:
    """Names the file, none of torch's text, one complete sentence."""
    assert msg.startswith(f"{path}: "), msg
    assert not TORCH_TEXT.search(msg), msg
    assert msg.endswith("."), msg
    assert msg.count("(") == msg.count(")"), msg
    assert "\n" not in msg, msg


def _sam_like(path: Path) -> Path:
    torch.save({
        "image_encoder.patch_embed.proj.weight": torch.zeros(32, 3, 16, 16),
        "image_encoder.pos_embed": torch.zeros(1, 4, 4, 32),
        "image_encoder.blocks.0.attn.rel_pos_h": torch.zeros(7, 8),
        "mask_decoder.iou_token.weight": torch.zeros(1, 32),
        "filler": torch.arange(20000, dtype=torch.float32),
    }, path)
    return path


def _dino_like(path: Path) -> Path:
    torch.save({"cls_token": torch.zeros(1, 1, 8), "pos_embed": torch.zeros(1, 5, 8),
                "patch_embed.proj.weight": torch.zeros(8, 3, 2, 2),
                "blocks.0.attn.qkv.weight": torch.zeros(24, 8)}, path)
    return path


def test_error_classes_share_one_base():
    for cls in (EncoderLoadError, sam_mod.SamCheckpointError, S.DinoCheckpointError,
                S.CheckpointError):
        assert issubclass(cls, CheckpointError)
        assert issubclass(cls, SpamError) and issubclass(cls, ValueError)
    assert S.CheckpointError is S.DinoCheckpointError  # the old name still imports


def test_corrupt_encoder_file(tmp_path):
    good = save_encoder(tmp_path / "good.pt", SSNEncoder(8)).read_bytes()
    p = tmp_path / "corrupt.pt"
    p.write_bytes(good[:200] + bytes(len(good) - 200))   # a zip whose records are zeroed
    with pytest.raises(EncoderLoadError) as exc:
        load_encoder(p)
    _check(str(exc.value), p)
    assert "not a valid SPAM encoder weight file" in str(exc.value)


def test_truncated_sam_checkpoint(tmp_path):
    full = _sam_like(tmp_path / "full.pth").read_bytes()
    p = tmp_path / "sam_vit_b_01ec64.pth"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(sam_mod.SamCheckpointError) as exc:
        sam_mod.read_state_dict(p)
    msg = str(exc.value)
    _check(msg, p)
    assert "not a valid SAM checkpoint (truncated or corrupt file" in msg
    assert "375,042,383" in msg   # the size of the official file, stated in full


@pytest.mark.parametrize("kind, maker, other", [
    ("encoder", _sam_like, "SAM checkpoint"),
    ("encoder", _dino_like, "DINO"),
    ("sam", _dino_like, "DINO"),
    ("sam", lambda p: save_encoder(p, SSNEncoder(8)), "SPAM encoder"),
    ("dino", _sam_like, "SAM checkpoint"),
    ("dino", lambda p: save_encoder(p, SSNEncoder(8)), "SPAM encoder"),
])
def test_a_model_of_another_kind_is_named(tmp_path, kind, maker, other):
    p = tmp_path / "model.pth"
    maker(p)
    with pytest.raises(CheckpointError) as exc:
        validate_checkpoint(kind, p)
    msg = str(exc.value)
    _check(msg, p)
    assert "it holds a model of another kind" in msg and other in msg


def test_validate_checkpoint_describes_a_good_file(tmp_path):
    p = save_encoder(tmp_path / "enc.pt", SSNEncoder(8))
    assert validate_checkpoint("encoder", p) == "SPAM encoder D=8 (enc.pt)"
    with pytest.raises(ValueError, match="unknown checkpoint kind"):
        validate_checkpoint("resnet", p)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["encoder", "sam", "dino"])
def test_missing_and_empty_files(tmp_path, kind):
    with pytest.raises(CheckpointError) as exc:
        validate_checkpoint(kind, tmp_path / "nowhere.pth")
    _check(str(exc.value), tmp_path / "nowhere.pth")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError) as exc:
        validate_checkpoint(kind, empty)
    _check(str(exc.value), empty)
    assert "empty" in str(exc.value)


# ------------------------------------------------------------------------------ exit codes


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    p = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(p)
    return p


def _last_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("error: ")
    return err[-1][len("error: "):]


def test_prior_and_segment_exit_alike_for_a_bad_sam_checkpoint(tmp_path, photo, capsys):
    full = _sam_like(tmp_path / "full.pth").read_bytes()
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(full[: len(full) // 3])
    rc_prior = main(["prior", str(photo), "--out", str(tmp_path / "p"), "--sam-checkpoint",
                     str(bad), "--device", "cpu"])
    msg_prior = _last_error(capsys)
    rc_segment = main(["segment", str(photo), "--out", str(tmp_path / "s"), "--encoder", "none",
                       "--sam-checkpoint", str(bad), "--device", "cpu", "--no-progress"])
    msg_segment = _last_error(capsys)
    assert rc_prior == rc_segment == EXIT_USAGE == 2
    assert msg_prior == msg_segment
    _check(msg_prior, bad)


def test_segment_and_saliency_exit_2_for_bad_model_files(tmp_path, photo, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x02garbage" * 50)
    assert main(["segment", str(photo), "--out", str(tmp_path / "s"), "--encoder", str(junk),
                 "--no-progress"]) == 2
    _check(_last_error(capsys), junk)
    assert main(["saliency", str(photo), "--out", str(tmp_path / "v"), "--dino-checkpoint",
                 str(junk), "--no-cache"]) == 2
    _check(_last_error(capsys), junk)


def _no_loading(monkeypatch) -> None:
    def boom(*a, **k):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr(spam_mod, "Spam", boom)
    monkeypatch.setattr(sam_mod, "load_sam", boom)
    monkeypatch.setattr(sam_mod.prior, "load_sam", boom)   # where sam_prior looks it up
    monkeypatch.setattr(S, "get_dino", boom)
    monkeypatch.setattr(S.compute, "get_dino", boom)   # where compute_saliency looks it up


@pytest.mark.parametrize("command", ["segment", "prior", "saliency"])
def test_a_missing_input_is_reported_before_any_model_loads(tmp_path, photo, capsys,
                                                            monkeypatch, command):
    _no_loading(monkeypatch)
    model = _sam_like(tmp_path / "sam.pth")
    dino = _dino_like(tmp_path / "dino.pth")
    missing = tmp_path / "no_such_photo.png"
    extra = {"segment": ["--sam-checkpoint", str(model), "--visual-attention",
                         "--dino-checkpoint", str(dino), "--no-progress"],
             "prior": ["--sam-checkpoint", str(model)],
             "saliency": ["--dino-checkpoint", str(dino)]}[command]
    rc = main([command, str(photo), str(missing), "--out", str(tmp_path / "out"), *extra])
    assert rc == 2
    assert _last_error(capsys) == f"{missing}: no such file or folder"
    assert not (tmp_path / "out").exists()
