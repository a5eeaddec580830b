"""The autosaved state file: schema validation, broken files moved aside, nothing lost (no Qt)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from spam_gui.app.model import Params, Prompt, read_state_file, validate_entry
from spam_gui.app.model.state_file import STATE_FORMAT, entry_to_json


def _write(path, images, **extra):
    data = {"format": STATE_FORMAT, "version": 1, "images": images, **extra}
    path.write_text(json.dumps(data))


def test_model_package_imports_no_qt():
    code = ("import sys, spam_gui.app.model; "
            "assert not any(m.startswith('PySide6') for m in sys.modules), 'PySide6 imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_good_entry_round_trips(tmp_path):
    raw = {"params": {"n_segments": 600, "va": True}, "ratios": {"3": 2.0},
           "prompts": [[[10, 20, 1], [5, 5, 0]]], "params_touched": True,
           "exported": "abc", "exported_at": 1.5, "image_sha256": "0" * 64}
    entry, problems = validate_entry("a.png", raw)
    assert problems == []
    assert entry.ratios == {3: 2.0}
    assert entry.prompts == (Prompt(((10, 20, 1), (5, 5, 0))),)
    assert entry.params_for(Params()).n_segments == 600
    again, problems = validate_entry("a.png", entry_to_json(entry))
    assert again == entry and problems == []


@pytest.mark.parametrize("field, value", [
    ("ratios", [1, 2]), ("ratios", {"x": 2}), ("ratios", {"2": "big"}), ("ratios", {"2": -1}),
    ("prompts", {"a": 1}), ("prompts", [[["x", 1, 1]]]), ("prompts", [[[1, 2, 7]]]),
    ("params", [400]), ("params", {"n_segments": "many"}), ("params", {"lambda_s": float("nan")}),
    ("params_touched", "yes"), ("exported", 12), ("image_sha256", "short"),
])
def test_bad_field_is_dropped_and_named(field, value):
    entry, problems = validate_entry("b.png", {field: value, "params_touched": True}
                                     if field != "params_touched" else {field: value})
    assert entry is not None
    assert len(problems) == 1 and problems[0].startswith("b.png: ")
    assert f"'{field}'" in problems[0]


def test_entry_that_is_not_an_object_is_ignored():
    entry, problems = validate_entry("c.png", "oops")
    assert entry is None and "not an object" in problems[0]


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=20))
def test_any_json_entry_is_validated_without_raising(raw):
    entry, problems = validate_entry("x.png", raw)
    assert entry is None or isinstance(entry.ratios, dict)
    if entry is not None:   # what was kept is usable as it is
        Params.from_dict(entry.params)
        assert all(1 / 64 <= r <= 64 for r in entry.ratios.values())


def test_partly_bad_file_keeps_the_good_entries_and_a_backup(tmp_path):
    p = tmp_path / ".spam_state.json"
    _write(p, {"good.png": {"ratios": {"2": 4.0}}, "bad.png": {"ratios": [1, 2]},
               "worse.png": 7}, current="good.png")
    original = p.read_bytes()
    out = read_state_file(p)
    assert out.usable and out.current == "good.png"
    assert out.images["good.png"].ratios == {2: 4.0}
    assert "worse.png" not in out.images
    assert len(out.problems) == 2
    assert out.backup is not None and out.backup.read_bytes() == original
    assert out.backup.name.startswith(".spam_state.json.broken-")
    assert p.read_bytes() == original          # the file itself is left to the next save


@pytest.mark.parametrize("content, why", [
    (b"{not json", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"format": "something-else", "images": {}}', "not a SPAM Studio state file"),
    (b'{"format": "spam-studio-state", "version": 99, "images": {}}', "version"),
    (b'{"format": "spam-studio-state", "version": 1, "images": [1]}', "'images'"),
    (b"\xff\xfe\x00garbage", "not text"),
])
def test_unusable_file_is_moved_aside(tmp_path, content, why):
    p = tmp_path / ".spam_state.json"
    p.write_bytes(content)
    out = read_state_file(p)
    assert not out.usable and out.images == {}
    assert not p.exists()
    assert out.backup is not None and out.backup.read_bytes() == content
    assert len(out.problems) == 1 and why in out.problems[0] and out.backup.name in out.problems[0]


def test_missing_file_is_no_problem(tmp_path):
    out = read_state_file(tmp_path / "none.json")
    assert out.problems == [] and not out.usable
