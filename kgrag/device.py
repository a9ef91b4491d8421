"""The one reading of a device setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``) for the model,
the embedders, GPU vector search and the evals. torch is imported only when a GPU is asked about."""

from __future__ import annotations

import re

from kgrag.errors import ConfigError

DEVICES = "auto, cpu, cuda or cuda:N"


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (False when torch is not installed)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(device: str, *, allow_auto: bool = True) -> str:
    """The device to run on: ``auto`` becomes ``cuda`` when there is a GPU, else ``cpu``.

    Args:
        device: the setting or option as given.
        allow_auto: whether ``auto`` is accepted (components that are handed a resolved device
            refuse it).

    Raises:
        ConfigError: an unknown name (the message lists the valid ones), or a CUDA device asked
            for where torch sees none.
    """
    if device == "auto" and allow_auto:
        return "cuda" if cuda_available() else "cpu"
    if device != "cpu" and not re.fullmatch(r"cuda(:\d+)?", device):
        valid = DEVICES if allow_auto else "cpu, cuda or cuda:N"
        raise ConfigError(f"unknown device {device!r}; use {valid}")
    if device.startswith("cuda") and not cuda_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA GPU here; use --device cpu")
    return device
