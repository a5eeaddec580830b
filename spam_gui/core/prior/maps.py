"""Prior object maps: aggregation of binary mask proposals into a partition (docs/algorithm.md §5, paper §3.2).

A prior is an (H, W) integer object map where 0 means *uncertain* (a pixel free to join any nearby
superpixel) and every other value is one object. Mask proposals from SAM (or any other tool) overlap
and leave gaps; :func:`aggregate_proposals` turns them into a prior in four steps:

1. proposals smaller than ``a_min`` pixels are dropped (default ``a_min = sqrt(H * W) / 4``);
2. overlaps are removed, the smallest proposal wins: proposals are visited from the smallest to the
   largest, each one takes the pixels no smaller object already owns, and a proposal whose
   remainder is smaller than ``a_min`` is dropped (its pixels stay free for larger proposals);
3. the pixels still unlabelled are opened with a ``opening x opening`` square (5 x 5) to separate
   large background regions from thin gaps between objects, then split into 4-connected
   components; components of at least ``a_min`` pixels become *background* objects;
4. everything else (thin gaps, small leftovers) is uncertain (0).

Equal-area proposals are ordered by their content (their packed bits), so the object map does not
depend on the order of the proposals; object ids are numbered in raster order of each object's
first pixel. No Qt here.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import ndimage

from spam_gui.core.errors import SpamError
from spam_gui.core.io.cache import hash_file
from spam_gui.core.io.images import ImageReadError, integer_labels, read_label_map
from spam_gui.core.params import SAM_DEFAULTS

DEFAULT_OPENING = SAM_DEFAULTS.opening

SOURCE_PROPOSAL = "proposal"
SOURCE_BACKGROUND = "background component"
SOURCE_PROMPT = "prompt"
SOURCE_LABEL_MAP = "label map"


class PriorError(SpamError):
    """A prior or a set of mask proposals is unusable; the message names the file when there is one."""


@dataclass
class PriorObject:
    """Where one object of a prior comes from.

    ``source`` is ``"proposal"`` (a mask proposal, index ``proposal`` in the input),
    ``"background component"`` (a large unlabelled region, step 3), ``"prompt"`` (a mask added
    with :func:`merge_mask`) or ``"label map"`` (read from a file).
    """

    id: int
    source: str
    area: int                       # pixels in the object map
    proposal: int | None = None     # index of the proposal in the input
    proposal_area: int | None = None  # the proposal's own area before overlap removal
    score: float | None = None      # SAM's predicted IoU, when given
    stability: float | None = None  # SAM's stability score, when given
    bbox: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 (exclusive) in the object map

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["bbox"] is not None:
            d["bbox"] = list(d["bbox"])
        return {k: v for k, v in d.items() if v is not None}


@dataclass
class Prior:
    """An object map (0 = uncertain) and the provenance of each object."""

    object_map: np.ndarray                      # (H, W) int32
    objects: dict[int, PriorObject]
    a_min: float
    opening: int = DEFAULT_OPENING
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.object_map.shape)  # type: ignore[return-value]

    @property
    def n_objects(self) -> int:
        return len(self.objects)

    @property
    def uncertain_fraction(self) -> float:
        m = self.object_map
        return float((m == 0).mean()) if m.size else 0.0

    def params(self) -> dict[str, Any]:
        return {"a_min": float(self.a_min), "opening": int(self.opening)}

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable summary (parameters, counts, per-object provenance)."""
        h, w = self.shape
        return {
            "size": [int(w), int(h)],
            "aggregation": self.params(),
            "n_objects": self.n_objects,
            "uncertain_fraction": round(self.uncertain_fraction, 6),
            "stats": dict(self.stats),
            "objects": [self.objects[k].to_dict() for k in sorted(self.objects)],
        }


def default_a_min(shape: Sequence[int]) -> float:
    """docs/algorithm.md §5 default minimum object area: sqrt(H * W) / 4 pixels (≈ 98 px on BSDS)."""
    h, w = int(shape[0]), int(shape[1])
    return math.sqrt(h * w) / 4.0


