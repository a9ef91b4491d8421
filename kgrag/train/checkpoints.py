"""The fine-tuning output folder: refusing to clobber, checkpoints that resume, an atomic finish.

Layout of ``--out adapters/NAME``::

    adapter_config.json, adapter_model.safetensors   the finished LoRA adapter (peft); written last
    training.json                                     settings, data counts and figures of the run
    checkpoints/step-000200/                          while training: adapter, optimizer, scheduler,
                                                      RNG states and position (state.json)
    merged/                                           with --merge: base + adapter as one model

A finished adapter is recognised by ``adapter_config.json``; a folder holding only checkpoints is an
unfinished run, which ``--resume`` continues. Each checkpoint is written to a temporary folder and
renamed, so an interrupted save leaves the previous one usable.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from kgrag.atomic import atomic_folder
from kgrag.errors import ConfigError

FINISHED_MARKER = "adapter_config.json"


@dataclass(frozen=True, slots=True)
class Position:
    """Where training stands: optimizer steps done, the epoch and batch within it, tokens seen."""

    step: int
    epoch: int
    batch: int
    tokens: int
    seconds: float
    fingerprint: str


def prepare_output(out: Path, *, overwrite: bool, resume: bool) -> Path | None:
    """Check ``out`` against the flags; return the checkpoint to resume from, if any.

    Raises:
        ConfigError: a finished adapter or an unfinished run is there and neither ``--overwrite``
            nor (for an unfinished run) ``--resume`` was given; ``--resume`` with nothing to resume.
    """
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume contradict each other: give one")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    finished = (out / FINISHED_MARKER).exists()
    latest = latest_checkpoint(out)
    if overwrite:
        if out.exists():
            shutil.rmtree(out)
        return None
    if resume:
        if finished:
            raise ConfigError(f"{out} holds a finished adapter; nothing to resume (use --overwrite to train again)")
        if latest is None:
            raise ConfigError(f"--resume: {out} has no checkpoint to resume from")
        return latest
    if finished:
        raise ConfigError(f"{out} already holds a finished adapter; pass --overwrite to replace it")
    if latest is not None:
        raise ConfigError(f"{out} holds an unfinished run (checkpoint {latest.name}); pass --resume to continue it "
                          "or --overwrite to start again")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; pass --overwrite to replace it")
    return None


def latest_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint under ``out/checkpoints``, or None."""
    folder = out / "checkpoints"
    if not folder.is_dir():
        return None
    done = sorted(p for p in folder.glob("step-*") if (p / "state.json").exists())
    return done[-1] if done else None


def save_checkpoint(out: Path, model: Any, optimizer: Any, scheduler: Any, pos: Position, keep: int = 2) -> Path:
    """Write a checkpoint atomically and keep only the newest ``keep``."""
    path = out / "checkpoints" / f"step-{pos.step:06d}"
    with atomic_folder(path) as tmp:
        model.save_pretrained(tmp / "adapter")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": _rng_state()},
                   tmp / "trainer.pt")
        (tmp / "state.json").write_text(json.dumps(asdict(pos)))
    for old in sorted((out / "checkpoints").glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any, fingerprint: str) -> Position:
    """Restore adapter weights, optimizer, scheduler and RNGs from ``path``; return the position.

    Raises:
        ConfigError: the checkpoint is of a run with other data or settings.
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    pos = Position(**json.loads((path / "state.json").read_text()))
    if pos.fingerprint != fingerprint:
        raise ConfigError(f"checkpoint {path} is of a run with other data or settings; resume with the same "
                          "arguments, or --overwrite to start again")
    weights = load_file(str(path / "adapter" / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, weights)
    state = torch.load(path / "trainer.pt", map_location="cpu", weights_only=False)  # our own file
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"])
    return pos


def finish(out: Path, model: Any, report: dict[str, Any], *, keep_checkpoints: bool = False) -> None:
    """Write the adapter and ``training.json`` into ``out``; the marker file lands last, by rename."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out / ".final") as tmp:
        model.save_pretrained(tmp)
        (tmp / "training.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    final = out / ".final"
    names = sorted(p.name for p in final.iterdir())
    for name in [n for n in names if n != FINISHED_MARKER] + [FINISHED_MARKER]:
        os.replace(final / name, out / name)
    final.rmdir()
    if not keep_checkpoints:
        shutil.rmtree(out / "checkpoints", ignore_errors=True)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
