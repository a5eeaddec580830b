"""The models SPAM Studio can download on request: where each comes from, how big it is, its
licence and the published checksum it is verified against.

Nothing here touches the network; :mod:`spam_gui.core.models.download` fetches a model when the
user asks (``spam models download NAME``, Preferences → Models). Each checksum was copied from a
maintained registry that publishes it, cited beside the entry; none was computed here.

Downloads go to :func:`models_dir` (``<user data folder>/models``, e.g.
``~/.local/share/spam-studio/models`` on Linux; ``$SPAM_DATA_DIR/models`` when that variable is
set). No Qt, no torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from spam_gui.core.env import user_data_dir
from spam_gui.core.errors import SpamError

__all__ = ["MODELS", "Checksum", "ModelSpec", "UnknownModelError", "all_models", "find_model",
           "format_size", "installed_path", "models_dir", "partial_path"]

PART_SUFFIX = ".part"
"""A download in progress (or interrupted, to be resumed) is ``<file name>.part``."""


class UnknownModelError(SpamError):
    """A model name that is not in the registry; the message lists the names."""


@dataclass(frozen=True)
class Checksum:
    """A published digest of a model file.

    ``value`` is lower-case hex: the whole digest, or, where the registry publishes only its
    first characters, that prefix (``prefix=True``; a weaker check, said where it is shown).
    ``source`` names the registry it was copied from.
    """

    algorithm: str          # "sha256" or "md5" (hashlib names)
    value: str
    source: str
    prefix: bool = False

    def matches(self, hexdigest: str) -> bool:
        d = hexdigest.lower()
        return d.startswith(self.value) if self.prefix else d == self.value

    def describe(self) -> str:
        what = f"{self.algorithm} " + ("starting " if self.prefix else "") + self.value
        return what + (f" (only the first {len(self.value)} hex digits are published)"
                       if self.prefix else "")


@dataclass(frozen=True)
class ModelSpec:
    """One downloadable model.

    ``kind`` is the checkpoint it fills in (``"sam"`` or ``"dino"``, as in
    :data:`spam_gui.core.errors.CHECKPOINT_KINDS`); ``size`` the exact file size in bytes
    where it is known (checked before the checksum), else None and ``approx_size`` is only
    shown.
    """

    name: str
    kind: str
    title: str
    description: str
    url: str
    filename: str
    size: int | None
    approx_size: int
    checksum: Checksum | None
    licence: str
    licence_url: str
    homepage: str

    @property
    def shown_size(self) -> int:
        return self.size if self.size is not None else self.approx_size

    def verification(self) -> str:
        """How a downloaded file of this model is checked, in words."""
        if self.checksum is None:
            return "by size only (no published checksum)"
        return f"{self.checksum.describe()}, published by {self.checksum.source}"


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------

_SAM_HOME = "https://github.com/facebookresearch/segment-anything"
_SAM_LICENCE_URL = "https://github.com/facebookresearch/segment-anything/blob/main/LICENSE"
_DINO_HOME = "https://github.com/facebookresearch/dino"
_DINO_LICENCE_URL = "https://github.com/facebookresearch/dino/blob/main/LICENSE"

# SAM checksums: the sha256 of each official checkpoint as published in micro-sam's model
# registry (computational-cell-analytics/micro-sam, micro_sam/util.py, the ``pooch`` registry
# of ``models()`` / ``MODELS``: keys "vit_b", "vit_l", "vit_h" with these dl.fbaipublicfiles.com
# URLs; pooch's bare hashes are sha256). The sizes are the files' Content-Length as served by
# dl.fbaipublicfiles.com (the same figures are listed by several download managers, e.g.
# 375042383 for ViT-B in a wget log of that URL).
_MICRO_SAM = "micro-sam's model registry (github.com/computational-cell-analytics/micro-sam, " \
             "micro_sam/util.py)"

# DINO: the official ViT-S/16 backbone of facebookresearch/dino (its hubconf's ``dino_vits16``),
# a plain timm-style ViT state dict (cls_token, pos_embed, blocks.N.attn.qkv...), which is what
# spam_gui.core.saliency.dino reads; the app's Preferences suggest this very file. No registry we
# found publishes its full sha256 or md5: open-metric-learning (github.com/OML-Team/
# open-metric-learning, oml/models/vit_dino/extractor.py, ``ViTExtractor.pretrained_models
# ["vits16_dino"]``) publishes the first six hex digits of its md5, "cf0f22", and checks
# downloads of this URL with ``md5.startswith(...)`` (oml/utils/io.py). That prefix is what we
# check: it catches a truncated or corrupt file, but it is far weaker than a full digest. Its
# exact size is not published either (about 87 MB: 21.7 M float32 parameters), so no size check.
_OML = "open-metric-learning (github.com/OML-Team/open-metric-learning, " \
       "oml/models/vit_dino/extractor.py)"

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="sam_vit_b", kind="sam", title="SAM ViT-B",
        description="Segment Anything, ViT-B image encoder: object prior and click prompts "
                    "(the fastest SAM)",
        url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
        filename="sam_vit_b_01ec64.pth", size=375042383, approx_size=375042383,
        checksum=Checksum("sha256",
                          "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
                          _MICRO_SAM),
        licence="Apache-2.0", licence_url=_SAM_LICENCE_URL, homepage=_SAM_HOME),
    ModelSpec(
        name="sam_vit_l", kind="sam", title="SAM ViT-L",
        description="Segment Anything, ViT-L image encoder: object prior and click prompts",
        url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
        filename="sam_vit_l_0b3195.pth", size=1249524607, approx_size=1249524607,
        checksum=Checksum("sha256",
                          "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
                          _MICRO_SAM),
        licence="Apache-2.0", licence_url=_SAM_LICENCE_URL, homepage=_SAM_HOME),
    ModelSpec(
        name="sam_vit_h", kind="sam", title="SAM ViT-H",
        description="Segment Anything, ViT-H image encoder: object prior and click prompts "
                    "(the most accurate, the slowest)",
        url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
        filename="sam_vit_h_4b8939.pth", size=2564550879, approx_size=2564550879,
        checksum=Checksum("sha256",
                          "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
                          _MICRO_SAM),
        licence="Apache-2.0", licence_url=_SAM_LICENCE_URL, homepage=_SAM_HOME),
    ModelSpec(
        name="dino_vits16", kind="dino", title="DINO ViT-S/16",
        description="DINO self-supervised ViT-S/16: saliency from its [CLS] attention "
                    "(visual attention)",
        url="https://dl.fbaipublicfiles.com/dino/dino_deitsmall16_pretrain/"
            "dino_deitsmall16_pretrain.pth",
        filename="dino_deitsmall16_pretrain.pth", size=None, approx_size=87_000_000,
        checksum=Checksum("md5", "cf0f22", _OML, prefix=True),
        licence="Apache-2.0", licence_url=_DINO_LICENCE_URL, homepage=_DINO_HOME),
)


def all_models() -> tuple[ModelSpec, ...]:
    """The registry (read at call time, so that tests can replace :data:`MODELS`)."""
    return MODELS


def find_model(name: str) -> ModelSpec:
    """The model called ``name`` (case and ``-`` / ``_`` do not matter; its file name works
    too). Raises :class:`UnknownModelError` listing the names otherwise."""
    key = name.strip().lower().replace("-", "_")
    for spec in all_models():
        if key in (spec.name, spec.filename.lower()):
            return spec
    names = ", ".join(s.name for s in all_models())
    raise UnknownModelError(f"{name!r}: no such model (the models are {names}; "
                            "see `spam models list`)")


def models_dir() -> Path:
    """Where downloaded models go: ``<user data folder>/models`` (``$SPAM_DATA_DIR/models``
    when that variable is set)."""
    return user_data_dir() / "models"


def installed_path(spec: ModelSpec, folder: str | os.PathLike[str] | None = None) -> Path:
    """Where ``spec`` lives once downloaded (in ``folder``, default :func:`models_dir`)."""
    return Path(folder).expanduser() / spec.filename if folder else models_dir() / spec.filename


def partial_path(spec: ModelSpec, folder: str | os.PathLike[str] | None = None) -> Path:
    """The unfinished download of ``spec`` (resumed by the next download)."""
    final = installed_path(spec, folder)
    return final.with_name(final.name + PART_SUFFIX)


def format_size(n: int | None) -> str:
    """``375042383`` -> ``"358 MiB"``."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit in ("B", "KiB", "MiB") else f"{size:.2f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover
