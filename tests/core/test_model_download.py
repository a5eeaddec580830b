"""Models on request: the registry, the downloader against a local HTTP server on 127.0.0.1
(wrong checksum, dropped connection then resume, 404, no server, cancel) and ``spam models``."""

from __future__ import annotations

import dataclasses
import hashlib
import urllib.request

import pytest

from spam_gui.core.models import (Checksum, ChecksumError, DownloadCancelled, NetworkError,
                                  all_models, download_model, find_model, installed_path,
                                  partial_path, verify_file)
from spam_gui.core.models import registry
from tests.local_http_server import LocalFileServer, unused_port

DATA = bytes(range(256)) * 1200          # 307200 bytes: several blocks of CHUNK
CHUNK = 64 * 1024


def fake_spec(url: str, data: bytes = DATA, checksum: str | None = None, **kw):
    """The SAM ViT-B entry pointing at the local server, with the test file's size and sha256."""
    return dataclasses.replace(
        find_model("sam_vit_b"), url=url, size=len(data), approx_size=len(data),
        checksum=Checksum("sha256", checksum or hashlib.sha256(data).hexdigest(), "the test"),
        **kw)


@pytest.fixture
def server():
    with LocalFileServer({"m.pth": DATA}) as srv:
        yield srv


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_registry_entries_are_complete():
    specs = all_models()
    assert {s.name for s in specs} == {"sam_vit_b", "sam_vit_l", "sam_vit_h", "dino_vits16"}
    for s in specs:
        assert s.url.startswith("https://dl.fbaipublicfiles.com/")
        assert s.url.endswith("/" + s.filename)
        assert s.kind in ("sam", "dino") and s.licence and s.checksum is not None
        assert s.checksum.source
        if s.checksum.algorithm == "sha256" and not s.checksum.prefix:
            assert len(s.checksum.value) == 64
    assert find_model("SAM-VIT-B").name == "sam_vit_b"
    assert find_model("dino_deitsmall16_pretrain.pth").name == "dino_vits16"
    with pytest.raises(registry.UnknownModelError, match="sam_vit_b"):
        find_model("vit_x")


def test_checksum_prefix_and_full():
    full = Checksum("sha256", "ab" * 32, "x")
    assert full.matches("AB" * 32) and not full.matches("ab" * 31 + "ac")
    pre = Checksum("md5", "cf0f22", "x", prefix=True)
    assert pre.matches("cf0f22" + "0" * 26) and not pre.matches("cf0f23" + "0" * 26)
    assert "first 6 hex digits" in pre.describe()


def test_download_verifies_then_installs(server, tmp_path):
    spec = fake_spec(server.url("m.pth"))
    seen = []
    res = download_model(spec, tmp_path, progress=lambda d, t, ph: seen.append((d, t, ph)),
                         timeout=10, chunk=CHUNK)
    final = installed_path(spec, tmp_path)
    assert res.path == final and final.read_bytes() == DATA
    assert res.downloaded == len(DATA) and res.resumed_from == 0 and not res.already_installed
    assert leftovers(tmp_path) == [final.name]              # no .part, no .lock
    assert ("download" in {p for _, _, p in seen}) and seen[-1] == (len(DATA), len(DATA),
                                                                    "verify")
    assert server.requests == [("m.pth", None)]
    # asked again: verified in place, nothing fetched
    again = download_model(spec, tmp_path, timeout=10)
    assert again.already_installed and len(server.requests) == 1


def test_wrong_checksum_is_refused_and_nothing_stays(server, tmp_path):
    spec = fake_spec(server.url("m.pth"), checksum="0" * 64)
    with pytest.raises(ChecksumError) as info:
        download_model(spec, tmp_path, timeout=10, chunk=CHUNK)
    msg = str(info.value)
    assert "not SAM ViT-B" in msg and "deleted" in msg and server.url("m.pth") in msg
    assert not installed_path(spec, tmp_path).exists()
    assert leftovers(tmp_path) == []                          # the .part went too


