"""Superpixels of large photos kept on disk, so that a later session opens them at once.

A :class:`~spam_gui.core.engine.spam.SegmentationResult` of the working-grid path is stored as named
arrays (no pickle) in the disk cache's ``superpixels`` namespace
(:class:`~spam_gui.core.io.cache.DiskCache`: bounded, least recently used first out), keyed on
everything that shaped it (:func:`result_key`): the pixels, the object map it was computed in,
the parameters, the density ratios, the saliency map, the encoder and the program version.
Everything :meth:`~spam_gui.core.engine.spam.Spam.rescale` needs comes back with it (the working
grid, the working image and objects, each object's budget), so a restored result is clicked
and edited as a computed one. An entry that does not decode into a consistent result of this
image is dropped, and the result is computed again.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from spam_gui import __version__

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.io.cache import DiskCache
    from spam_gui.core.engine.spam import SegmentationResult

log = logging.getLogger(__name__)

__all__ = ["RESULT_CACHE", "load_result", "result_key", "store_result"]

RESULT_CACHE = "superpixels"
"""The disk cache's namespace of stored results."""
RESULT_FORMAT = 1
_ARRAYS = ("labels", "objects", "superpixel_object", "work_rgb", "work_objects", "meta")


def result_key(image_digest: str, objects: np.ndarray | None, params: Mapping[str, Any],
               ratios: Mapping[int, float] | None, saliency: np.ndarray | None,
               encoder_sha256: str | None) -> str:
    """The disk-cache key of a segmentation: a hash of everything that shaped it."""
    from spam_gui.core.io.cache import hash_array, make_key

    return make_key(RESULT_CACHE, RESULT_FORMAT, __version__, image_digest,
                    None if objects is None else hash_array(objects), dict(params),
                    sorted((int(k), float(v)) for k, v in (ratios or {}).items()),
                    None if saliency is None else hash_array(saliency), encoder_sha256)


def store_result(cache: "DiskCache", key: str, res: "SegmentationResult") -> bool:
    """Store a working-path result (False: not stored, e.g. an exact-path result)."""
    work = res._work
    if work is None:
        return False
    n = int(res.superpixel_object.shape[0])
    small = np.uint16 if n <= 65536 else np.int32
    meta = {
        "params": res.params, "timings": res.timings, "image_key": res.image_key,
        "objects_info": [i.as_dict() for i in res.objects_info.values()],
        "quota": {str(k): v for k, v in res._quota.items()},
        "base_k": {str(k): v for k, v in res._base_k.items()},
        "density": {str(k): v for k, v in res._density.items()},
        "grid": [work.grid.height, work.grid.width, work.grid.work_height, work.grid.work_width],
        "small_ids": sorted(work.small_ids), "objects_dtype": str(res.objects.dtype),
    }
    objects = res.objects
    obj_small = objects.max(initial=0) < 65536 and objects.min(initial=0) >= 0
    return cache.put_arrays(
        key, labels=res.labels.astype(small), superpixel_object=res.superpixel_object,
        objects=objects.astype(np.uint16) if obj_small else objects,
        work_rgb=work.work_rgb, work_objects=work.work_objects,
        meta=np.array(json.dumps(meta)))


def load_result(cache: "DiskCache", key: str, image: np.ndarray) -> "SegmentationResult | None":
    """The result stored under ``key`` for ``image`` (full resolution), or None."""
    arrays = cache.get_arrays(key, required=_ARRAYS)
    if arrays is None:
        return None
    try:
        res = _decode(arrays, image)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        res = None
        log.warning("superpixels cache entry %s dropped (%s)", key, exc)
    if res is None:
        cache.delete(key)
    return res


def _decode(a: dict[str, np.ndarray], image: np.ndarray) -> "SegmentationResult | None":
    from spam_gui.core.engine.fullres.grid import WorkingGrid
    from spam_gui.core.engine.fullres.points import WorkState
    from spam_gui.core.engine.spam import ObjectInfo, SegmentationResult

    meta = json.loads(str(a["meta"]))
    h, w = image.shape[:2]
    labels = a["labels"].astype(np.int32)
    objects = a["objects"].astype(meta["objects_dtype"])
    sp_obj = a["superpixel_object"].astype(np.int32)
    gh, gw, wh, ww = (int(v) for v in meta["grid"])
    ok = (labels.shape == (h, w) and objects.shape == (h, w) and (gh, gw) == (h, w)
          and labels.min(initial=1) >= 1 and labels.max(initial=0) == sp_obj.shape[0] - 1
          and a["work_rgb"].shape == (wh, ww, 3) and a["work_objects"].shape == (wh, ww))
    if not ok:
        return None
    info = {int(d["id"]): ObjectInfo(**d) for d in meta["objects_info"]}
    state = WorkState(WorkingGrid(gh, gw, wh, ww), a["work_rgb"].astype(np.uint8),
                      a["work_objects"].astype(np.int32),
                      frozenset(int(o) for o in meta["small_ids"]))
    return SegmentationResult(
        labels=labels, objects=objects, superpixel_object=sp_obj, objects_info=info,
        params=meta["params"], timings={**meta["timings"], "from_cache": 1.0},
        image_key=meta["image_key"],
        _quota={int(k): float(v) for k, v in meta["quota"].items()},
        _base_k={int(k): int(v) for k, v in meta["base_k"].items()},
        _density={int(k): float(v) for k, v in meta["density"].items()},
        _image=image, _work=state)
