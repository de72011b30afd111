"""Checkpoints without pickle: tensors in safetensors files, everything else in JSON.

A checkpoint is a directory ``RUN_DIR/checkpoints/step-NNNNNNN/`` holding

- ``model.safetensors``: the model's state dict (parameters and buffers);
- ``trainer.safetensors``: optimizer tensors and the torch RNG states;
- ``state.json``: step, metrics, the resolved config, versions, the optimizer's and the
  scheduler's non-tensor state, the Python and NumPy RNG states, the size and SHA-256 of
  both tensor files, and a SHA-256 of its own contents.

Each file is written to a temporary name, flushed, fsynced and renamed, so no file is ever
half-written; ``state.json`` comes last, so a directory holding it is complete. Small pointer
files ``last.json`` and ``best.json`` name the current directories and are replaced
atomically after the directory is complete; directories beyond the ``keep`` newest and the
best are removed only then. A crash at any moment leaves the previous checkpoint intact.

Loading never unpickles. It checks each tensor file against the size and digest state.json
recorded (a truncated or edited file is refused), names every missing, unexpected or
misshapen tensor, and refuses a ``torch.save`` (pickle) file put in a safetensors file's place.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

import rnnkit
from rnnkit.errors import CheckpointError

# -- atomic files ----------------------------------------------------------------------------


def _atomic(path: str | Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode open() would (0644 under
        # the usual umask), so run directories stay readable by whom the user intends.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f, tmp)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never a mix."""
    _atomic(path, lambda f, _: f.write(text.encode("utf-8")))