def _as_masks(masks: Any, shape: Sequence[int] | None = None) -> np.ndarray:
    arr = np.asarray(masks)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise PriorError(f"mask proposals must have shape (n, H, W), got {arr.shape}")
    if arr.dtype != bool:
        if arr.size and not np.isin(np.unique(arr), (0, 1)).all():
            raise PriorError("mask proposals must be boolean (or contain only 0 and 1)")
        arr = arr.astype(bool)
    if shape is not None and tuple(arr.shape[1:]) != (int(shape[0]), int(shape[1])):
        raise PriorError(
            f"mask proposals are {arr.shape[2]}x{arr.shape[1]} but the image is "
            f"{int(shape[1])}x{int(shape[0])} (width x height)"
        )
    return arr


def _check_opening(opening: int) -> int:
    opening = int(opening)
    if opening < 0:
        raise ValueError(f"opening must be >= 0, got {opening}")
    return opening


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _background_components(free: np.ndarray, a_min: float, opening: int) -> list[np.ndarray]:
    """Step 3: large regions of ``free`` pixels after a square opening, 4-connected, >= a_min.

    Returned as a list of boolean masks in raster order of their first pixel.
    """
    if not free.any():
        return []
    if opening > 1:
        opened = ndimage.binary_opening(
            free, structure=np.ones((opening, opening), dtype=bool), border_value=0
        )
    else:
        opened = free
    lab, n = ndimage.label(opened)  # 4-connectivity (cross structuring element)
    if n == 0:
        return []
    areas = np.bincount(lab.ravel(), minlength=n + 1)
    out = []
    for k in range(1, n + 1):  # ndimage.label numbers components in raster order
        if areas[k] >= a_min:
            out.append(lab == k)
    return out


def _renumber_raster(object_map: np.ndarray) -> dict[int, int]:
    """old id -> new id, numbering objects 1..M in raster order of their first pixel."""
    flat = object_map.ravel()
    ids, first = np.unique(flat, return_index=True)
    order = [int(i) for _, i in sorted(zip(first.tolist(), ids.tolist())) if i != 0]
    return {old: new for new, old in enumerate(order, start=1)}


