"""Where an image's objects come from: one small class per prior source, one function picks.

A source turns an image into an object map (0 = uncertain) and says where it came from (the
sidecar's ``prior`` record). The per-image pipeline (:func:`spam_gui.core.pipeline.run_image`)
calls it with a :class:`SourceContext`: the image, its working grid and working image, the
engine, a memo for results worth keeping. A source that works on the working grid returns
a map of the grid's size; the pipeline brings it to full resolution.

============  ===============================================================================
name          the objects
============  ===============================================================================
``maps``      a label-map file (``<folder>/<stem>.png``; a missing one gives the automatic
              prior, :data:`spam_gui.core.prior.maps.AUTOMATIC_PRIOR`, and a warning)
``builtin``   the built-in prior (:mod:`spam_gui.core.prior.builtin.compute`), on the working grid
``sam``       Segment Anything's automatic masks, aggregated (:mod:`spam_gui.core.prior.sam`)
``edited``    an object map edited in the app (merge, split, draw, erase)
``none``      none: the whole image is one object
============  ===============================================================================

:func:`choose_source` is the one place where a source is picked (``auto``: a prior map if
there is one, else SAM when a checkpoint is set, else the built-in prior). A new source is a
class here with a ``compute`` method and one line in :data:`SOURCES`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from spam_gui.core.params import PRIOR_DEFAULTS, SAM_DEFAULTS, format_coarseness

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.engine.fullres.grid import WorkingGrid
    from spam_gui.core.engine.spam import Spam

__all__ = [
    "PRIOR_SOURCES", "SOURCE_NAMES", "SOURCES", "BuiltinSource", "EditedSource",
    "LabelMapSource", "Memo", "NoMemo", "NoSource", "PriorOutcome", "PriorSource", "SamSource",
    "SourceContext", "choose_source",
]

PRIOR_SOURCES: tuple[str, ...] = ("auto", "maps", "sam", "builtin", "none")
"""The sources a user picks (the app's setting; ``edited`` is a state of one image)."""

SOURCE_NAMES: dict[str, str] = {
    "auto": "automatic", "maps": "prior map", "sam": "SAM", "builtin": "built-in prior",
    "none": "none", "edited": "edited objects",
}
"""How the interface names each source."""


class Memo(Protocol):
    """A key -> value store for results worth keeping (the app's in-memory caches)."""

    def get(self, key: Any) -> Any: ...

    def put(self, key: Any, value: Any) -> None: ...


class NoMemo:
    """A memo that keeps nothing."""

    def get(self, key: Any) -> Any:
        return None

    def put(self, key: Any, value: Any) -> None:
        pass


@dataclass
class SourceContext:
    """What a source may use for one image."""

    image: np.ndarray                       # (H, W, 3) uint8, full resolution
    digest: str                             # the pixels' sha256
    grid: "WorkingGrid | None"              # None: the image is its own working grid
    engine: "Spam"
    device: str = "auto"
    memo: Memo = field(default_factory=NoMemo)
    progress: Callable[[float, str], None] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])

    @cached_property
    def work_image(self) -> np.ndarray:
        """The image on the working grid (resized once, when a stage first needs it)."""
        return self.image if self.grid is None else self.grid.resize(self.image)


@dataclass
class PriorOutcome:
    """An object map and where it came from.

    ``object_map`` has the image's size, or the working grid's when the source computed it
    there (``on_grid``); None means the whole image is one object."""

    object_map: np.ndarray | None
    info: dict[str, Any]
    note: str
    key: str
    warning: str | None = None
    on_grid: bool = False


class PriorSource:
    """One way of getting an image's objects."""

    name: str = ""

    def compute(self, ctx: SourceContext) -> PriorOutcome:  # pragma: no cover - abstract
        raise NotImplementedError


def _key(*parts: Any) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:12]


@dataclass
class NoSource(PriorSource):
    """No prior: the whole image is one object."""

    name = "none"

    def compute(self, ctx: SourceContext) -> PriorOutcome:
        return PriorOutcome(None, {"source": "none"}, "no prior (whole image one object)",
                            "none")


