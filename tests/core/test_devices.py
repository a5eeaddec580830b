"""spam_gui.core.devices.resolve_device: the one device resolution of the engine, SAM and DINO."""

from __future__ import annotations

import pytest
import torch

from spam_gui.core.prior.sam import checkpoint as sam_checkpoint
from spam_gui.core.saliency import dino
from spam_gui.core.engine import spam
from spam_gui.core.devices import DEVICE_CHOICES, mps_available, resolve_device
from spam_gui.core.errors import DeviceError, SpamError


def test_one_definition_everywhere():
    assert sam_checkpoint.resolve_device is resolve_device
    assert dino.resolve_device is resolve_device
    assert spam.resolve_device is resolve_device


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else ("mps" if mps_available() else "cpu")
    for value in ("auto", "AUTO", "", None):
        assert resolve_device(value).type == expected
    assert resolve_device().type == expected


def test_device_error_is_a_user_error():
    assert issubclass(DeviceError, SpamError)
    assert issubclass(DeviceError, ValueError)


def test_cuda_index_checked_against_devices_present():
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(DeviceError) as err:
        resolve_device(f"cuda:{count + 6}")
    message = str(err.value)
    assert f"cuda:{count + 6}" in message
    assert ("CUDA is not available" in message) if count == 0 else (f"only {count} CUDA" in message)
    with pytest.raises(DeviceError, match=f"cuda:{count + 6}"):
        resolve_device(torch.device("cuda", count + 6))


@pytest.mark.skipif(torch.cuda.device_count() > 7, reason="needs fewer than 8 CUDA devices")
def test_cuda_7_refused_clearly():
    with pytest.raises(DeviceError, match=r"'cuda:7' was asked for, but (CUDA is not available|only)"):
        resolve_device("cuda:7")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_refused_without_gpu():
    with pytest.raises(DeviceError, match=r"'cuda'.*CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_accepted_with_gpu():
    assert resolve_device("cuda").type == "cuda"
    assert resolve_device("cuda:0") == torch.device("cuda", 0)


def test_mps_follows_torch():
    if mps_available():
        assert resolve_device("mps").type == "mps"
    else:
        with pytest.raises(DeviceError, match=r"'mps'.*MPS is not available"):
            resolve_device("mps")


@pytest.mark.parametrize("value", ["tpu", "gpu", "cuda:x", "no-such-device", "meta", 3, 1.5])
def test_garbage_refused_with_choices(value):
    with pytest.raises(DeviceError) as err:
        resolve_device(value)
    message = str(err.value)
    assert repr(value) in message or repr(str(value)) in message
    assert DEVICE_CHOICES in message
