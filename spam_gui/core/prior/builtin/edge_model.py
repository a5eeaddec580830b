"""The built-in prior's edge model: P(two adjacent regions belong to different objects).

:class:`EdgeModel` (a small network over the :data:`EDGE_FEATURES` of an edge of the region
adjacency graph), its pickle-free ``.npz`` file (:meth:`EdgeModel.save` / :meth:`EdgeModel.load`),
the shipped model (:func:`default_edge_model`, loaded once) and :class:`BuiltinPriorError`.
Part of the built-in prior (:mod:`spam_gui.core.prior.builtin.compute`). No Qt here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spam_gui.core.io.cache import ModelCache
from spam_gui.core.errors import SpamError

EDGE_MODEL_FILE = "builtin_prior_edges.npz"
EDGE_MODEL_FORMAT = "spam-prior-edges"

EDGE_FEATURES_V1: tuple[str, ...] = (
    "lab_mean",        # |mean Lab difference| / 10
    "lab_l",           # |mean L difference| / 10
    "lab_std",         # |Lab standard deviation difference| / 10
    "deep_mean",       # |mean deep feature difference|
    "chi2_lab",        # χ² distance of the Lab histograms (mean over L, a, b)
    "chi2_texton",     # χ² distance of the texton (deep-feature cluster) histograms
    "border_lab",      # mean Lab gradient along the shared border / 10
    "border_deep",     # mean deep-feature gradient along the shared border
    "border_max_lab",  # root mean square Lab gradient along the shared border / 10
    "log_min_area",    # log of the smaller region's area fraction
    "log_max_area",    # log of the larger region's area fraction
    "border_frac",     # shared border / smaller region's perimeter
)
"""The first model's 12 features (``builtin_prior_edges v1``)."""

EDGE_FEATURES: tuple[str, ...] = EDGE_FEATURES_V1 + (
    "sal_diff",        # |mean saliency difference| (built-in saliency, in [0, 1])
    "sal_max",         # the larger of the two regions' mean saliency
    "frame_small",     # image-frame pixels of the smaller region / sqrt(its area)
    "frame_large",     # image-frame pixels of the larger region / sqrt(its area)
    "border_coarse",   # mean Lab gradient at a coarse scale (σ = 4) along the shared border / 10
    "border_strong",   # share of the shared border whose Lab gradient exceeds STRONG_GRADIENT
)
"""The names of every per-edge feature :func:`~spam_gui.core.prior.builtin.graph.edge_features`
computes, in order; an :class:`EdgeModel` weighs a subset of them (its ``features``)."""


class BuiltinPriorError(SpamError):
    """The built-in prior cannot be computed (a bad edge-model file, a bad parameter)."""


# --------------------------------------------------------------------------- edge model