def test_wrong_size_is_refused_before_downloading(server, tmp_path):
    spec = dataclasses.replace(fake_spec(server.url("m.pth")), size=len(DATA) + 1)
    with pytest.raises(ChecksumError, match="offers 307200 bytes"):
        download_model(spec, tmp_path, timeout=10)
    assert leftovers(tmp_path) == []


def test_a_damaged_installed_file_is_replaced(server, tmp_path):
    spec = fake_spec(server.url("m.pth"))
    final = installed_path(spec, tmp_path)
    final.write_bytes(b"x" * len(DATA))
    assert not verify_file(spec, final).ok
    res = download_model(spec, tmp_path, timeout=10)
    assert not res.already_installed and final.read_bytes() == DATA


def test_dropped_connection_then_resume_with_range(server, tmp_path):
    spec = fake_spec(server.url("m.pth"))
    server.drop_after["m.pth"] = 100_000
    with pytest.raises(NetworkError) as info:
        download_model(spec, tmp_path, timeout=10, retries=0, chunk=CHUNK)
    part = partial_path(spec, tmp_path)
    assert "resumes" in str(info.value) and str(part) in str(info.value)
    assert part.stat().st_size == 100_000
    assert not installed_path(spec, tmp_path).exists()      # never half-installed
    res = download_model(spec, tmp_path, timeout=10, chunk=CHUNK)
    assert server.requests[-1] == ("m.pth", "bytes=100000-")
    assert res.resumed_from == 100_000 and res.downloaded == len(DATA) - 100_000
    assert installed_path(spec, tmp_path).read_bytes() == DATA
    assert leftovers(tmp_path) == [spec.filename]


def test_a_drop_is_resumed_at_once(server, tmp_path):
    spec = fake_spec(server.url("m.pth"))
    server.drop_after["m.pth"] = 70_000
    res = download_model(spec, tmp_path, timeout=10, chunk=CHUNK)
    assert [r for _, r in server.requests] == [None, "bytes=70000-"]
    assert res.path.read_bytes() == DATA


def test_a_server_without_ranges_restarts_the_part(server, tmp_path):
    spec = fake_spec(server.url("m.pth"))
    server.range_support = False
    partial_path(spec, tmp_path).write_bytes(b"junk" * 1000)
    res = download_model(spec, tmp_path, timeout=10, chunk=CHUNK)
    assert server.requests[-1] == ("m.pth", "bytes=4000-")   # asked, got the whole file
    assert res.path.read_bytes() == DATA


def test_a_complete_part_is_verified_without_refetching(server, tmp_path):
    spec = fake_spec(server.url("m.pth"))
    partial_path(spec, tmp_path).write_bytes(DATA)
    res = download_model(spec, tmp_path, timeout=10)
    assert server.requests[-1] == ("m.pth", f"bytes={len(DATA)}-")   # answered 416
    assert res.downloaded == 0 and res.path.read_bytes() == DATA


def test_404_says_where_to_put_the_file(server, tmp_path):
    spec = fake_spec(server.url("missing.pth"))
    with pytest.raises(NetworkError) as info:
        download_model(spec, tmp_path, timeout=10)
    msg = str(info.value)
    assert "HTTP 404" in msg and spec.url in msg and str(installed_path(spec, tmp_path)) in msg
    assert leftovers(tmp_path) == []


def test_no_server_one_clear_message(tmp_path):
    spec = fake_spec(f"http://127.0.0.1:{unused_port()}/m.pth")
    with pytest.raises(NetworkError) as info:
        download_model(spec, tmp_path, timeout=10)
    msg = str(info.value)
    assert "cannot be reached" in msg and "offline" in msg
    assert spec.url in msg and str(installed_path(spec, tmp_path)) in msg
    assert leftovers(tmp_path) == []


def test_cancel_keeps_the_part_for_the_next_try(server, tmp_path):
    spec = fake_spec(server.url("m.pth"))
    got = []

    def progress(done, total, phase):
        got.append(done)

    with pytest.raises(DownloadCancelled):
        download_model(spec, tmp_path, progress=progress, cancelled=lambda: len(got) > 2,
                       timeout=10, chunk=CHUNK)
    part = partial_path(spec, tmp_path)
    assert 0 < part.stat().st_size < len(DATA)
    assert not installed_path(spec, tmp_path).exists()
    have = part.stat().st_size
    res = download_model(spec, tmp_path, timeout=10, chunk=CHUNK)
    assert res.resumed_from == have and res.path.read_bytes() == DATA


