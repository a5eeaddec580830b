"""spam_gui.core.params: one set of default parameters for the engine, the app, the CLI,
evaluation and training; and spam_gui.core.env, the environment variables named once."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import tokenize
from pathlib import Path

import pytest

import spam_gui
from spam_gui.core import env
from spam_gui.core.params import DEFAULTS, RATIO_MODES, SegmentParams

PACKAGE = Path(spam_gui.__file__).parent


def _parser(module) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return p


def test_defaults_are_frozen_and_checked():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULTS.lambda_s = 1.0  # type: ignore[misc]
    assert SegmentParams() == DEFAULTS
    assert DEFAULTS.ratio_mode in RATIO_MODES
    with pytest.raises(ValueError, match="ratio_mode"):
        SegmentParams(ratio_mode="global")
    assert DEFAULTS.as_dict()["lambda_s"] == DEFAULTS.lambda_s


def test_engine_segment_takes_every_default():
    from spam_gui.core.engine.spam import Spam

    sig = inspect.signature(Spam.segment)
    for f in dataclasses.fields(SegmentParams):
        assert sig.parameters[f.name].default == getattr(DEFAULTS, f.name), f.name


def test_evaluation_training_budget_and_app_use_the_defaults():
    from spam_gui.app.model.doc_data import Params
    from spam_gui.core.params import RATIO_MODES as BUDGET_MODES
    from spam_gui.core.engine.budget import attention_allocation
    from spam_gui.core.evaluation.evaluate import make_method
    from spam_gui.core.training import TrainConfig

    ev = inspect.signature(make_method).parameters
    assert ev["lambda_s"].default == DEFAULTS.lambda_s
    assert ev["smoothing"].default == DEFAULTS.smoothing
    cfg = TrainConfig()
    assert (cfg.lambda_s, cfg.lambda_c, cfg.val_k) == (DEFAULTS.lambda_s, DEFAULTS.lambda_c,
                                                       DEFAULTS.n_segments)
    assert inspect.signature(attention_allocation).parameters["ratio"].default \
        == DEFAULTS.attention_ratio
    assert BUDGET_MODES is RATIO_MODES
    app = Params()
    for name in ("n_segments", "lambda_s", "lambda_c", "n_iter", "smoothing",
                 "attention_ratio", "ratio_mode"):
        assert getattr(app, name) == getattr(DEFAULTS, name), name
    assert app.va is False
    # the app's own behaviour is kept: a bad ratio mode falls back to the default one
    assert Params.from_dict({"ratio_mode": "sideways"}).ratio_mode == DEFAULTS.ratio_mode


def test_commands_take_defaults_and_help_from_params():
    from spam_gui.commands import eval as eval_cmd
    from spam_gui.commands import segment

    seg = _parser(segment)
    args = seg.parse_args(["x.png", "--out", "o"])
    assert (args.n_segments, args.lambda_s, args.lambda_c, args.iterations, args.smoothing,
            args.seed, args.ratio, args.saliency_threshold) == (
        DEFAULTS.n_segments, DEFAULTS.lambda_s, DEFAULTS.lambda_c, DEFAULTS.n_iter,
        DEFAULTS.smoothing, DEFAULTS.seed, DEFAULTS.attention_ratio, DEFAULTS.saliency_threshold)
    text = seg.format_help()
    assert f"(default {DEFAULTS.lambda_s:g})" in text
    assert f"(default {DEFAULTS.attention_ratio:g})" in text

    ev = _parser(eval_cmd)
    args = ev.parse_args(["--data", "d"])
    assert (args.lambda_s, args.smoothing) == (DEFAULTS.lambda_s, DEFAULTS.smoothing)
    assert f"default {DEFAULTS.lambda_s:g}" in ev.format_help()


def _number_literals(value: str) -> list[str]:
    """``path:line`` of every number token equal to ``value`` in spam_gui's Python code
    (comments and strings, docstrings included, are not tokens of type NUMBER)."""
    hits = []
    for path in sorted(PACKAGE.rglob("*.py")):
        toks = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        for tok in toks:
            if tok.type == tokenize.NUMBER and tok.string == value:
                hits.append(f"{path.relative_to(PACKAGE)}:{tok.start[0]}")
    return hits


@pytest.mark.parametrize("value", ["7.5", "0.26", "2.5"])
def test_each_default_number_is_written_once(value):
    hits = _number_literals(value)
    assert len(hits) == 1 and hits[0].startswith(str(Path("core") / "params.py") + ":"), hits


def test_environment_variables_named_once(monkeypatch):
    names = {env.ENV_SAM_CHECKPOINT, env.ENV_DINO_CHECKPOINT, env.ENV_CACHE_DIR, env.ENV_DATA_DIR}
    assert names == {"SPAM_SAM_CHECKPOINT", "SPAM_DINO_CHECKPOINT", "SPAM_CACHE_DIR",
                     "SPAM_DATA_DIR"}
    monkeypatch.setenv(env.ENV_SAM_CHECKPOINT, "  /models/sam.pth ")
    assert env.env_value(env.ENV_SAM_CHECKPOINT) == "/models/sam.pth"
    monkeypatch.setenv(env.ENV_SAM_CHECKPOINT, "   ")
    assert env.env_value(env.ENV_SAM_CHECKPOINT) is None
    monkeypatch.delenv(env.ENV_SAM_CHECKPOINT)
    assert env.env_value(env.ENV_SAM_CHECKPOINT) is None


def test_segment_command_reads_the_checkpoint_variables(monkeypatch):
    from spam_gui.commands import segment

    monkeypatch.setenv(env.ENV_SAM_CHECKPOINT, "/m/sam.pth")
    monkeypatch.setenv(env.ENV_DINO_CHECKPOINT, "/m/dino.pth")
    args = _parser(segment).parse_args(["x.png", "--out", "o"])
    assert args.sam_checkpoint == Path("/m/sam.pth")
    assert args.dino_checkpoint == Path("/m/dino.pth")