def aggregate_proposals(
    masks: Any,
    *,
    a_min: float | None = None,
    opening: int = DEFAULT_OPENING,
    scores: Sequence[float] | np.ndarray | None = None,
    stability: Sequence[float] | np.ndarray | None = None,
) -> Prior:
    """Aggregate binary proposals (n, H, W) into a prior object map (docs/algorithm.md §5).

    Parameters
    ----------
    masks:
        Boolean array (n, H, W) (or 0/1 integers); n may be 0.
    a_min:
        Minimum object area in pixels; default ``sqrt(H * W) / 4``.
    opening:
        Side of the square structuring element of the morphological opening (5 in the paper);
        0 or 1 disables the opening.
    scores, stability:
        Optional per-proposal SAM predicted IoU and stability score, copied into the provenance.

    Returns
    -------
    Prior
        ``object_map`` (H, W) int32 with objects 1..M in raster order of their first pixel and
        0 = uncertain; ``objects`` maps each id to its :class:`PriorObject`.
    """
    m = _as_masks(masks)
    n, h, w = m.shape
    a_min = default_a_min((h, w)) if a_min is None else float(a_min)
    opening = _check_opening(opening)
    sc = None if scores is None else np.asarray(scores, dtype=np.float64).ravel()
    st = None if stability is None else np.asarray(stability, dtype=np.float64).ravel()
    for name, arr in (("scores", sc), ("stability", st)):
        if arr is not None and arr.shape[0] != n:
            raise PriorError(f"{name} has {arr.shape[0]} values for {n} mask proposals")

    areas = m.reshape(n, -1).sum(axis=1) if n else np.zeros(0, dtype=np.int64)

    # Step 1: area filter.  Step 2: smallest wins; equal areas ordered by content so the
    # result does not depend on the input order (identical masks: the lowest index is kept).
    candidates = [i for i in range(n) if areas[i] >= a_min]
    packed = {i: np.packbits(m[i]).tobytes() for i in candidates}
    candidates.sort(key=lambda i: (int(areas[i]), packed[i], i))

    work = np.zeros((h, w), dtype=np.int32)  # temporary ids: proposal index + 1
    n_absorbed = 0
    for i in candidates:
        rem = m[i] & (work == 0)
        if rem.sum() >= a_min:
            work[rem] = i + 1
        else:
            n_absorbed += 1

    # Step 3: background components of what is still unlabelled.
    bg = _background_components(work == 0, a_min, opening)
    bg_tmp_ids = []
    for k, comp in enumerate(bg):
        tmp = -(k + 1)  # negative temporary ids for background components
        work[comp] = tmp
        bg_tmp_ids.append(tmp)

    # Step 4: the rest is uncertain (already 0). Renumber in raster order.
    remap = _renumber_raster(work)
    out = np.zeros((h, w), dtype=np.int32)
    objects: dict[int, PriorObject] = {}
    if remap:
        lut_keys = np.array(sorted(remap), dtype=np.int64)
        lut_vals = np.array([remap[k] for k in lut_keys], dtype=np.int32)
        flat = work.ravel()
        nz = flat != 0
        out_flat = out.ravel()
        out_flat[nz] = lut_vals[np.searchsorted(lut_keys, flat[nz])]
        obj_areas = np.bincount(out_flat, minlength=len(remap) + 1)
        boxes = ndimage.find_objects(out)   # one pass for every object's bounding box
        for old, new in remap.items():
            sl = boxes[new - 1]
            bbox = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
            if old > 0:
                i = old - 1
                objects[new] = PriorObject(
                    id=new, source=SOURCE_PROPOSAL, area=int(obj_areas[new]), proposal=i,
                    proposal_area=int(areas[i]),
                    score=None if sc is None else float(sc[i]),
                    stability=None if st is None else float(st[i]),
                    bbox=bbox,
                )
            else:
                objects[new] = PriorObject(
                    id=new, source=SOURCE_BACKGROUND, area=int(obj_areas[new]), bbox=bbox
                )
    n_prop_objects = sum(1 for o in objects.values() if o.source == SOURCE_PROPOSAL)
    stats = {
        "n_proposals": int(n),
        "n_too_small": int(n - len(candidates)),
        "n_absorbed": int(n_absorbed),
        "n_proposal_objects": int(n_prop_objects),
        "n_background_objects": int(len(bg)),
    }
    return Prior(object_map=out, objects=objects, a_min=a_min, opening=opening, stats=stats)