@dataclass
class LabelMapSource(PriorSource):
    """A label-map file (0 = uncertain). ``folder``: the folder it was looked for in (a
    missing file then gives the automatic prior and a warning); None: the file must exist."""

    path: Path
    folder: Path | None = None
    image_path: Path | None = None    # named by the warning of a missing map
    name = "maps"

    def compute(self, ctx: SourceContext) -> PriorOutcome:
        from spam_gui.core.prior.maps import prior_file_info
        from spam_gui.core.prior.maps import AUTOMATIC_PRIOR, missing_prior_map_message, read_prior

        p = Path(self.path)
        try:
            st = p.stat()
        except OSError:
            st = None
        if st is None and self.folder is not None:
            message = missing_prior_map_message(self.image_path or p, self.folder)
            return PriorOutcome(None, {"source": "automatic", "automatic": AUTOMATIC_PRIOR,
                                       "missing_map": str(p)}, message, "none", warning=message)
        key = ("maps", str(p), st.st_size if st else -1, st.st_mtime_ns if st else -1,
               ctx.shape)
        hit = ctx.memo.get(key)
        if hit is None:
            pr = read_prior(p, shape=ctx.shape)
            hit = PriorOutcome(pr.object_map, {"source": "label map", **prior_file_info(p)},
                               f"prior map {p.name}", _key(key))
            ctx.memo.put(key, hit)
        return hit


@dataclass
class BuiltinSource(PriorSource):
    """The built-in prior, cut at ``coarseness``, computed on the working grid: its fine
    superpixels, graph and merging never see more pixels than the superpixels' clustering
    (:func:`spam_gui.core.prior.builtin.compute.build_hierarchy`)."""

    coarseness: float | None = None
    name = "builtin"

    def compute(self, ctx: SourceContext) -> PriorOutcome:
        from spam_gui.core.prior.builtin.compute import builtin_description

        c = PRIOR_DEFAULTS.coarseness if self.coarseness is None else float(self.coarseness)
        key = ("builtin", ctx.digest, ctx.engine.encoder_name, str(ctx.engine.device),
               None if ctx.grid is None else ctx.grid.shape, round(c, 4))
        hit = ctx.memo.get(key)
        if hit is None:
            hier = self.hierarchy(ctx)
            object_map = hier.prior(c)
            info = {"source": "builtin", **builtin_description(hier, c, spam=ctx.engine)}
            if ctx.grid is not None:
                info["working_size"] = [ctx.grid.work_width, ctx.grid.work_height]
            n = int(np.unique(object_map[object_map > 0]).size)
            hit = PriorOutcome(object_map, info, f"built-in prior (coarseness {format_coarseness(c)}): "
                               f"{n} objects", _key(key), on_grid=ctx.grid is not None)
            ctx.memo.put(key, hit)
        return hit

    @staticmethod
    def hierarchy(ctx: SourceContext) -> Any:
        """The merge tree of the working image: from the memo, the disk cache
        (:func:`spam_gui.core.prior.builtin.compute.cached_hierarchy`) or computed."""
        from spam_gui.core.prior.builtin.compute import cached_hierarchy

        key = ("hierarchy", ctx.digest, ctx.engine.encoder_name, str(ctx.engine.device),
               None if ctx.grid is None else ctx.grid.shape)
        hier = ctx.memo.get(key)
        if hier is None:
            hier = cached_hierarchy(ctx.work_image, spam=ctx.engine, progress=ctx.progress)
            ctx.memo.put(key, hier)
        return hier


@dataclass
class SamSource(PriorSource):
    """Segment Anything's automatic masks, aggregated into objects (through SAM's disk cache).

    ``run``: another way of running SAM, ``run(image, progress) -> (prior, note, info)`` (the
    app's, which holds its SAM lock); None: :func:`spam_gui.core.prior.sam.sam_prior`."""

    checkpoint: str
    points_per_side: int = SAM_DEFAULTS.points_per_side
    lock: Any = None        # held while SAM runs (one SAM model at a time in the app)
    run: Callable[..., tuple[Any, str, dict[str, Any]]] | None = None
    name = "sam"

    def compute(self, ctx: SourceContext) -> PriorOutcome:
        key = ("sam", ctx.digest, str(self.checkpoint), ctx.device, ctx.shape,
               int(self.points_per_side))
        hit = ctx.memo.get(key)
        if hit is None:
            pr, note, info = (self.run or self.run_sam)(ctx.image, ctx.progress, ctx.device)
            hit = PriorOutcome(pr.object_map, info, note, _key(key))
            ctx.memo.put(key, hit)
        return hit

    def run_sam(self, image: np.ndarray, progress: Any, device: str
                ) -> tuple[Any, str, dict[str, Any]]:
        """SAM's automatic masks of ``image`` aggregated into a prior (through SAM's disk
        cache, holding :attr:`lock`): (prior, note, sidecar record)."""
        from contextlib import nullcontext

        from spam_gui.core.prior.sam import AmgParams, sam_prior

        with self.lock if self.lock is not None else nullcontext():
            out = sam_prior(image, self.checkpoint, device=device,
                            params=AmgParams(points_per_side=int(self.points_per_side)),
                            progress=progress)
        variant = out.provenance.get("checkpoint", {}).get("variant", "")
        cached = " (cached)" if out.provenance.get("cache") == "prior" else ""
        note = " ".join(f"SAM {variant} prior{cached}: {len(out.prior.objects)} objects".split())
        return out.prior, note, {"source": "sam", **out.provenance}


