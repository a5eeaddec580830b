"""Reading annotated image folders in the BSDS layout.

A dataset folder holds::

    DIR/
      images/<id>.<ext>        the images (jpg, png, tif, bmp, webp...)
      gt/<id>_<k>.png          one label map per annotator k (0, 1, 2...), 8- or 16-bit,
                               the same size as the image; any ids (0 is a label like the others)

``<id>`` may contain underscores (the annotator number is what follows the last one). This is
the layout of ``shared/data/bsds500/<split>/``; any folder that follows it can be evaluated,
so users can measure superpixels on their own annotated data. Other files (``index.csv``,
``Thumbs.db``, hidden files) are ignored.

>>> ds = load_dataset("data/bsds500/val", limit=10)       # doctest: +SKIP
>>> sample = ds[0]; image = sample.load_image(); gts = sample.load_gt()   # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from spam_gui.core.errors import SpamError
from spam_gui.core.io.images import IMAGE_EXTENSIONS, ImageReadError, read_image, read_label_map

__all__ = ["DatasetError", "Sample", "SegmentationDataset", "load_dataset", "GT_EXTENSIONS"]

GT_EXTENSIONS = (".png", ".tif", ".tiff")
_GT_NAME = re.compile(r"^(?P<id>.+)_(?P<k>\d+)$")


class DatasetError(SpamError):
    """The dataset folder does not follow the layout; the message names the file or folder."""


@dataclass(frozen=True)
class Sample:
    """One image of a dataset and its ground-truth files (sorted by annotator number): the one
    sample class (evaluation reads the files when it needs them; training holds the pixels,
    :meth:`loaded`, or makes samples from arrays, :meth:`from_arrays`)."""

    id: str
    image_path: Path | None
    gt_paths: tuple[Path, ...]
    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    """The (H, W, 3) uint8 pixels, once loaded (:meth:`loaded`)."""
    gts: tuple[np.ndarray, ...] = field(default=(), compare=False, repr=False)
    """The annotators' (H, W) label maps, once loaded."""

    @classmethod
    def from_arrays(cls, image: np.ndarray, gts: Sequence[np.ndarray], id: str = "") -> Sample:
        """A sample held in memory only (no files)."""
        return cls(id, None, (), image, tuple(gts))

    def loaded(self) -> Sample:
        """This sample with its image and ground truths read into memory (sizes checked;
        :class:`DatasetError` naming the file)."""
        image, gts = self.load()
        return replace(self, image=image, gts=tuple(gts))

    @property
    def n_annotators(self) -> int:
        return len(self.gt_paths) or len(self.gts)

    def load_image(self) -> np.ndarray:
        """The image as (H, W, 3) uint8 RGB. Raises :class:`DatasetError` naming the file."""
        try:
            return read_image(self.image_path)
        except ImageReadError as exc:
            raise DatasetError(str(exc)) from None

    def load_gt(self, shape: Sequence[int] | None = None) -> list[np.ndarray]:
        """Every annotator's label map as (H, W) int32, in annotator order.

        Parameters
        ----------
        shape : (H, W), optional
            The image size; each map must have it (checked when given).

        Raises
        ------
        DatasetError
            A map cannot be read, or its size differs from ``shape``; the message names the file.
        """
        out = []
        for p in self.gt_paths:
            try:
                gt = read_label_map(p)
            except ImageReadError as exc:
                raise DatasetError(str(exc)) from None
            if shape is not None and tuple(gt.shape) != tuple(shape[:2]):
                raise DatasetError(
                    f"{p}: the ground truth is {gt.shape[0]}x{gt.shape[1]} (HxW) but its image "
                    f"{self.image_path.name} is {shape[0]}x{shape[1]}"
                )
            out.append(gt)
        return out

    def load(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """The image and its ground truths (sizes checked)."""
        image = self.load_image()
        return image, self.load_gt(image.shape[:2])


class SegmentationDataset(Sequence[Sample]):
    """The samples of a folder in the BSDS layout, sorted by id (see the module docstring).

    Parameters
    ----------
    root : path
        The dataset folder (holding ``images/`` and ``gt/``).
    limit : int, optional
        Keep only the first ``limit`` ids in sorted order.

    Raises
    ------
    DatasetError
        The folder is missing, has no ``images/`` or ``gt/`` folder or no image; two images share
        an id; an image has no ground truth; a ground-truth file has no image or a name not of
        the form ``<id>_<k>``. The message names the file or folder.
    """

    def __init__(self, root: str | os.PathLike[str], limit: int | None = None) -> None:
        self.root = Path(root)
        if limit is not None and limit < 1:
            raise DatasetError(f"--limit must be at least 1, got {limit}")
        self.samples: list[Sample] = _scan(self.root)
        if limit is not None:
            self.samples = self.samples[:limit]

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):  # type: ignore[override]
        return self.samples[i]

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __repr__(self) -> str:
        return f"SegmentationDataset({str(self.root)!r}, {len(self)} images)"


def load_dataset(root: str | os.PathLike[str], limit: int | None = None) -> SegmentationDataset:
    """Read a dataset folder in the BSDS layout; see :class:`SegmentationDataset`."""
    return SegmentationDataset(root, limit=limit)


def _listing(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _scan(root: Path) -> list[Sample]:
    if not root.exists():
        raise DatasetError(f"{root}: no such folder")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder (expected a dataset folder with images/ and gt/)")
    img_dir, gt_dir = root / "images", root / "gt"
    if not img_dir.is_dir():
        subs = sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "images").is_dir())
        hint = f"; it has split folders: {', '.join(subs)} (pass e.g. {root / subs[0]})" if subs else ""
        raise DatasetError(f"{img_dir}: no such folder (expected images/<id>.<ext>){hint}")
    if not gt_dir.is_dir():
        raise DatasetError(f"{gt_dir}: no such folder (expected gt/<id>_<k>.png)")

    images: dict[str, Path] = {}
    for p in _listing(img_dir):
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        if p.stem in images:
            raise DatasetError(f"{p}: two images have the id {p.stem!r} (also {images[p.stem].name})")
        images[p.stem] = p
    if not images:
        raise DatasetError(
            f"{img_dir}: no image files ({', '.join(IMAGE_EXTENSIONS)})"
        )

    gts: dict[str, list[tuple[int, Path]]] = {}
    for p in _listing(gt_dir):
        if p.suffix.lower() not in GT_EXTENSIONS:
            continue
        m = _GT_NAME.match(p.stem)
        if not m:
            raise DatasetError(
                f"{p}: a ground-truth file must be named <id>_<k>{p.suffix} (k = annotator number)"
            )
        gid, k = m.group("id"), int(m.group("k"))
        if gid not in images:
            raise DatasetError(f"{p}: ground truth for id {gid!r}, but there is no images/{gid}.<ext>")
        gts.setdefault(gid, []).append((k, p))

    samples = []
    for iid in sorted(images):
        entries = sorted(gts.get(iid, []))
        if not entries:
            raise DatasetError(
                f"{images[iid]}: no ground truth (expected {gt_dir / (iid + '_0.png')})"
            )
        ks = [k for k, _ in entries]
        if len(set(ks)) != len(ks):
            dup = next(k for k in ks if ks.count(k) > 1)
            names = ", ".join(p.name for k, p in entries if k == dup)
            raise DatasetError(f"{gt_dir}: annotator {dup} of {iid!r} appears twice ({names})")
        samples.append(Sample(iid, images[iid], tuple(p for _, p in entries)))
    return samples