def merge_mask(
    prior: Prior,
    mask: Any,
    *,
    replace: int | None = None,
    score: float | None = None,
    a_min: float | None = None,
    opening: int | None = None,
) -> tuple[Prior, int | None]:
    """Add one mask (e.g. from a click prompt) to an existing prior, by the rules of docs/algorithm.md §5.

    The mask competes with each object it overlaps on area: the smaller one keeps the overlap
    (the new mask wins ties, it is the user's latest word). ``replace`` first removes that
    object (its pixels become free), to correct an object rather than add one. Objects left
    smaller than ``a_min`` are dropped; free pixels (uncertain ones included) are then regrouped
    into background components as in step 3, the rest stays uncertain.

    Existing objects keep their ids (so per-object settings survive); the new object gets
    ``max id + 1``. Returns ``(new_prior, new_id)``; ``new_id`` is None when what remains of the
    mask is smaller than ``a_min`` (the prior is then returned unchanged, apart from
    ``replace``, which is not applied either).
    """
    a_min = prior.a_min if a_min is None else float(a_min)
    opening = prior.opening if opening is None else _check_opening(opening)
    m = _as_masks(mask, prior.shape)
    if m.shape[0] != 1:
        raise PriorError(f"merge_mask takes one mask, got {m.shape[0]}")
    m = m[0]
    omap = prior.object_map.copy()
    objects = {k: PriorObject(**asdict(v)) for k, v in prior.objects.items()}
    if replace is not None:
        if replace not in objects:
            raise KeyError(f"no object {replace} in the prior")
        omap[omap == replace] = 0
        del objects[replace]

    mask_area = int(m.sum())
    if mask_area < a_min:
        return prior, None
    obj_areas = np.bincount(omap.ravel(), minlength=int(omap.max()) + 1 if omap.size else 1)
    overlapped = np.unique(omap[m])
    take = m & (omap == 0)
    for oid in overlapped.tolist():
        if oid == 0:
            continue
        if mask_area <= obj_areas[oid]:   # the new mask is smaller (or equal): it wins
            take |= m & (omap == oid)
    if int(take.sum()) < a_min:
        return prior, None

    new_id = max(list(objects) + [int(prior.object_map.max()) if prior.object_map.size else 0]) + 1
    omap[take] = new_id
    objects[new_id] = PriorObject(
        id=new_id, source=SOURCE_PROMPT, area=int(take.sum()), proposal_area=mask_area,
        score=None if score is None else float(score), bbox=_bbox(take),
    )
    # Objects that lost pixels: drop those now below a_min, update the others.
    for oid in overlapped.tolist():
        if oid == 0 or oid not in objects:
            continue
        area = int((omap == oid).sum())
        if area < a_min:
            omap[omap == oid] = 0
            del objects[oid]
        else:
            objects[oid].area = area
            objects[oid].bbox = _bbox(omap == oid)

    # Free pixels: regroup large ones into new background components.
    next_id = new_id + 1
    for comp in _background_components(omap == 0, a_min, opening):
        omap[comp] = next_id
        objects[next_id] = PriorObject(
            id=next_id, source=SOURCE_BACKGROUND, area=int(comp.sum()), bbox=_bbox(comp)
        )
        next_id += 1
    stats = dict(prior.stats)
    stats["n_prompts"] = stats.get("n_prompts", 0) + 1
    return Prior(object_map=omap, objects=objects, a_min=a_min, opening=opening, stats=stats), new_id


def prior_from_label_map(labels: Any, *, a_min: float | None = None,
                         opening: int = DEFAULT_OPENING) -> Prior:
    """Wrap an existing object map (0 = uncertain, any positive ids) as a :class:`Prior`.

    Ids are kept as they are; no area filtering is applied (a given prior is taken as is).
    """
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise PriorError(f"a prior must be an (H, W) label map, got shape {arr.shape}")
    try:  # floats only when every value is whole; NaN, 1.5 or -1 are refused, never truncated
        arr = integer_labels(arr)
    except ValueError as exc:
        raise PriorError(f"prior: {exc}") from None
    a_min = default_a_min(arr.shape) if a_min is None else float(a_min)
    objects = {}
    for oid in np.unique(arr).tolist():
        if oid == 0:
            continue
        mask = arr == oid
        objects[int(oid)] = PriorObject(
            id=int(oid), source=SOURCE_LABEL_MAP, area=int(mask.sum()), bbox=_bbox(mask)
        )
    return Prior(object_map=arr, objects=objects, a_min=a_min, opening=_check_opening(opening),
                 stats={"n_label_map_objects": len(objects)})