def atomic_save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> None:
    """Save ``tensors`` with safetensors, atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    # safetensors refuses tensors that share memory (tied embeddings appear under two names):
    # each name gets its own copy, and loading fills the one shared parameter twice.
    seen: set[int] = set()
    for name, value in tensors.items():
        if value.untyped_storage().data_ptr() in seen:
            tensors[name] = value.clone()
        seen.add(tensors[name].untyped_storage().data_ptr())

    data = save(tensors, metadata={"format": "pt", "rnnkit": rnnkit.__version__})
    _atomic(path, lambda f, _: f.write(data))


# How files that are not safetensors begin: torch.save's zip archive, or a bare pickle stream.
# (Checked only after safetensors refused the file: its header length may begin with 0x80.)
_PICKLE_MAGIC = (b"PK\x03\x04", b"\x80")


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file; a missing or corrupt file raises :class:`CheckpointError`.
    Nothing is unpickled: a ``torch.save`` or pickle file is refused as such."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return load_file(path)  # safetensors parses a JSON header and raw bytes, never pickle
    except (SafetensorError, OSError, ValueError) as e:
        try:
            with path.open("rb") as f:
                head = f.read(4)
        except OSError:
            head = b""
        if head.startswith(_PICKLE_MAGIC):
            raise CheckpointError(
                f"{path}: a pickle (torch.save) file, refused: rnnkit loads weights only from "
                "safetensors, since unpickling can run arbitrary code"
            ) from None
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None


def file_digest(path: Path) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex digest}`` of a file, as state.json records it."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _json_digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()


def verify(directory: Path, state: dict[str, Any]) -> None:
    """Check state.json against the digest of its own contents, then the tensor files of
    ``directory`` against the sizes and digests it recorded (checkpoints written before
    rnnkit recorded them are taken as they are). Removes ``"digest"`` from ``state``."""
    digest = state.pop("digest", None)
    files = state.get("files") or {}
    if (digest is not None and _json_digest(state) != digest) or not isinstance(files, dict):
        raise CheckpointError(
            f"{directory / 'state.json'}: contents differ from the digest written with them "
            "(the file was changed after it was written)"
        )
    for name, want in files.items():
        path = directory / name
        if not path.is_file():
            raise CheckpointError(f"{path}: missing from the checkpoint")
        if not (isinstance(want, dict) and {"bytes", "sha256"} <= want.keys()):
            raise CheckpointError(f"{directory / 'state.json'}: malformed entry for {name}")
        size = path.stat().st_size
        if size != want["bytes"]:
            raise CheckpointError(
                f"{path}: {size} bytes, the checkpoint recorded {want['bytes']} (truncated or "
                "replaced)"
            )
        try:
            actual = file_digest(path)["sha256"]
        except OSError as e:
            raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
        if actual != want["sha256"]:
            raise CheckpointError(
                f"{path}: contents differ from the SHA-256 the checkpoint recorded (the file "
                "was changed after it was written)"
            )


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: malformed JSON ({e})") from None
    except OSError as e:  # permissions, a file gone between the check and the read
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None


# -- model weights ---------------------------------------------------------------------------


def load_model_weights(model: nn.Module, path: str | Path) -> None:
    """Load ``model.safetensors`` into ``model``, naming every mismatch."""
    tensors = load_tensors(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(
                f"unexpected {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}"
            )
        raise CheckpointError(f"{path}: weights do not match the model: {'; '.join(parts)}")
    for name, value in tensors.items():
        if value.shape != expected[name].shape:
            raise CheckpointError(
                f"{path}: {name} has shape {tuple(value.shape)}, the model expects "
                f"{tuple(expected[name].shape)}"
            )
    model.load_state_dict(tensors)


# -- optimizer and RNG state -----------------------------------------------------------------


def _split_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state dict -> (tensors by flat name, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        plain[str(index)] = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                plain[str(index)][key] = value
    return tensors, {"state": plain, "param_groups": state["param_groups"]}


def _join_optimizer(tensors: dict[str, torch.Tensor], plain: dict, current: list[dict]) -> dict:
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in plain["state"].items()}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    # JSON has no tuples: give back the tuple-valued hyper-parameters (Adam's betas) as tuples.
    groups = [
        {k: tuple(v) if isinstance(now.get(k), tuple) else v for k, v in saved.items()}
        for saved, now in zip(plain["param_groups"], current, strict=False)
    ]
    return {"state": state, "param_groups": groups}


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every RNG a training step may draw from: (tensors, JSON-able)."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    plain = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }
    return tensors, plain


def set_rng_state(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    version, internal, gauss = plain["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


# -- whole checkpoints -----------------------------------------------------------------------


def save_checkpoint(
    run_dir: Path,
    *,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
    best: bool,
    carry: dict[str, torch.Tensor] | None = None,
    keep: int = 1,
) -> Path:
    """Write the checkpoint of ``step`` and point ``last.json`` (and ``best.json`` if ``best``)
    at it; keep the ``keep`` newest directories and the best, remove the others. Returns the
    directory. ``carry``: tensors the training loop carries from step to step (a language
    model's state), saved beside the optimizer's as ``carry.NAME``."""
    root = run_dir / "checkpoints"
    directory = root / f"step-{step:07d}"
    directory.mkdir(parents=True, exist_ok=True)
    # A directory left by a run killed after writing it, but before pointing last.json at it,
    # is rewritten: without its state.json until the new one, it is never taken as complete.
    (directory / "state.json").unlink(missing_ok=True)
    # Temporary files of a process killed in the middle of a write (one writer per run).
    for stale in [*root.glob(".*.tmp"), *directory.glob(".*.tmp")]:
        stale.unlink(missing_ok=True)
    atomic_save_tensors(directory / "model.safetensors", model.state_dict())
    opt_tensors, opt_plain = _split_optimizer(optimizer.state_dict())
    rng_tensors, rng_plain = rng_state()
    carried = {f"carry.{k}": v.detach().cpu().contiguous() for k, v in (carry or {}).items()}
    atomic_save_tensors(directory / "trainer.safetensors",
                        {**opt_tensors, **rng_tensors, **carried})  # fmt: skip
    payload = {
        **state,
        "step": step,
        "files": {
            n: file_digest(directory / n) for n in ("model.safetensors", "trainer.safetensors")
        },
        "versions": {"rnnkit": rnnkit.__version__, "torch": torch.__version__},
        "optimizer": opt_plain,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_plain,
    }
    payload["digest"] = _json_digest(json.loads(json.dumps(payload)))  # as read back
    atomic_write_text(directory / "state.json", json.dumps(payload, indent=1))
    pointer = json.dumps({"dir": directory.name, "step": step})
    atomic_write_text(root / "last.json", pointer)
    if best:
        atomic_write_text(root / "best.json", pointer)
    # Directories after this step are left by a run killed after writing them but before
    # pointing last.json at them; resumed from an earlier one, this run has superseded them.
    steps = [p for p in _step_dirs(root) if _step_of(p) <= step]
    kept = {p.name for p in steps[: max(keep, 1)]} | {_pointed(root, "best.json")}
    for old in _step_dirs(root):
        if old.name not in kept:
            # state.json first: a directory half removed is never taken as complete.
            (old / "state.json").unlink(missing_ok=True)
            shutil.rmtree(old, ignore_errors=True)
    return directory


def _step_of(directory: Path) -> int:
    """The step of a ``step-NNNNNNN`` directory (-1 for a name that is not one)."""
    digits = directory.name.removeprefix("step-")
    return int(digits) if digits.isdigit() else -1


def _step_dirs(root: Path) -> list[Path]:
    """The ``step-*`` directories under ``root``, newest first (by step, not by name: steps
    past 9,999,999 have more digits)."""
    return sorted(root.glob("step-*"), key=_step_of, reverse=True)


def point_best(run_dir: str | Path, step: int) -> None:
    """Point ``best.json`` at step ``step``'s directory if it is complete. A run killed
    between writing last.json and best.json resumes with its state naming the best step
    while best.json still names an older one; this puts them back in agreement."""
    root = Path(run_dir) / "checkpoints"
    name = f"step-{step:07d}"
    if (root / name / "state.json").is_file() and _pointed(root, "best.json") != name:
        atomic_write_text(root / "best.json", json.dumps({"dir": name, "step": step}))


def _pointed(root: Path, name: str) -> str | None:
    try:
        return read_json(root / name)["dir"]
    except (CheckpointError, KeyError, TypeError):
        return None


def checkpoint_dir(run_dir: str | Path, which: str = "best") -> Path:
    """The directory ``which`` (``"best"`` or ``"last"``) points to; ``best`` falls back to
    ``last`` when no validation has chosen one yet, and ``last`` to the newest complete
    directory when its pointer file is lost."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        raise CheckpointError(f"{run_dir}: no checkpoints directory (not a rnnkit run?)")
    for name in [which, "last"] if which == "best" else [which]:
        pointed = _pointed(root, f"{name}.json")
        if pointed is not None and (root / pointed / "state.json").is_file():
            return root / pointed
    complete = complete_dirs(run_dir)
    if complete:
        return complete[0]
    raise CheckpointError(f"{root}: no complete {which} checkpoint")


def complete_dirs(run_dir: str | Path) -> list[Path]:
    """The run's checkpoint directories holding a state.json (written last), newest first."""
    root = Path(run_dir) / "checkpoints"
    return [p for p in _step_dirs(root) if (p / "state.json").is_file()]


def read_state(directory: Path) -> dict[str, Any]:
    """``directory``'s state.json, after checking its tensor files against it (see
    :func:`verify`); a damaged directory's error names the intact checkpoints beside it."""
    try:
        state = read_json(directory / "state.json")
        if not isinstance(state, dict):
            raise CheckpointError(f"{directory / 'state.json'}: expected a JSON object")
        verify(directory, state)
    except CheckpointError as e:
        others = [p.name for p in complete_dirs(directory.parent.parent) if p != directory]
        if not others:
            raise
        raise CheckpointError(
            f"{e}; other checkpoints remain in {directory.parent}: {', '.join(others)} "
            f"(remove {directory.name} to use the newest of them)"
        ) from None
    return state


def load_training_state(
    directory: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNGs from ``directory``; returns state.json,
    with the carried tensors (see :func:`save_checkpoint`) under ``"carry"``. ``state``:
    what :func:`read_state` already returned for ``directory`` (its files verified), so
    they are not hashed twice."""
    state = read_state(directory) if state is None else state
    load_model_weights(model, directory / "model.safetensors")
    tensors = load_tensors(directory / "trainer.safetensors")
    try:
        saved = _join_optimizer(tensors, state["optimizer"], optimizer.param_groups)
        optimizer.load_state_dict(saved)
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        set_rng_state(tensors, state["rng"])
    except (KeyError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{directory}: trainer state does not match this run ({e})") from None
    state["carry"] = {k[len("carry.") :]: v for k, v in tensors.items() if k.startswith("carry.")}
    return state
