"""Are the objects of a phone-size photo those of the same photo at its native size?

    python benchmarks/objects_at_scale.py                    # first 20 BSDS val images, x9
    python benchmarks/objects_at_scale.py --images 40 --scale 4.5

For each BSDS500 val image, at its native size and upsampled (bicubic, ``--scale``; x9 is
12.5 MP) with the ground truths upsampled by nearest neighbour, the default per-image pipeline
(:func:`spam_gui.core.pipeline.run_image` with the built-in prior, K = 400) is run in this
process, and the segmentation covering of three object maps is printed (mean over the
annotators):

- ``objects``: the result's object map, its uncertain pixels given the object of their
  superpixel (the objects as the superpixels carry them);
- ``nearest``: the working grid's object map brought to full size by nearest neighbour only (no
  border refinement), for comparison;
- ``superpixels``: each superpixel's object (the same as ``objects`` but for pixels the
  superpixels left uncertain).

The last line is the mean over the images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500" / "val"


def main(argv: list[str] | None = None) -> int:
    import cv2

    from spam_gui.core.engine.fullres.grid import map_onto
    from spam_gui.core.io.images import read_image, read_label_map
    from spam_gui.core.evaluation.metrics import segmentation_covering as covering
    from spam_gui.core.pipeline import ImageRequest, run_image
    from spam_gui.core.prior.sources import BuiltinSource
    from spam_gui.core.engine.spam import Spam

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="BSDS500 val folder")
    ap.add_argument("--images", type=int, default=20, help="first N val images (default 20)")
    ap.add_argument("--scale", type=float, default=9.0, help="upsampling (default 9)")
    args = ap.parse_args(argv)
    data = Path(args.data)
    engine = Spam()
    rows = []
    print(f"{'image':>8} | native: objects nearest superpixels | x{args.scale:g}: objects "
          "nearest superpixels")
    for f in sorted((data / "images").glob("*.jpg"))[: args.images]:
        img = read_image(f)
        gts = [read_label_map(g) for g in sorted((data / "gt").glob(f"{f.stem}_*.png"))]
        row = []
        for s in (1.0, args.scale):
            big = img if s == 1 else cv2.resize(img, None, fx=s, fy=s,
                                                interpolation=cv2.INTER_CUBIC)
            g = gts if s == 1 else [cv2.resize(x, (big.shape[1], big.shape[0]),
                                               interpolation=cv2.INTER_NEAREST) for x in gts]
            run = run_image(ImageRequest(big, prior=BuiltinSource()), engine)
            res = run.result
            sp = res.superpixel_object[res.labels]
            objects = np.where(res.objects > 0, res.objects, sp)
            near = map_onto(run.prior.object_map, big.shape[0], big.shape[1], "the prior",
                            nearest=True)
            row += [float(np.mean([covering(m, x) for x in g])) for m in (objects, near, sp)]
            del big, g, run, res, sp, objects, near
        rows.append(row)
        print(f"{f.stem:>8} | " + " ".join(f"{v:.3f}" for v in row[:3]) + " | "
              + " ".join(f"{v:.3f}" for v in row[3:]), flush=True)
    mean = np.mean(rows, 0)
    print(f"{'mean':>8} | " + " ".join(f"{v:.3f}" for v in mean[:3]) + " | "
          + " ".join(f"{v:.3f}" for v in mean[3:])
          + f"   (objects: {mean[3] - mean[0]:+.3f} at x{args.scale:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