def read_prior(path: str | os.PathLike[str], shape: Sequence[int] | None = None) -> Prior:
    """Read a prior from a label-map file (8/16-bit PNG, TIFF; 0 = uncertain).

    The map's size is read from its header before any pixel is decoded: more than
    :data:`~spam_gui.core.io.images.MAX_PIXELS` pixels, or (with ``shape``, the image's (H, W)
    or (H, W, C)) another aspect ratio than the image's, raises :class:`PriorError` naming the
    file and both sizes. A map of the image's aspect ratio at another size (computed on a
    downscaled copy) is resized onto the image, nearest neighbour
    (:func:`spam_gui.core.engine.fullres.grid.map_onto`), as :meth:`spam_gui.core.engine.spam.Spam.segment` does.
    """
    from spam_gui.core.engine.fullres.grid import ASPECT_TOLERANCE, map_onto
    from spam_gui.core.io.images import label_map_size

    p = Path(path)
    try:
        mh, mw = label_map_size(p)          # the size from the header, before decoding
        if shape is not None:
            h, w = int(shape[0]), int(shape[1])
            if (mh, mw) != (h, w) and abs((mw / mh) / (w / h) - 1.0) > ASPECT_TOLERANCE:
                raise PriorError(
                    f"{p}: the prior is {mw}x{mh} but the image is {w}x{h} (width x height); "
                    "a prior must have the image's size, or its aspect ratio (it is then "
                    "resized, nearest neighbour)")
        labels = read_label_map(p)
    except ImageReadError as exc:
        raise PriorError(str(exc)) from None
    if shape is not None and labels.shape != (h, w):
        labels = map_onto(labels, h, w, f"{p}: the prior", nearest=True)
    return prior_from_label_map(labels)


AUTOMATIC_PRIOR = "the whole image as one object"
"""What an image gets when its prior map is missing from a ``--prior`` / app prior folder."""


def prior_map_path(folder: str | os.PathLike[str], image_path: str | os.PathLike[str]) -> Path:
    """Where the prior map of an image lies in a folder of prior maps: ``<folder>/<stem>.png``."""
    return Path(folder) / f"{Path(image_path).stem}.png"


def missing_prior_map_message(image_path: str | os.PathLike[str],
                              folder: str | os.PathLike[str]) -> str:
    """The warning for an image whose map is missing from a prior folder (CLI and app alike)."""
    image_path, folder = Path(image_path), Path(folder)
    return (f"{image_path.name}: no prior map {prior_map_path(folder, image_path).name} in "
            f"{folder}; using the automatic prior ({AUTOMATIC_PRIOR})")


@dataclass
class PriorMapLookup:
    """The outcome of :func:`find_prior_map` for one image."""

    path: Path                  # where the map was looked for
    prior: Prior | None         # None: the map is missing, use the automatic prior
    warning: str | None = None  # set when the map is missing

    @property
    def found(self) -> bool:
        return self.prior is not None


def find_prior_map(folder: str | os.PathLike[str], image_path: str | os.PathLike[str],
                   shape: Sequence[int] | None = None) -> PriorMapLookup:
    """The prior of an image from a folder of prior maps — one rule for the CLI and the app.

    ``<folder>/<stem>.png`` is read with :func:`read_prior` (a map that exists but is
    unreadable, of the wrong size or with non-integer values raises :class:`PriorError`). A
    missing map is not an error: the lookup has ``prior=None`` and a ``warning`` naming the
    image and the folder, and the image gets the automatic prior (:data:`AUTOMATIC_PRIOR`).
    """
    path = prior_map_path(folder, image_path)
    if not path.is_file():
        return PriorMapLookup(path, None, missing_prior_map_message(image_path, folder))
    return PriorMapLookup(path, read_prior(path, shape=shape))