def test_a_stale_lock_is_taken_over_a_live_one_refuses(server, tmp_path):
    import json
    import os

    from spam_gui.core.models import DownloadBusyError

    spec = fake_spec(server.url("m.pth"))
    lock = tmp_path / (spec.filename + ".lock")
    lock.write_text(json.dumps({"pid": os.getpid()}))
    with pytest.raises(DownloadBusyError, match="another download"):
        download_model(spec, tmp_path, timeout=10)
    lock.write_text(json.dumps({"pid": 2**22 + 12345}))     # no such process
    assert download_model(spec, tmp_path, timeout=10).path.read_bytes() == DATA


# --------------------------------------------------------------------------------- spam models


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to reach the network fails the test."""
    def refuse(*a, **k):
        raise AssertionError("spam models list must not touch the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_spam_models_list_works_offline(offline, tmp_path, capsys, monkeypatch):
    from spam_gui.cli import main

    monkeypatch.setenv("SPAM_DATA_DIR", str(tmp_path / "data"))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for spec in all_models():
        assert spec.name in out and spec.url in out
    assert out.count("not installed") == 4 and "Apache-2.0" in out
    folder = tmp_path / "data" / "models"
    assert f"Models folder: {folder}" in out
    folder.mkdir(parents=True)
    (folder / "sam_vit_b_01ec64.pth").write_bytes(b"x")
    (folder / "sam_vit_h_4b8939.pth.part").write_bytes(b"x" * 1000)
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("not installed") == 2 and "partly downloaded" in out
    assert f"file: {folder / 'sam_vit_b_01ec64.pth'}" in out


def test_spam_models_download_and_verify(server, tmp_path, capsys, monkeypatch):
    from spam_gui.cli import main

    spec = fake_spec("https://example.invalid/m.pth")
    monkeypatch.setattr(registry, "MODELS", (spec,))
    out_dir = tmp_path / "models"
    rc = main(["models", "download", "sam_vit_b", "--url", server.url("m.pth"),
               "--dir", str(out_dir), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert (out_dir / spec.filename).read_bytes() == DATA
    assert "downloaded, verified" in captured.out and "--sam-checkpoint" in captured.out
    assert main(["models", "verify", "--dir", str(out_dir)]) == 0
    assert "sam_vit_b: OK" in capsys.readouterr().out
    (out_dir / spec.filename).write_bytes(DATA[:-1] + b"\0")
    assert main(["models", "verify", "--dir", str(out_dir)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_spam_models_download_offline_exit_code_and_message(tmp_path, capsys, monkeypatch):
    from spam_gui.cli import main
    from spam_gui.core.errors import EXIT_FAILURE, EXIT_USAGE

    url = f"http://127.0.0.1:{unused_port()}/m.pth"
    spec = fake_spec(url)
    monkeypatch.setattr(registry, "MODELS", (spec,))
    rc = main(["models", "download", "sam_vit_b", "--dir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == EXIT_FAILURE
    assert err.count("error:") == 1 and url in err and str(tmp_path / spec.filename) in err
    assert main(["models", "download", "no_such_model", "--dir", str(tmp_path)]) == EXIT_USAGE


def test_spam_models_interrupted_keeps_the_part_message(tmp_path, capsys, monkeypatch):
    import spam_gui.core.models as models_pkg
    from spam_gui.cli import main
    from spam_gui.core.errors import EXIT_INTERRUPTED, EXIT_USAGE

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(models_pkg, "download_model", interrupted)
    rc = main(["models", "download", "sam_vit_b", "--dir", str(tmp_path), "--no-progress"])
    assert rc == EXIT_INTERRUPTED and "resume" in capsys.readouterr().err
    assert main(["models"]) == EXIT_USAGE
