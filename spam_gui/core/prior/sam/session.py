"""One image under SAM: the image embedding (computed once, optionally cached on disk), click /
box prompts (:meth:`SamSession.predict`) and the automatic masks."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from spam_gui.core.io.cache import DiskCache, hash_array, make_key
from spam_gui.core.io.images import to_rgb_uint8
from spam_gui.core.prior.sam.checkpoint import LoadedSam
from spam_gui.core.prior.sam.generator import generate_proposals
from spam_gui.core.prior.sam.proposals import AmgParams, ProgressFn, Proposals

__all__ = ["SamSession"]


class SamSession:
    """SAM on one image: the image embedding is computed once (or read from the disk cache) and
    kept for automatic masks and any number of click / box prompts.

    >>> s = SamSession(load_sam("sam_vit_b_01ec64.pth"), image)      # doctest: +SKIP
    >>> mask, score = s.predict(points=[(120, 80)], labels=[1])       # doctest: +SKIP
    """

    def __init__(self, sam: LoadedSam, image: np.ndarray, *, cache: DiskCache | None = None,
                 image_hash: str | None = None) -> None:
        from segment_anything import SamPredictor

        self.sam = sam
        self.image = to_rgb_uint8(image)
        self.original_size = tuple(int(s) for s in self.image.shape[:2])
        self.predictor = SamPredictor(sam.model)
        self.embedding_seconds = 0.0
        self.embedding_from_cache = False
        self._cache = cache
        self._image_hash = image_hash
        self._set_embedding()

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.predictor.input_size)  # type: ignore[return-value]

    @property
    def image_hash(self) -> str:
        if self._image_hash is None:
            self._image_hash = hash_array(self.image)
        return self._image_hash

    def _embedding_key(self) -> str:
        return make_key("sam-embedding/v1", self.image_hash, self.sam.sha256(self._cache))

    def _set_embedding(self) -> None:
        t0 = time.perf_counter()
        key = None
        if self._cache is not None:
            key = self._embedding_key()
            got = self._cache.get_arrays(key, required=("features", "input_size"),
                                         check=_check_embedding_entry,
                                         max_bytes=64 * 1024**2)
            if got is not None:
                p = self.predictor
                p.reset_image()
                p.original_size = self.original_size
                p.input_size = tuple(int(x) for x in got["input_size"])
                p.features = torch.as_tensor(got["features"], dtype=torch.float32,
                                             device=self.sam.device)
                p.is_image_set = True
                self.embedding_from_cache = True
                self.embedding_seconds = time.perf_counter() - t0
                return
        with torch.inference_mode():
            self.predictor.set_image(self.image)
        self.embedding_seconds = time.perf_counter() - t0
        if key is not None:
            self._cache.put_arrays(
                key, features=self.predictor.features.float().cpu().numpy(),
                input_size=np.array(self.predictor.input_size, dtype=np.int64))

    def predict(self, points: Any = None, labels: Any = None, box: Any = None,
                multimask: bool | None = None) -> tuple[np.ndarray, float]:
        """One mask from clicks and/or a box, through ``SamPredictor``.

        ``points``: (k, 2) (x, y) pixel coordinates; ``labels``: 1 = positive (inside the
        object), 0 = negative; ``box``: (x0, y0, x1, y1). With a single click SAM proposes three
        masks and the one with the best predicted IoU is returned (``multimask`` default);
        otherwise one mask. Returns ((H, W) bool mask, predicted IoU).
        """
        pc = pl = bx = None
        if points is not None and len(points):
            pc = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            pl = (np.ones(len(pc), dtype=np.int64) if labels is None
                  else np.asarray(labels, dtype=np.int64).reshape(-1))
            if len(pl) != len(pc):
                raise ValueError(f"{len(pc)} points but {len(pl)} labels")
        if box is not None:
            bx = np.asarray(box, dtype=np.float64).reshape(4)
        if pc is None and bx is None:
            raise ValueError("give at least one point or a box")
        if multimask is None:
            multimask = bx is None and pc is not None and len(pc) == 1
        with torch.inference_mode():
            masks, scores, _ = self.predictor.predict(
                point_coords=pc, point_labels=pl, box=bx, multimask_output=multimask)
        best = int(np.argmax(scores))
        return np.asarray(masks[best], dtype=bool), float(scores[best])

    def automatic_masks(self, params: AmgParams | None = None, *, method: str = "fast",
                        progress: ProgressFn | None = None) -> Proposals:
        """SAM's automatic masks on this image (see
        :func:`~spam_gui.core.prior.sam.generator.generate_proposals`)."""
        return generate_proposals(self, params, method=method, progress=progress)


def _check_embedding_entry(a: dict[str, np.ndarray]) -> None:
    """A cached SAM embedding: (1, C, h, w) finite floats and SAM's input size (two positive
    integers), else ``ValueError`` naming the problem (the entry is then recomputed)."""
    f, size = a["features"], a["input_size"]
    if f.ndim != 4 or f.shape[0] != 1 or not np.issubdtype(f.dtype, np.floating):
        raise ValueError(f"features are {f.dtype} {tuple(f.shape)}, not one image's embedding")
    if not np.isfinite(f).all():
        raise ValueError("features hold NaN or infinite values")
    if (size.shape != (2,) or not np.issubdtype(size.dtype, np.integer)
            or not (size > 0).all() or (size > 4096).any()):
        raise ValueError(f"input_size is {size.tolist()}, not SAM's input size")