def read_masks_npz(path: str | os.PathLike[str], shape: Sequence[int] | None = None
                   ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Read mask proposals from an ``.npz`` file: a boolean array ``masks`` (n, H, W).

    Optional arrays ``scores`` (n,) (a quality score such as SAM's predicted IoU) and
    ``stability`` (n,) are returned too (None when absent). ``shape`` is the image's (H, W): a
    file of another size raises :class:`PriorError` naming the file.
    """
    p = Path(path)
    if not p.is_file():
        raise PriorError(f"{p}: no such file")
    try:
        with np.load(p, allow_pickle=False) as npz:
            files = list(npz.files)
            if "masks" not in files:
                raise PriorError(
                    f"{p}: no array named 'masks' (found: {', '.join(files) or 'nothing'}); "
                    "expected a boolean array masks of shape (n, H, W)"
                )
            masks = npz["masks"]
            scores = npz["scores"] if "scores" in files else None
            stability = npz["stability"] if "stability" in files else None
    except PriorError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):     # numpy's text advises loading it unsafely: never
            raise PriorError(f"{p}: it holds Python objects, not boolean masks; they are "
                             "never loaded, because loading them could run code from the "
                             "file") from None
        raise PriorError(f"{p}: not a readable .npz file ({exc})") from None
    except (OSError, EOFError, KeyError) as exc:
        raise PriorError(f"{p}: not a readable .npz file ({exc})") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise PriorError(f"{p}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    if masks.ndim != 3:
        raise PriorError(f"{p}: 'masks' must have shape (n, H, W), got {masks.shape}")
    try:
        masks = _as_masks(masks, shape)
    except PriorError as exc:
        raise PriorError(f"{p}: {exc}") from None
    n = masks.shape[0]
    out = []
    for name, arr in (("scores", scores), ("stability", stability)):
        if arr is not None:
            arr = np.asarray(arr, dtype=np.float64).ravel()
            if arr.shape[0] != n:
                raise PriorError(f"{p}: '{name}' has {arr.shape[0]} values for {n} masks")
        out.append(arr)
    return masks, out[0], out[1]


def write_masks_npz(path: str | os.PathLike[str], masks: np.ndarray,
                    scores: np.ndarray | None = None, stability: np.ndarray | None = None) -> Path:
    """Write proposals in the ``.npz`` format :func:`read_masks_npz` reads, atomically."""
    import io

    from spam_gui.core.io.images import atomic_write_bytes

    arrays: dict[str, np.ndarray] = {"masks": _as_masks(masks)}
    if scores is not None:
        arrays["scores"] = np.asarray(scores, dtype=np.float32)
    if stability is not None:
        arrays["stability"] = np.asarray(stability, dtype=np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


# -- compact storage of priors and proposals (disk cache) -------------------------------------

def pack_masks(masks: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks (n, H, W) as packed bits (8 pixels a byte) plus their shape."""
    m = _as_masks(masks)
    return {"bits": np.packbits(m.reshape(m.shape[0], m.shape[1] * m.shape[2]), axis=1),
            "shape": np.array(m.shape, dtype=np.int64)}


def unpack_masks(bits: np.ndarray, shape: np.ndarray) -> np.ndarray:
    n, h, w = (int(x) for x in shape)
    if n == 0:
        return np.zeros((0, h, w), dtype=bool)
    return np.unpackbits(bits, axis=1, count=h * w).reshape(n, h, w).astype(bool)


def prior_to_arrays(prior: Prior) -> dict[str, np.ndarray]:
    """A :class:`Prior` as plain arrays (for :meth:`DiskCache.put_arrays`)."""
    import json

    meta = {
        "a_min": prior.a_min, "opening": prior.opening, "stats": prior.stats,
        "objects": [asdict(o) for o in prior.objects.values()],
    }
    return {"object_map": prior.object_map.astype(np.int32),
            "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}


def prior_from_arrays(arrays: dict[str, np.ndarray]) -> Prior:
    import json

    meta = json.loads(arrays["meta"].tobytes().decode())
    objects = {}
    for d in meta["objects"]:
        if d.get("bbox") is not None:
            d["bbox"] = tuple(d["bbox"])
        objects[int(d["id"])] = PriorObject(**d)
    return Prior(object_map=np.asarray(arrays["object_map"], dtype=np.int32), objects=objects,
                 a_min=float(meta["a_min"]), opening=int(meta["opening"]),
                 stats={k: int(v) for k, v in meta["stats"].items()})


def prior_file_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """How a prior map file is named in a sidecar: its name, full path and sha256."""
    p = Path(path)
    return {"file": p.name, "path": str(p.resolve()), "sha256": hash_file(p)}