@dataclass(frozen=True)
class EdgeModel:
    """A small network for P(two adjacent regions belong to different objects).

    ``p = sigmoid(f_L(... relu(f_1(standardise(x)))))`` with ``f_i(z) = z @ W_i + b_i``,
    ``x`` the :data:`EDGE_FEATURES` of the edge and ``standardise(x) = (x - mean) / scale``.
    One layer is a logistic regression; the shipped model has one hidden layer.

    Attributes
    ----------
    layers:
        ``((W_1, b_1), ..., (W_L, b_L))``: W_1 is (F, h_1), the last W_L is (h_{L-1}, 1).
    mean, scale:
        One value per feature.
    textons:
        (T, d) cluster centres of the encoder's deep features for the texton histograms
        (``chi2_texton``); None or features of another dimension: that feature is 0.
    meta:
        Provenance (training data, date, scores), kept in the file.
    """

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    mean: np.ndarray
    scale: np.ndarray
    textons: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    features: tuple[str, ...] = EDGE_FEATURES

    def __post_init__(self) -> None:
        feats = tuple(str(f) for f in self.features)
        unknown = [f for f in feats if f not in EDGE_FEATURES]
        if unknown or not feats or len(set(feats)) != len(feats):
            raise BuiltinPriorError(f"edge model: features {feats} are not distinct names of "
                                    f"{EDGE_FEATURES}")
        object.__setattr__(self, "features", feats)
        object.__setattr__(self, "_columns",
                           np.array([EDGE_FEATURES.index(f) for f in feats], dtype=np.int64))
        n = len(feats)
        if self.textons is not None:
            t = np.asarray(self.textons, dtype=np.float32)
            if t.ndim != 2:
                raise BuiltinPriorError(f"edge model: textons must be (T, d), got {t.shape}")
            object.__setattr__(self, "textons", t)
        for name in ("mean", "scale"):
            arr = np.asarray(getattr(self, name), dtype=np.float64).ravel()
            if arr.shape != (n,):
                raise BuiltinPriorError(f"edge model: {name} has {arr.size} values, "
                                        f"expected {n} ({', '.join(feats)})")
            object.__setattr__(self, name, arr)
        if not np.all(self.scale > 0):
            raise BuiltinPriorError("edge model: every scale must be positive")
        layers = []
        width = n
        for i, (w, b) in enumerate(self.layers):
            w = np.asarray(w, dtype=np.float64)
            b = np.asarray(b, dtype=np.float64).ravel()
            if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                raise BuiltinPriorError(f"edge model: layer {i} has weights {w.shape} and bias "
                                        f"{b.shape} after a width of {width}")
            layers.append((w, b))
            width = w.shape[1]
        if not layers or width != 1:
            raise BuiltinPriorError("edge model: the last layer must have one output")
        object.__setattr__(self, "layers", tuple(layers))

    @property
    def uses_saliency(self) -> bool:
        """Whether a saliency map enters the model's features."""
        return any(f.startswith("sal_") for f in self.features)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(different objects) for an (n, F) array of edge features: F = the model's
        ``features``, or every one of :data:`EDGE_FEATURES` (the model's columns are taken)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x.shape[1] == len(EDGE_FEATURES) and self.features != EDGE_FEATURES:
            x = x[:, self._columns]
        z = (x - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            z = z @ w + b
            if i < len(self.layers) - 1:
                np.maximum(z, 0.0, out=z)
        return 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -40.0, 40.0)))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as a pickle-free ``.npz`` file, atomically."""
        import io
        import json

        from spam_gui.core.io.images import atomic_write_bytes

        arrays: dict[str, np.ndarray] = {
            "format": np.array(EDGE_MODEL_FORMAT), "features": np.array(self.features),
            "mean": self.mean, "scale": self.scale, "n_layers": np.array(len(self.layers)),
            "meta": np.array(json.dumps(self.meta))}
        if self.textons is not None:
            arrays["textons"] = self.textons
        for i, (w, b) in enumerate(self.layers):
            arrays[f"w{i}"] = w
            arrays[f"b{i}"] = b
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "EdgeModel":
        """Read a file written by :meth:`save` (``allow_pickle=False``).

        Raises
        ------
        BuiltinPriorError
            The file is missing, unreadable, or not an edge model of these features; the
            message names the file.
        """
        import json

        p = Path(path)
        if not p.is_file():
            raise BuiltinPriorError(f"{p}: edge model file not found")
        try:
            with np.load(p, allow_pickle=False) as z:
                if "format" not in z.files or str(z["format"]) != EDGE_MODEL_FORMAT:
                    raise BuiltinPriorError(f"{p}: not a built-in prior edge model "
                                            f"(no format '{EDGE_MODEL_FORMAT}')")
                names = tuple(str(s) for s in z["features"])
                unknown = [f for f in names if f not in EDGE_FEATURES]
                if unknown:
                    raise BuiltinPriorError(f"{p}: edge model features {unknown} are not among "
                                            f"this version's {EDGE_FEATURES}")
                n_layers = int(z["n_layers"])
                layers = tuple((z[f"w{i}"], z[f"b{i}"]) for i in range(n_layers))
                textons = z["textons"] if "textons" in z.files else None
                return cls(layers=layers, mean=z["mean"], scale=z["scale"], textons=textons,
                           meta=json.loads(str(z["meta"])), features=names)
        except BuiltinPriorError as exc:
            msg = str(exc)
            raise BuiltinPriorError(msg if msg.startswith(str(p)) else f"{p}: {msg}") from None
        except Exception as exc:  # zip errors, missing arrays, bad JSON
            raise BuiltinPriorError(f"{p}: not a readable edge model file "
                                    f"({type(exc).__name__}: {exc})") from None


_models = ModelCache(4)


def edge_model_path() -> Path:
    """The shipped edge model's file (``resources/models/builtin_prior_edges.npz``).

    Raises :class:`~spam_gui.core.io.resources.MissingResourceError` (a SpamError) naming it when
    this installation lacks it.
    """
    from spam_gui.core.io.resources import resource_path

    return resource_path("models", EDGE_MODEL_FILE)


def default_edge_model() -> EdgeModel:
    """The shipped edge model (``resources/models/builtin_prior_edges.npz``), loaded once.

    Raises
    ------
    MissingResourceError
        The file is missing (a broken installation); the message names it.
    BuiltinPriorError
        The file is unreadable; the message names it.
    """
    path = edge_model_path()
    return _models.get("edge model", (str(path),), lambda: EdgeModel.load(path))
