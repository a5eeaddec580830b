"""The Qt-free SPAM core: numpy / torch in, numpy out.

>>> from spam_gui.core import Spam
>>> spam = Spam(encoder="default", device="auto")
>>> res = spam.segment(image, n_segments=600)        # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Spam", "SegmentationResult", "builtin_prior"]

if TYPE_CHECKING:  # pragma: no cover
    from spam_gui.core.prior.builtin.compute import builtin_prior
    from spam_gui.core.engine.spam import SegmentationResult, Spam


def __getattr__(name: str) -> Any:  # lazy: importing the package does not import torch
    if name == "builtin_prior":
        from spam_gui.core.prior.builtin.compute import builtin_prior

        return builtin_prior
    if name in __all__:
        from spam_gui.core.engine import spam

        return getattr(spam, name)
    raise AttributeError(name)
