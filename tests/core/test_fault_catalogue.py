"""Issue 23, the fault catalogue (items 13-21): each case with a real payload or a simulated
failure, the message in our words naming the file and the problem."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spam_gui.core.errors import SpamError


def _image(h: int = 40, w: int = 60) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.full((h, w, 3), 90, np.uint8)
    img[:, w // 2:] = (200, 60, 50)
    return np.clip(img + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- 13 changed prior


def test_ratio_of_an_object_the_prior_lost_is_dropped_and_reported():
    from spam_gui.core.engine.spam import DroppedRatiosWarning, Spam

    img = _image()
    prior = np.ones(img.shape[:2], np.int32)
    prior[:, 30:] = 2
    spam = Spam(encoder=None, device="cpu")
    with pytest.warns(DroppedRatiosWarning, match="object 11 not used"):
        res = spam.segment(img, n_segments=20, prior=prior, ratios={2: 2.0, 11: 3.0}, n_iter=2)
    assert res.params["dropped_ratios"] == {"11": 3.0}
    assert res.objects_info[2].ratio == 2.0                   # the ratio that applies is kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = spam.segment(img, n_segments=20, prior=prior, ratios={2: 2.0}, n_iter=2)
    assert "dropped_ratios" not in clean.params
    assert np.array_equal(clean.labels, res.labels)          # the same as without the stale one


def test_ratios_array_errors_are_ours():
    from spam_gui.core.engine.budget import ratios_array, split_ratios

    assert split_ratios([1, 2], {2: 2.0, 11: 3.0}) == ({2: 2.0}, {11: 3.0})
    with pytest.raises(SpamError, match="object 5, which is not in the prior"):
        ratios_array([3, 7], {5: 2.0})


# ----------------------------------------------------------------------------- 14 large K


@pytest.mark.parametrize("h, w, k", [(2, 2, 4), (1, 200, 50), (40, 60, 2400), (10, 10, 100)])
def test_k_up_to_one_superpixel_per_pixel_is_delivered(h, w, k):
    """14: K near the pixel count used to collapse into one superpixel (the thin-sliver merge
    took every one-pixel-thick superpixel); now one per pixel at most is delivered."""
    from spam_gui.core.engine.spam import Spam

    img = np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = Spam(encoder=None, device="cpu").segment(img, n_segments=k, n_iter=3)
    if k == h * w:
        assert res.n_superpixels == k          # one superpixel per pixel
    else:
        assert abs(res.n_superpixels - k) <= 0.1 * k
    assert res.labels.min() == 1 and res.labels.max() == res.n_superpixels


def test_large_k_stays_close_and_k_above_the_pixels_is_said():
    from spam_gui.core.engine.spam import Spam

    img = np.repeat(np.repeat(np.random.default_rng(2).integers(0, 255, (12, 16, 3),
                                                                 dtype=np.uint8), 10, 0), 10, 1)
    spam = Spam(encoder=None, device="cpu")
    with warnings.catch_warnings(record=True) as caught:          # mean size 1.6 pixels
        warnings.simplefilter("always")
        res = spam.segment(img, n_segments=12000, n_iter=3)
    assert res.n_superpixels >= 0.5 * 12000                     # was 1 before
    said = [str(w.message) for w in caught]
    if res.n_superpixels < 0.75 * 12000:                         # short of K: said, with N
        assert said == [f"n_segments=12000 asked, {res.n_superpixels} superpixels delivered: "
                        "this image (or its prior's objects) cannot hold more at this density"]
    else:
        assert not said
    with pytest.warns(UserWarning, match="exceeds the 19200 pixels"):
        res = spam.segment(img, n_segments=50000, n_iter=3)
    assert res.n_superpixels == 19200
    assert "exceeds the 19200 pixels" in res.params["notes"][0]


def test_far_fewer_superpixels_than_k_is_said_with_the_number():
    """A prior whose objects cover 3 pixels cannot hold K = 50: the result says 3."""
    from spam_gui.core.engine.spam import Spam

    img = _image()
    prior = np.zeros(img.shape[:2], np.int32)
    prior[5, 5:8] = 1
    with pytest.warns(UserWarning, match="n_segments=50 asked, 3 superpixels delivered"):
        res = Spam(encoder=None, device="cpu").segment(img, n_segments=50, prior=prior,
                                                        n_iter=2)
    assert res.n_superpixels == 3
    assert any("3 superpixels delivered" in n for n in res.params["notes"])


def test_cli_segment_of_a_tiny_image_gives_one_superpixel_per_pixel(tmp_path, capsys):
    from PIL import Image

    from spam_gui.cli import main as spam_main

    Image.fromarray(np.random.default_rng(3).integers(0, 255, (2, 2, 3), dtype=np.uint8)).save(
        tmp_path / "tiny.png")
    rc = spam_main(["segment", str(tmp_path / "tiny.png"), "--out", str(tmp_path / "out"),
                    "-k", "4", "--encoder", "none", "--device", "cpu"])
    assert rc == 0
    labels = np.asarray(Image.open(tmp_path / "out" / "tiny.png"))
    assert sorted(np.unique(labels).tolist()) == [1, 2, 3, 4]
    rc = spam_main(["segment", str(tmp_path / "tiny.png"), "--out", str(tmp_path / "out2"),
                    "-k", "9", "--encoder", "none", "--device", "cpu"])
    assert rc == 0
    assert "exceeds the 4 pixels" in capsys.readouterr().err


# ----------------------------------------------------------------------------- 15 cache entries


def _npy_member(zf, name: str, header_shape: tuple[int, ...], data: bytes) -> None:
    """An npz member whose header claims ``header_shape`` float64 but holds ``data``."""
    import io as _io

    buf = _io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                               "shape": header_shape})
    zf.writestr(name + ".npy", buf.getvalue() + data)


def test_checkpoint_hash_entry_of_random_bytes_is_recomputed(tmp_path):
    """15: 64 random bytes in the SAM checkpoint-hash entry broke every later SAM run
    ('ascii' codec can't decode)."""
    import hashlib

    from spam_gui.core.io.cache import DiskCache
    from spam_gui.core.io.cache import hash_file_cached as checkpoint_sha256

    ckpt = tmp_path / "sam.pth"
    ckpt.write_bytes(b"weights" * 100)
    cache = DiskCache("sam", root=tmp_path / "cache")
    right = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert checkpoint_sha256(ckpt, cache) == right
    (entry,) = cache.entries()
    entry.write_bytes(np.random.default_rng(0).integers(128, 256, 64, dtype=np.uint8).tobytes())
    assert checkpoint_sha256(ckpt, cache) == right            # no UnicodeDecodeError
    (entry,) = cache.entries()
    assert entry.read_bytes() == right.encode()               # and the entry is whole again
    entry.write_bytes(b"g" * 64)                                # ascii, but not hex
    assert checkpoint_sha256(ckpt, cache) == right


def test_an_entry_that_would_inflate_past_its_bound_is_dropped_unread(tmp_path):
    import zipfile

    from spam_gui.core.io.cache import DiskCache, make_key

    cache = DiskCache("test", root=tmp_path)
    key = make_key("big")
    cache.put_arrays(key, a=np.zeros((1024, 1024)))           # 8 MiB of zeros: 8 KB on disk
    (entry,) = cache.entries()
    assert entry.stat().st_size < 100_000
    assert cache.get_arrays(key, max_bytes=1024**2) is None   # refused from the zip directory
    assert not cache.entries()                                # and deleted
    # an array header that claims 80 GB (a 3 MB entry that took 3.7 GB): refused before reading
    buf = __import__("io").BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        _npy_member(zf, "a", (10_000_000_000,), b"\0" * 64)
    cache.put(key, buf.getvalue())
    assert cache.get_arrays(key) is None and not cache.entries()


def test_a_saliency_entry_with_nan_or_the_wrong_shape_is_recomputed(tmp_path):
    import json

    from spam_gui.core import saliency as S
    from spam_gui.core.io.cache import DiskCache

    cache = DiskCache("saliency", root=tmp_path)
    img = _image()
    first = S.compute_saliency_info(img, cache=cache)
    (entry,) = cache.entries()
    key = entry.stem
    info = np.array(json.dumps(first.info))
    bad_maps = [np.full(first.saliency.shape, np.nan, np.float32),
                np.zeros((3, 3), np.float32),
                np.zeros(first.saliency.shape, np.int64).astype(object).astype(str)]
    for bad in bad_maps:
        cache.put_arrays(key, saliency=bad, info=info)
        again = S.compute_saliency_info(img, cache=cache)
        assert not again.from_cache
        np.testing.assert_array_equal(again.saliency, first.saliency)
    assert S.compute_saliency_info(img, cache=cache).from_cache


@pytest.fixture(scope="module")
def tiny_sam_ckpt(tmp_path_factory):
    import torch

    from tests.core.test_sam import _tiny_sam

    path = tmp_path_factory.mktemp("sam") / "tiny_sam.pth"
    torch.save(_tiny_sam().state_dict(), path)
    return path


def _sam_image():
    rng = np.random.default_rng(1)
    img = (rng.random((48, 64, 3)) * 60).astype(np.uint8)
    img[8:30, 10:34] = (220, 40, 40)
    img[20:44, 36:60] = (30, 200, 60)
    return img


@pytest.mark.parametrize("damage", ["negative ids", "wrong shape", "float ids", "nan scores",
                                    "too many masks", "nan embedding"])
def test_sam_cache_entries_with_wrong_data_are_recomputed(tmp_path, tiny_sam_ckpt, damage):
    """15: valid archives with wrong data (type, shape, negative ids, NaN) changed results or
    broke runs; each is now dropped and recomputed, the result as from a clean cache."""
    from spam_gui.core.io.cache import DiskCache, read_npz_bounded
    from spam_gui.core.prior.sam import AmgParams, sam_prior

    params = AmgParams(points_per_side=4, pred_iou_thresh=-1e9, stability_score_thresh=0.0,
                       stability_score_offset=0.05)
    img = _sam_image()
    cache = DiskCache("sam", root=tmp_path)
    clean = sam_prior(img, tiny_sam_ckpt, params=params, device="cpu", cache=cache,
                      keep_proposals=True)
    entries = {p: read_npz_bounded(p.read_bytes(), 1 << 30) for p in cache.entries()
               if p.stat().st_size > 64}
    kinds = {p: ("prior" if "object_map" in a else "proposals" if "bits" in a else "embedding")
             for p, a in entries.items()}
    target = {"negative ids": "prior", "wrong shape": "prior", "float ids": "prior",
              "nan scores": "proposals", "too many masks": "proposals",
              "nan embedding": "embedding"}[damage]
    (path,) = [p for p, k in kinds.items() if k == target]
    a = dict(entries[path])
    if damage == "negative ids":
        a["object_map"] = a["object_map"] - 5
    elif damage == "wrong shape":
        a["object_map"] = a["object_map"][:, :10]
    elif damage == "float ids":
        a["object_map"] = a["object_map"].astype(np.float64) + 0.5
    elif damage == "nan scores":
        a["scores"] = np.full_like(a["scores"], np.nan)
    elif damage == "too many masks":
        a["shape"] = np.array([10**6, 48, 64], np.int64)
    else:
        a["features"] = np.full_like(a["features"], np.nan)
    cache.put_arrays(path.stem, **a)
    if target == "embedding":      # the embedding is read when SAM runs: drop the later entries
        for p, k in kinds.items():
            if k != "embedding":
                cache.delete(p.stem)
    again = sam_prior(img, tiny_sam_ckpt, params=params, device="cpu", cache=cache,
                      keep_proposals=target != "prior")
    np.testing.assert_array_equal(again.prior.object_map, clean.prior.object_map)
    fixed = read_npz_bounded(path.read_bytes(), 1 << 30)     # stored again, whole
    for name, arr in entries[path].items():
        np.testing.assert_array_equal(fixed[name], arr)


# ----------------------------------------------------------------------------- 16 --scheduler


@pytest.mark.parametrize("address, ok", [
    ("tcp://10.0.0.1:8786", True), ("tls://scheduler.example:8786", True),
    ("127.0.0.1:8786", True), ("tcp://[::1]:8786", True), ("notaurl", False),
    ("http://host:8786", False), ("tcp://host", False), ("tcp://host:99999", False),
    ("tcp://ho st:8786", False), ("", False), ("tcp://[zz]:1", False)])
def test_scheduler_address_form_is_checked_at_once(address, ok):
    from spam_gui.core.batch.scheduler_address import check_scheduler_address

    problem = check_scheduler_address(address)
    assert (problem is None) == ok
    if not ok:
        assert problem.startswith("--scheduler") and "tcp://10.0.0.1:8786" in problem


def test_cli_refuses_a_scheduler_that_is_not_an_address_before_any_work(tmp_path, capsys):
    from PIL import Image

    from spam_gui.cli import main as spam_main

    Image.fromarray(_image()).save(tmp_path / "a.png")
    rc = spam_main(["segment", str(tmp_path / "a.png"), "--out", str(tmp_path / "out"),
                    "--encoder", "none", "--scheduler", "notaurl"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--scheduler notaurl: no port" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_given_up_after_the_stated_timeout(monkeypatch, tmp_path,
                                                                       capsys):
    import socket

    from PIL import Image

    from spam_gui.cli import main as spam_main
    from spam_gui.core.batch import dask_runner as batch_dask

    with socket.socket() as s:            # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(batch_dask, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(batch_dask.SchedulerError,
                       match=rf"--scheduler tcp://127.0.0.1:{port}: no Dask scheduler answered "
                             r"within 1 s"):
        batch_dask.DaskRunner(scheduler=f"tcp://127.0.0.1:{port}")
    Image.fromarray(_image()).save(tmp_path / "a.png")                  # the same from the CLI
    rc = spam_main(["segment", str(tmp_path / "a.png"), "--out", str(tmp_path / "out"),
                    "--encoder", "none", "--scheduler", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert rc == 2 and "no Dask scheduler answered within 1 s" in err
    assert "Traceback" not in err
    with pytest.raises(batch_dask.SchedulerError, match="not a port number"):
        batch_dask.DaskRunner(scheduler="tcp://127.0.0.1:0")


def test_help_and_docs_say_trusted_network_only_and_show_tls(capsys):
    from pathlib import Path

    from spam_gui.cli import main as spam_main

    with pytest.raises(SystemExit):
        spam_main(["segment", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Trusted network only" in text and "tls://" in text and "gives up after 10 s" in text
    doc = (Path(__file__).resolve().parents[2] / "docs" / "batch.md").read_text()
    assert "dask scheduler --host 127.0.0.1" in doc
    assert "--tls-ca-file" in doc and "tls://" in doc and "trusted network" in doc.lower()


# ----------------------------------------------------------------------------- 17 sidecars, COCO


def _coco_file(path, file_name: str):
    import json

    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": file_name, "width": 4, "height": 3}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                         "segmentation": [[0, 0, 3, 0, 3, 2, 0, 2]]}]}))
    return path


@pytest.mark.parametrize("name", ["/etc/passwd", "../x.png", "sub/../../x.png", "a\0b.png",
                                  "link/x.png"])
def test_coco_file_names_leaving_the_image_folder_are_refused(tmp_path, capsys, name):
    from PIL import Image

    from spam_gui.cli import main as spam_main

    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(tmp_path / "x.png")   # outside
    (images / "link").symlink_to(tmp_path)
    coco = _coco_file(tmp_path / "coco.json", name)
    rc = spam_main(["import", str(coco), "--format", "coco", "--out", str(tmp_path / "labels"),
                    "--images", str(images)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "coco.json" in err
    assert ("image folder" in err and "refused" in err) or "NUL byte" in err
    assert "Traceback" not in err and "ValueError" not in err
    assert not any((tmp_path / "labels").glob("*.png"))


def test_coco_file_name_inside_the_image_folder_is_taken(tmp_path, capsys):
    from PIL import Image

    from spam_gui.cli import main as spam_main

    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(images / "sub" / "x.png")
    coco = _coco_file(tmp_path / "coco.json", "sub/x.png")
    rc = spam_main(["import", str(coco), "--format", "coco", "--out", str(tmp_path / "labels"),
                    "--images", str(images)])
    assert rc == 0, capsys.readouterr().err


def _saliency_run(folder, out, capsys):
    from spam_gui.cli import main as spam_main

    rc = spam_main(["saliency", str(folder), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    return err


@pytest.mark.parametrize("planted", ["../../../../etc/hostname", "/etc/hostname", "zero-link",
                                     "fifo", "huge"])
def test_resume_reads_only_regular_files_of_the_output_folder(tmp_path, capsys, monkeypatch,
                                                              planted):
    """17: a sidecar naming ../../../../etc/hostname made the resume check open it, and
    /dev/zero hung it forever. Now such an entry is not read: the image is redone."""
    import json
    import os

    from PIL import Image

    from spam_gui.core.io import file_sets as batch_files

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(_image()).save(folder / "a.png")
    out = tmp_path / "out"
    _saliency_run(folder, out, capsys)
    side = out / "a.json"
    doc = json.loads(side.read_text())
    entry = next(iter(doc["files"].values()))
    if planted == "zero-link":
        (out / "zero.png").symlink_to("/dev/zero")
        entry["name"] = "zero.png"
    elif planted == "fifo":
        os.mkfifo(out / "pipe.png")
        entry["name"] = "pipe.png"
    elif planted == "huge":
        monkeypatch.setattr(batch_files, "MAX_SET_FILE_BYTES", 10)
    else:
        entry["name"] = planted
    side.write_text(json.dumps(doc))
    opened = []
    real = batch_files.hash_file
    monkeypatch.setattr(batch_files, "hash_file",
                        lambda p: opened.append(str(p)) or real(p))
    with pytest.raises(batch_files.FileSetError, match="is not read: "):
        batch_files.verify_file_set(out, "a.json")
    assert opened == []                         # nothing outside, no device, no pipe opened
    _saliency_run(folder, out, capsys)          # the rerun redoes the image (no hang)
    assert json.loads(side.read_text())["files"] != doc["files"] or planted == "huge"
    report = json.loads((out / "batch_report.json").read_text())
    assert "done" in json.dumps(report)


def test_a_sidecar_that_is_a_link_to_a_device_is_not_read(tmp_path):
    from spam_gui.core.io.file_sets import FileSetError, verify_file_set
    from spam_gui.core.formats.export import OutputSetError, verify_output_set

    (tmp_path / "a.json").symlink_to("/dev/zero")
    with pytest.raises(FileSetError, match="not a regular file"):
        verify_file_set(tmp_path, "a.json")
    with pytest.raises(OutputSetError, match="not a regular file"):
        verify_output_set(tmp_path, "a")


# ----------------------------------------------------------------------------- 18 export hash


def test_export_refuses_an_image_replaced_with_the_same_size_and_time(tmp_path):
    """18: a replaced image of the same byte size, its modification time restored, exported
    the old labels with the new file's hash. The content is now checked before writing."""
    import os

    from PIL import Image

    from spam_gui.core.formats.export import ImageChangedError, save_result
    from spam_gui.core.io.images import read_image
    from spam_gui.core.engine.spam import Spam

    path = tmp_path / "a.bmp"                      # BMP: same byte size for any pixels
    Image.fromarray(_image()).save(path)
    st = path.stat()
    res = Spam(encoder=None, device="cpu").segment(read_image(path), n_segments=20, n_iter=2)
    Image.fromarray(_image()[::-1].copy()).save(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    with pytest.raises(ImageChangedError, match=r"a\.bmp: the file's content changed"):
        save_result(tmp_path / "out", "a", res, image_path=path)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    res2 = Spam(encoder=None, device="cpu").segment(read_image(path), n_segments=20, n_iter=2)
    save_result(tmp_path / "out", "a", res2, image_path=path)       # the image there now: fine
    assert (tmp_path / "out" / "a.json").is_file()


# ----------------------------------------------------------------------------- 20 prior maps


def _png_header_only(path, width: int, height: int):
    """A PNG whose header says width x height (8-bit grey) and whose data is a few bytes:
    anything that decodes it fails as truncated, so a size refusal proves the header was read
    first (a 150 MP prior of 290 KB used 1.8 GB before being refused)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("width, height", [(12248, 12248), (30000, 30000)])
def test_a_huge_prior_is_refused_from_its_header_naming_the_prior(tmp_path, width, height):
    from spam_gui.core.prior.maps import PriorError, read_prior

    p = _png_header_only(tmp_path / "prior.png", width, height)
    with pytest.raises(PriorError) as info:
        read_prior(p, shape=(40, 60))
    msg = str(info.value)
    assert msg.startswith(f"{p}: ") and msg.count(str(p)) == 1
    assert "label map" in msg or "the prior is" in msg
    assert "DecompressionBomb" not in msg and "truncated" not in msg
    with pytest.raises(PriorError, match=r"label map.*MP.*more than the 100 MP"):
        read_prior(p)                                   # no image size given: the MP limit


def test_cli_segment_takes_a_half_size_prior_of_the_same_aspect_ratio(tmp_path, capsys):
    """20: the README says a half-size prior with the image's aspect ratio is resized;
    `spam segment --prior` refused it. Another aspect ratio is still refused by name."""
    import json

    from PIL import Image

    from spam_gui.cli import main as spam_main

    Image.fromarray(_image(40, 60)).save(tmp_path / "a.png")
    half = np.ones((20, 30), np.uint8)
    half[:, 15:] = 2
    Image.fromarray(half).save(tmp_path / "half.png")
    rc = spam_main(["segment", str(tmp_path / "a.png"), "--out", str(tmp_path / "out"),
                    "--prior", str(tmp_path / "half.png"), "-k", "20", "--encoder", "none",
                    "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    objects = np.asarray(Image.open(tmp_path / "out" / "a_objects.png"))
    assert objects.shape == (40, 60)
    assert set(np.unique(objects).tolist()) == {1, 2}
    assert (objects[:, :30] == 1).all() and (objects[:, 30:] == 2).all()
    assert json.loads((tmp_path / "out" / "a.json").read_text())
    Image.fromarray(np.ones((20, 20), np.uint8)).save(tmp_path / "square.png")
    rc = spam_main(["segment", str(tmp_path / "a.png"), "--out", str(tmp_path / "out2"),
                    "--prior", str(tmp_path / "square.png"), "-k", "20", "--encoder", "none",
                    "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert rc != 0 and "square.png: the prior is 20x20 but the image is 60x40" in err
    assert "Traceback" not in err


def test_a_colour_prior_is_named_once_in_our_words(tmp_path):
    from PIL import Image

    from spam_gui.core.prior.maps import PriorError, read_prior

    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    with pytest.raises(PriorError) as info:
        read_prior(tmp_path / "colour.png", shape=(40, 60))
    msg = str(info.value)
    assert msg.count("colour.png") == 1 and "single-channel" in msg
    assert "corrupt or truncated" not in msg


# ----------------------------------------------------------------------------- 21 our words


def _coco_run(tmp_path, capsys, data, name="coco.json"):
    import json

    from spam_gui.cli import main as spam_main

    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    rc = spam_main(["import", str(p), "--format", "coco", "--out", str(tmp_path / "labels")])
    return rc, capsys.readouterr().err


def _ours(err: str, name: str) -> None:
    assert name in err
    for library in ("Traceback", "RecursionError", "OverflowError", "ValueError",
                    "[Errno", "please file an issue", "allow_pickle", "unsafe"):
        assert library not in err, err


def test_a_deeply_nested_coco_file_is_refused_by_name(tmp_path, capsys):
    rc, err = _coco_run(tmp_path, capsys, '{"images": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert rc == 2 and "nested too deeply" in err
    _ours(err, "coco.json")


def test_a_nul_byte_in_a_coco_file_name_is_refused_by_name(tmp_path, capsys):
    import json

    data = json.loads(_coco_file(tmp_path / "tmp.json", "a\0b.png").read_text())
    rc, err = _coco_run(tmp_path, capsys, data)
    assert rc == 2 and "NUL byte" in err
    _ours(err, "coco.json")


def test_coco_counts_above_2_to_the_64_are_refused_with_exit_2(tmp_path, capsys):
    import json

    data = json.loads(_coco_file(tmp_path / "tmp.json", "x.png").read_text())
    data["annotations"][0]["segmentation"] = {"size": [3, 4], "counts": [2**64 + 5, 7]}
    rc, err = _coco_run(tmp_path, capsys, data)
    assert rc == 2
    _ours(err, "coco.json")


def test_a_dangling_link_in_the_image_folder_is_named_in_our_words(tmp_path, capsys):
    import json

    from PIL import Image

    from spam_gui.cli import main as spam_main

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(_image()).save(folder / "b.png")
    (folder / "a.png").symlink_to(tmp_path / "gone.png")
    rc = spam_main(["segment", str(folder), "--out", str(tmp_path / "out"), "-k", "20",
                    "--encoder", "none", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1                                     # one image failed, the other done
    assert "a.png: a link to" in err and "gone.png, which does not exist" in err
    _ours(err, "a.png")
    report = json.loads((tmp_path / "out" / "batch_report.json").read_text())
    assert "which does not exist" in json.dumps(report)


def test_an_object_array_in_a_masks_file_is_refused_in_our_words(tmp_path):
    from spam_gui.core.prior.maps import PriorError, read_masks_npz

    np.savez(tmp_path / "masks.npz", masks=np.array([object()] * 2, dtype=object))
    with pytest.raises(PriorError) as info:
        read_masks_npz(tmp_path / "masks.npz")
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'masks.npz'}: it holds Python objects")
    assert "allow_pickle" not in msg and "unsafe" not in msg


@pytest.mark.parametrize("kind", ["encoder", "sam", "dino"])
def test_a_raw_pickle_of_another_protocol_gets_no_pytorch_note(tmp_path, capfd, kind):
    """PyTorch's "please file an issue" warning for a pickle of protocol 4 reached the
    console before our message."""
    import collections
    import pickle

    from spam_gui.core.errors import CheckpointError
    from spam_gui.core.models.verify import validate_checkpoint

    path = tmp_path / "raw.pth"
    with open(path, "wb") as fh:
        pickle.dump(collections.OrderedDict(a=1), fh, protocol=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no library warning escapes either
        with pytest.raises(CheckpointError) as info:
            validate_checkpoint(kind, path)
    assert str(info.value).startswith(f"{path}: not a valid")
    out = capfd.readouterr()
    assert "please file an issue" not in out.out + out.err
