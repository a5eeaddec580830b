"""Device resolution: the one place that turns a user's device choice into a ``torch.device``.

The engine (:class:`spam_gui.core.engine.spam.Spam`), SAM, DINO saliency and training all resolve their
``device`` argument here, so that ``--device`` means the same everywhere:

* ``"auto"`` (or ``None`` / ``""``): CUDA when a GPU is visible, else Apple's MPS when this
  PyTorch has it and it is available, else the CPU;
* ``"cpu"``;
* ``"cuda"`` (the current CUDA device) or ``"cuda:N"``, with ``N`` checked against the devices
  present;
* ``"mps"`` where this PyTorch build has MPS and it is available;
* a ``torch.device`` (checked the same way).

Anything else raises :class:`~spam_gui.core.errors.DeviceError` naming the device and the
choices. Torch is imported only when a device is resolved, so importing this module stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spam_gui.core.errors import DeviceError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "DEVICE_CHOICES",
    "mps_available",
    "resolve_device",
]

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
"""How messages and help texts list the accepted device names."""


def mps_available() -> bool:
    """Whether this PyTorch build has Apple's MPS backend and it is usable on this machine."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The ``torch.device`` for ``device`` (see the module docstring for the accepted values).

    Raises :class:`~spam_gui.core.errors.DeviceError` (a ``ValueError``) when the name is not a
    device, or names one that is not available here (no CUDA, ``cuda:N`` past the last GPU, no
    MPS, or a device type SPAM does not run on).
    """
    import torch

    if device is None or (isinstance(device, str) and device.strip().lower() in ("", "auto")):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device.strip().lower())
        except (RuntimeError, ValueError, TypeError):
            raise DeviceError(f"unknown device {device!r} (choices: {DEVICE_CHOICES})") from None
    else:
        raise DeviceError(f"unknown device {device!r} (choices: {DEVICE_CHOICES})")

    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {str(device)!r} was asked for, but CUDA is not available "
                              f"here (PyTorch sees no CUDA GPU; use auto or cpu)")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise DeviceError(f"device {str(device)!r} was asked for, but only {count} CUDA "
                              f"device(s) exist here (cuda:0 to cuda:{count - 1})")
        return dev
    if dev.type == "mps":
        if not mps_available():
            raise DeviceError(f"device {str(device)!r} was asked for, but MPS is not available "
                              f"here (use auto or cpu)")
        return dev
    raise DeviceError(f"device {str(device)!r} is not supported (choices: {DEVICE_CHOICES})")
