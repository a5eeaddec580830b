#!/usr/bin/env python
"""Make the prior maps of the bundled sample set: ``resources/samples/priors/<stem>.png``.

The samples ship without SAM, so their priors come from a classical segmentation that anyone can
rerun: a graph-based over-segmentation of each photo (Felzenszwalb-Huttenlocher, or SLIC regions
merged on a mean-colour region adjacency graph), whose regions are then treated like mask
proposals and aggregated with the project's own rules (:func:`spam_gui.core.prior.maps.aggregate_proposals`,
docs/algorithm.md §5). Before aggregation each region is opened (thin tendrils dropped) and eroded by a couple
of pixels, so that, as with SAM, thin gaps between objects stay *uncertain* (0) in the prior.

Usage::

    python scripts/make_sample_priors.py            # rewrite resources/samples/priors/*.png
    python scripts/make_sample_priors.py --copy-images   # also recopy the photos from skimage
    python scripts/make_sample_priors.py --check    # exit 1 if a committed prior differs
    python scripts/make_sample_priors.py --preview /tmp/prev   # also write coloured overlays

Deterministic for a given scikit-image version (the committed files were made with 0.26.0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scipy import ndimage  # noqa: E402
from skimage import color, graph, segmentation  # noqa: E402
from skimage.morphology import disk  # noqa: E402

from spam_gui.core.io.images import read_image, read_label_map, write_label_png  # noqa: E402
from spam_gui.core.prior.maps import aggregate_proposals  # noqa: E402

SAMPLES = ROOT / "resources" / "samples"

# Per-image settings, chosen by eye so that each prior holds a handful of recognisable objects.
SETTINGS: dict[str, dict] = {
    "astronaut": {"method": "felzenszwalb", "scale": 800, "sigma": 0.8},
    "coffee": {"method": "felzenszwalb", "scale": 800, "sigma": 0.8},
    "rocket": {"method": "felzenszwalb", "scale": 800, "sigma": 0.8},
    "immunohistochemistry": {"method": "rag", "n_segments": 400, "compactness": 10, "thresh": 20},
}
# Where each sample comes from: a file of scikit-image's ``skimage/data`` folder.
SKIMAGE_FILES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "immunohistochemistry": "ihc.png",
}
OPEN_RADIUS = 3   # opening of each region: removes tendrils thinner than ~7 px
GAP_RADIUS = 1    # erosion of each region: leaves ~3 px uncertain seams between objects
MIN_OBJECT = 1 / 400   # a_min as a fraction of the image: no object under 0.25 % of it


def _rag_merge(image: np.ndarray, n_segments: int, compactness: float, thresh: float) -> np.ndarray:
    lab = color.rgb2lab(image)
    sp = segmentation.slic(image, n_segments=n_segments, compactness=compactness, start_label=1)

    def weight(g, src, dst, n):  # noqa: ANN001
        diff = g.nodes[dst]["mean color"] - g.nodes[n]["mean color"]
        return {"weight": float(np.linalg.norm(diff))}

    def merge(g, src, dst):  # noqa: ANN001
        g.nodes[dst]["total color"] += g.nodes[src]["total color"]
        g.nodes[dst]["pixel count"] += g.nodes[src]["pixel count"]
        g.nodes[dst]["mean color"] = g.nodes[dst]["total color"] / g.nodes[dst]["pixel count"]

    rag = graph.rag_mean_color(lab, sp)
    return graph.merge_hierarchical(sp, rag, thresh=thresh, rag_copy=False, in_place_merge=True,
                                    merge_func=merge, weight_func=weight)


def regions(image: np.ndarray, settings: dict) -> np.ndarray:
    """An over-segmentation of ``image`` as an (H, W) label map."""
    h, w = image.shape[:2]
    if settings["method"] == "felzenszwalb":
        return segmentation.felzenszwalb(image, scale=settings["scale"], sigma=settings["sigma"],
                                         min_size=h * w // 400)
    if settings["method"] == "rag":
        return _rag_merge(image, settings["n_segments"], settings["compactness"], settings["thresh"])
    raise ValueError(f"unknown method {settings['method']!r}")


def make_prior(image: np.ndarray, settings: dict) -> np.ndarray:
    """The prior object map (int32, 0 = uncertain) of one sample image."""
    seg = regions(image, settings)
    open_se, gap_se = disk(OPEN_RADIUS), disk(GAP_RADIUS)
    masks = []
    for rid in np.unique(seg):
        m = seg == rid
        m = ndimage.binary_opening(m, structure=open_se)
        m = ndimage.binary_erosion(m, structure=gap_se)
        parts, n = ndimage.label(m)  # each connected piece is one proposal
        masks.extend(parts == i for i in range(1, n + 1))
    h, w = seg.shape
    prior = aggregate_proposals(np.stack(masks) if masks else np.zeros((0, h, w), bool),
                                a_min=MIN_OBJECT * h * w)
    return prior.object_map.astype(np.int32)


def copy_images() -> None:
    """Copy the sample photos from the installed scikit-image (JPEGs as they are, PNGs as JPEG q90)."""
    import shutil

    import skimage
    from PIL import Image

    src = Path(skimage.__file__).parent / "data"
    for stem, name in SKIMAGE_FILES.items():
        target = SAMPLES / f"{stem}.jpg"
        if name.endswith(".jpg"):
            shutil.copyfile(src / name, target)
        else:
            with Image.open(src / name) as im:
                im.convert("RGB").save(target, quality=90, optimize=True, subsampling=0)
        print(f"{src / name} -> {target.relative_to(ROOT)}")


def preview(image: np.ndarray, omap: np.ndarray) -> np.ndarray:
    """The image with each object tinted and the uncertain pixels greyed out."""
    rng = np.random.default_rng(0)
    lut = rng.integers(40, 255, size=(int(omap.max()) + 1, 3)).astype(np.float32)
    out = 0.55 * image.astype(np.float32) + 0.45 * lut[omap]
    out[omap == 0] = 0.3 * image[omap == 0].astype(np.float32)
    edges = segmentation.find_boundaries(omap, mode="inner")
    out[edges] = (255, 255, 0)
    return out.clip(0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed priors")
    ap.add_argument("--copy-images", action="store_true",
                    help="first (re)copy the sample photos from the installed scikit-image")
    ap.add_argument("--preview", type=Path, help="also write coloured previews into this folder")
    args = ap.parse_args(argv)
    out_dir = SAMPLES / "priors"
    if args.copy_images:
        copy_images()
    status = 0
    for stem, settings in SETTINGS.items():
        paths = [p for p in SAMPLES.glob(f"{stem}.*") if p.suffix.lower() in (".jpg", ".png")]
        if len(paths) != 1:
            print(f"error: {SAMPLES}/{stem}.*: expected one image, found {len(paths)}", file=sys.stderr)
            return 2
        image = read_image(paths[0])
        omap = make_prior(image, settings)
        target = out_dir / f"{stem}.png"
        n_obj = len(np.unique(omap[omap > 0]))
        info = f"{stem}: {n_obj} objects, {100 * (omap == 0).mean():.1f}% uncertain"
        if args.check:
            same = target.is_file() and np.array_equal(read_label_map(target), omap)
            print(f"{info}: {'same' if same else 'DIFFERS'}")
            status |= 0 if same else 1
        else:
            write_label_png(target, omap)
            print(f"{info} -> {target.relative_to(ROOT)}")
        if args.preview:
            from PIL import Image

            args.preview.mkdir(parents=True, exist_ok=True)
            Image.fromarray(preview(image, omap)).save(args.preview / f"{stem}_prior.png")
    return status


if __name__ == "__main__":
    sys.exit(main())
