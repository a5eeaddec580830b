"""PyInstaller runtime hook: let a CUDA-built torchvision run on a CPU-only PyTorch.

The build uses PyTorch's CPU wheel (small; no CUDA libraries). The torchvision wheel on PyPI is
built against CUDA PyTorch, so its C++ operators (``torchvision/_C.so``) cannot load beside a
CPU-only ``libtorch``; torchvision then fails at import (its fake-tensor registration of
``torchvision::nms`` needs the operator to exist), and with it timm (DINO saliency) and
segment-anything. When torchvision's operators did not load, this hook defines ``torchvision::nms``
(the only one SPAM uses: SAM's automatic mask generation) in Python with the same semantics as
torchvision's CPU kernel, and ``torchvision::qnms`` as a schema only. With a CPU torchvision
wheel, whose operators load, it does nothing.

It is also importable as a plain module (``import rthook_torchvision_cpu``) for tests.
"""

from __future__ import annotations

import importlib.abc
import sys

_TARGET = "torchvision.extension"


def nms_reference(dets, scores, iou_threshold: float):
    """Greedy NMS as torchvision's CPU kernel: indices kept, by decreasing score."""
    import torch

    if dets.numel() == 0:
        return torch.empty((0,), dtype=torch.long, device=dets.device)
    boxes = dets.detach().to("cpu", torch.float64)
    order = torch.argsort(scores.detach().cpu(), descending=True, stable=True)
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    keep = []
    for pos in range(len(order)):
        i = int(order[pos])
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[pos + 1:]
        if rest.numel() == 0:
            break
        rest = rest[~suppressed[rest]]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest[iou > iou_threshold]] = True
    return torch.tensor(keep, dtype=torch.long, device=dets.device)


_LIB = None


def _define_ops() -> None:
    global _LIB
    import torch

    _LIB = torch.library.Library("torchvision", "DEF")  # noqa: TOR901
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.impl("nms", nms_reference, "CompositeExplicitAutograd")


def _patch(module) -> None:
    if module._has_ops():          # torchvision's own operators loaded: nothing to do
        return
    _define_ops()
    module._assert_has_ops = lambda: None
    module.SPAM_PYTHON_NMS = True


class _Loader(importlib.abc.Loader):
    def __init__(self, inner) -> None:
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module) -> None:
        self.inner.exec_module(module)
        _patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def install() -> None:
    if _TARGET in sys.modules:   # too late: torchvision is imported already
        return
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