@dataclass
class EditedSource(PriorSource):
    """An object map edited in the app; ``base`` is the sidecar record of the prior it was
    edited from (kept in the chain)."""

    objects: np.ndarray
    base: dict[str, Any] | None = None
    name = "edited"

    def compute(self, ctx: SourceContext) -> PriorOutcome:
        from spam_gui.core.errors import SpamError

        obj = np.asarray(self.objects)
        if tuple(obj.shape) != ctx.shape:
            raise SpamError(f"the edited objects are {obj.shape[1]}x{obj.shape[0]}, the image "
                            f"{ctx.shape[1]}x{ctx.shape[0]}: recompute the objects")
        digest = hashlib.sha256(np.ascontiguousarray(obj, np.int32).data).hexdigest()
        n = int(np.unique(obj[obj > 0]).size)
        info: dict[str, Any] = {"source": "edited", "method": "object map edited in spam-gui "
                                "(merge, split, draw, erase)", "objects_sha256": digest}
        if self.base:
            info["edited_from"] = dict(self.base)
        return PriorOutcome(obj, info, f"edited objects: {n} objects", f"edited-{digest[:16]}")


SOURCES: dict[str, type[PriorSource]] = {
    "maps": LabelMapSource, "builtin": BuiltinSource, "sam": SamSource, "none": NoSource,
    "edited": EditedSource,
}
"""Every source by name: a new source is one class above and one line here."""


def choose_source(image_path: str | Path | None, source: str = "auto", *,
                  map_file: str | Path | None = None, maps_folder: str | Path | None = None,
                  coarseness: float | None = None, sam_checkpoint: str | None = None,
                  points_per_side: int = SAM_DEFAULTS.points_per_side,
                  objects: np.ndarray | None = None, edited_from: dict[str, Any] | None = None,
                  sam_lock: Any = None) -> PriorSource:
    """The prior source of one image: the one place where it is chosen.

    Parameters
    ----------
    image_path:
        The image (a prior map is looked for as ``<maps_folder>/<stem>.png``).
    source:
        One of :data:`PRIOR_SOURCES`. ``auto``: a prior map when ``maps_folder`` holds one,
        else SAM when ``sam_checkpoint`` is set, else the built-in prior.
    map_file:
        ``maps``: one label-map file for this image (it must exist).
    maps_folder:
        ``maps`` / ``auto``: the folder of ``<stem>.png`` label maps.
    coarseness:
        ``builtin``: the cut (None: the default).
    sam_checkpoint, points_per_side:
        ``sam``: the checkpoint and SAM's grid of point prompts.
    objects, edited_from:
        An edited object map, which replaces any source, and the record of the prior it was
        edited from.
    """
    from spam_gui.core.errors import SpamError
    from spam_gui.core.prior.maps import prior_map_path

    if objects is not None:
        return EditedSource(objects, edited_from)
    if source not in PRIOR_SOURCES:
        raise SpamError(f"unknown prior source {source!r}; one of {', '.join(PRIOR_SOURCES)}")
    folder_map = (prior_map_path(maps_folder, image_path)
                  if maps_folder is not None and image_path is not None else None)
    if source == "auto":
        if folder_map is not None and folder_map.is_file():
            source = "maps"
        else:
            source = "sam" if sam_checkpoint else "builtin"
    if source == "maps":
        if map_file is not None:
            return LabelMapSource(Path(map_file))
        if folder_map is None:
            raise SpamError("prior source is a label map, but no file or folder is given")
        return LabelMapSource(folder_map, Path(maps_folder),   # type: ignore[arg-type]
                              Path(image_path))              # type: ignore[arg-type]
    if source == "sam":
        if not sam_checkpoint:
            raise SpamError("prior source is SAM, but no SAM checkpoint is set "
                            "(Preferences → Models, or --sam-checkpoint)")
        return SamSource(str(sam_checkpoint), int(points_per_side), sam_lock)
    if source == "builtin":
        return BuiltinSource(coarseness)
    return NoSource()
