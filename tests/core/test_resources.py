"""Shipped files found through spam_gui.core.io.resources; a missing one is a named error."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spam_gui.core.io import resources as res
from spam_gui.core.errors import SpamError
from spam_gui.core.io.resources import (
    SHIPPED_RESOURCES, MissingResourceError, missing_resources, resource_path, resources_dir,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bare_resources(tmp_path, monkeypatch):
    """An installation whose resources folder is empty but for what a test puts there."""
    folder = tmp_path / "resources"
    (folder / "models").mkdir(parents=True)
    monkeypatch.setattr(res, "resources_dir", lambda: folder)
    return folder


def test_source_tree_has_every_shipped_file():
    assert resources_dir() == ROOT / "resources"      # an editable install / a checkout
    assert missing_resources() == []
    for name in SHIPPED_RESOURCES:
        assert resource_path(name) == ROOT / "resources" / name
    assert resource_path("models", "spam_encoder_d20.pt") == resource_path(
        "models/spam_encoder_d20.pt")
    assert resource_path("samples").is_dir()


def test_missing_resource_is_a_named_spam_error(bare_resources):
    with pytest.raises(MissingResourceError) as err:
        resource_path("models/spam_encoder_d20.pt")
    assert isinstance(err.value, SpamError)
    msg = str(err.value)
    assert str(bare_resources / "models" / "spam_encoder_d20.pt") in msg
    assert "'models/spam_encoder_d20.pt' is missing from this installation" in msg
    assert "reinstall" in msg
    assert err.value.name == "models/spam_encoder_d20.pt"
    assert missing_resources(("models/spam_encoder_d20.pt",)) == ["models/spam_encoder_d20.pt"]


@pytest.mark.parametrize("bad", ["", "../pyproject.toml", "models/../../x"])
def test_resource_names_stay_inside(bad):
    with pytest.raises(ValueError):
        resource_path(bad)


def test_installed_layout_wins_over_the_source_folder(tmp_path, monkeypatch):
    """A wheel or a PyInstaller build: ``spam_gui/_resources`` beside the package's modules."""
    pkg = tmp_path / "site" / "spam_gui"
    (pkg / "_resources" / "models").mkdir(parents=True)
    (pkg / "_resources" / "models" / "m.npz").write_bytes(b"x")
    (tmp_path / "site" / "resources").mkdir()      # a stray folder of that name is not used
    monkeypatch.setattr(res, "_package_root", lambda: pkg)
    assert resources_dir() == pkg / "_resources"
    assert resource_path("models/m.npz") == pkg / "_resources" / "models" / "m.npz"


def test_source_layout(tmp_path, monkeypatch):
    pkg = tmp_path / "checkout" / "spam_gui"
    pkg.mkdir(parents=True)
    (tmp_path / "checkout" / "resources").mkdir()
    monkeypatch.setattr(res, "_package_root", lambda: pkg)
    assert resources_dir() == tmp_path / "checkout" / "resources"


def test_no_resources_folder_at_all(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "spam_gui"
    pkg.mkdir(parents=True)
    monkeypatch.setattr(res, "_package_root", lambda: pkg)
    with pytest.raises(MissingResourceError, match="neither .*_resources nor .*resources exists"):
        resources_dir()
    monkeypatch.setattr(res, "_package_root", lambda: None)   # imported from a zip archive
    with pytest.raises(MissingResourceError, match="not a folder on the file system"):
        resource_path("models/spam_encoder_d20.pt")


def test_missing_shipped_encoder_is_an_error_not_a_fallback(bare_resources):
    from spam_gui.core.engine.spam import Spam, default_encoder_path

    with pytest.raises(MissingResourceError, match="spam_encoder_d20.pt"):
        default_encoder_path()
    with pytest.raises(MissingResourceError, match="spam_encoder_d20.pt"):
        Spam("default", device="cpu")
    assert Spam("none", device="cpu").feature_dim == 5          # asked for: still fine
    from spam_gui.core.batch.per_image import encoder_identity

    with pytest.raises(MissingResourceError):
        encoder_identity("default")


def test_missing_edge_model(bare_resources):
    from spam_gui.core.prior.builtin.edge_model import default_edge_model, edge_model_path

    with pytest.raises(MissingResourceError, match="builtin_prior_edges.npz"):
        edge_model_path()
    with pytest.raises(MissingResourceError, match="builtin_prior_edges.npz"):
        default_edge_model()


def test_missing_sample_set_is_a_sample_error(bare_resources, tmp_path):
    from spam_gui.samples import SampleError, sample_folder

    with pytest.raises(SampleError, match="'samples' is missing"):
        sample_folder(tmp_path / "copy")


@pytest.mark.parametrize("extra, missing", [
    (["--builtin-prior", "--encoder", "none"], "builtin_prior_edges.npz"),
    ([], "spam_encoder_d20.pt"),
    (["--workers", "1"], "spam_encoder_d20.pt"),        # checked before any worker starts
])
def test_spam_segment_names_the_missing_file(bare_resources, tmp_path, capsys, extra, missing):
    from spam_gui.cli import main

    image = shutil.copy(ROOT / "resources" / "samples" / "coffee.jpg", tmp_path / "coffee.jpg")
    out = tmp_path / "out"
    rc = main(["segment", str(image), "--out", str(out), "--device", "cpu", "--no-progress",
               *extra])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"{missing}' is missing from this installation" in err
    assert "Traceback" not in err
    assert not out.exists()                             # named before any work


def test_resources_module_is_qt_and_torch_free():
    code = ("import sys, spam_gui.core.io.resources; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'torch')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_pyinstaller_spec_puts_resources_where_a_wheel_does():
    spec = (ROOT / "packaging" / "spam-studio.spec").read_text(encoding="utf-8")
    assert f'"{res.PACKAGE}/{res.PACKAGED_DIR}"' in spec
    for f in ("packaging/check_build.sh", "packaging/README.md"):
        text = (ROOT / f).read_text(encoding="utf-8")
        assert "_internal/resources" not in text, f
