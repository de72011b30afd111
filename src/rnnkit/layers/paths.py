"""Which execution path a ``Recurrent`` takes, found by measuring on this machine.

Where both torch's fused op and rnnkit's custom kernel can run a layer, which is faster
depends on the CPU (AVX2, AVX-512, AMX), the thread count, the shape and whether gradients are
recorded: thresholds timed on one CPU were 1.13-1.17x off on another. So, like cuDNN's
benchmark mode, the first time a shape is seen both paths are timed on it for a few calls, and
the faster one is kept: per process, and on disk in the user's cache folder, keyed by the CPU
and the torch version, so a later run (or a resumed one) takes the same path without timing.

Settings (environment):
    ``RNNKIT_MEASURE_PATHS=0``: no timing; the fixed rules of ``Recurrent`` decide.
    ``RNNKIT_PATH_CACHE=0``: time in every process, neither read nor write the disk cache.
    ``RNNKIT_CACHE_DIR``: the cache folder (default ``$XDG_CACHE_HOME/rnnkit`` or
    ``~/.cache/rnnkit``).

Also here: whether torch's fused op runs in a low-precision dtype on this CPU at all (oneDNN has
no bfloat16 LSTM kernel without AVX-512 bf16 support), probed once per process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

#: A timing of one candidate: the fastest of a few calls, in milliseconds.
Timings = dict[str, float]


@dataclass
class Choice:
    """The path taken for one key, and why."""

    path: str
    reason: str
    timings: Timings = field(default_factory=dict)


# -- the CPU and where its choices are kept ---------------------------------------------------


@functools.cache
def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


#: The instruction-set flags that change which kernels are fast (or exist).
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16", "asimd", "sve")


@functools.cache
def cpu_flags() -> tuple[str, ...]:
    """Which of :data:`FLAGS` this CPU has (from ``/proc/cpuinfo``; empty where unreadable)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    have = set(line.split(":", 1)[1].split())
                    return tuple(flag for flag in FLAGS if flag in have)
    except OSError:
        pass
    return ()


#: Environment settings that cap the instruction sets torch's libraries use (oneDNN, MKL, ATen).
CAPS = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY")


def describe_cpu() -> str:
    """One line naming the CPU, its flags and what torch's kernels use, e.g.
    ``AMD EPYC (avx2 avx512f avx512_bf16; torch kernels AVX512)``, and the instruction-set
    caps set in the environment (how an AVX2-only CPU is simulated on a newer one)."""
    capability = torch.backends.cpu.get_cpu_capability()
    flags = " ".join(cpu_flags()) or "flags unknown"
    caps = [f"{name}={os.environ[name]}" for name in CAPS[:2] if name in os.environ]
    capped = f"; capped by {' '.join(caps)}" if caps else ""
    return f"{cpu_name()} ({flags}; torch kernels {capability}{capped})"


def cache_file() -> Path:
    """The disk cache of this CPU and torch version."""
    root = os.environ.get("RNNKIT_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "rnnkit")
    # The oneDNN ISA cap changes which kernels exist, so it is part of the machine's identity.
    isa = "".join(os.environ.get(name, "") for name in CAPS)
    ident = f"{cpu_name()}|{' '.join(cpu_flags())}|{isa}|torch {torch.__version__}"
    digest = hashlib.sha256(ident.encode()).hexdigest()[:16]
    return Path(root) / f"paths-{digest}.json"


def measuring() -> bool:
    return os.environ.get("RNNKIT_MEASURE_PATHS", "1") != "0"


def _disk_enabled() -> bool:
    return os.environ.get("RNNKIT_PATH_CACHE", "1") != "0"


class _Cache:
    """Choices by key: this process's, backed by the disk file (read once, merged on write)."""

    def __init__(self) -> None:
        self.choices: dict[str, Choice] = {}
        self.loaded_for: tuple | None = None

    def _load(self) -> None:
        # Read the file again only when the settings that name it change (a forward pass
        # looks its path up here: this check is kept to a few dictionary reads).
        env = os.environ
        settings = (env.get("RNNKIT_CACHE_DIR"), env.get("XDG_CACHE_HOME"),
                    env.get("RNNKIT_PATH_CACHE"))  # fmt: skip
        if self.loaded_for == settings:
            return
        self.loaded_for = settings
        if not _disk_enabled():
            return
        file = cache_file()
        for key, value in _read(file).items():
            self.choices.setdefault(key, value)

    def get(self, key: str) -> Choice | None:
        self._load()
        return self.choices.get(key)

    def put(self, key: str, choice: Choice) -> None:
        self.choices[key] = choice
        if not _disk_enabled():
            return
        file = cache_file()
        merged = {**_read(file), key: choice}  # another process may have added keys meanwhile
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({k: vars(c) for k, c in merged.items()}, indent=1))
            os.replace(tmp, file)
        except OSError:
            pass  # a read-only home: the choice still holds for this process

    def clear(self) -> None:
        self.choices.clear()
        self.loaded_for = None


def _read(file: Path) -> dict[str, Choice]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        return {k: Choice(str(v["path"]), str(v["reason"]), dict(v.get("timings", {})))
                # An entry naming another path (an edited file) is measured again.
                for k, v in data.items() if v["path"] in ("fused", "custom")}  # fmt: skip
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}  # missing or damaged: measured again


CACHE = _Cache()


def table() -> dict[str, Choice]:
    """Every choice known to this process (its own and the disk cache's), by key."""
    CACHE._load()
    return dict(CACHE.choices)


# -- keys and timing --------------------------------------------------------------------------


def bucket(n: int) -> int:
    """The power of two at or above ``n``: shapes within a factor of two share a choice."""
    return 1 << max(0, int(n) - 1).bit_length()


def key(layer: str, batch: int, steps: int, dtype: torch.dtype, device: torch.device,
        train: bool) -> str:  # fmt: skip
    """The cache key: the layer's description, B and T buckets, dtype, device, train/infer and
    the thread count (a second thread helps oneDNN's LSTM more than rnnkit's loops)."""
    mode = "train" if train else "infer"
    return (f"{layer} | B<={bucket(batch)} T<={bucket(steps)} | {str(dtype).removeprefix('torch.')}"
            f" | {device.type} | {mode} | threads={torch.get_num_threads()}")  # fmt: skip


def fastest(jobs: dict[str, Callable[[], None]], *, budget_s: float = 0.5) -> Timings:
    """Time every job: one untimed call each (oneDNN primitive creation, allocator growth),
    then rounds with the jobs interleaved, at least three (two left a 14% wrong pick in
    bench_core --sweep on a noisy VM) and up to five while within ``budget_s``. Returns each
    job's fastest call in ms: interference from other processes only ever slows a call, so the
    minimum is the least noisy estimate."""
    for job in jobs.values():
        job()
    best = {name: float("inf") for name in jobs}
    start = time.perf_counter()
    for round_ in range(5):
        for name, job in jobs.items():
            t0 = time.perf_counter()
            job()
            best[name] = min(best[name], (time.perf_counter() - t0) * 1e3)
        if round_ >= 2 and time.perf_counter() - start > budget_s:
            break
    return best


def _same(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def measure(key_: str, jobs: dict[str, Callable[[], None]]) -> Choice:
    """The fastest of ``jobs`` (path -> one call), timed now and cached under ``key_``."""
    # Random draws while timing (dropout masks) must not shift the run's random stream, and
    # its saved tensors must not reach the caller's saved-tensor hooks (non-reentrant
    # checkpointing counts them; the trainer's memory check measures with them): identity
    # hooks, innermost, take precedence.
    with torch.random.fork_rng(devices=[]), torch.autograd.graph.saved_tensors_hooks(_same, _same):
        timings = fastest(jobs)
    path = min(timings, key=timings.get)
    shown = ", ".join(f"{name} {ms:.3g} ms" for name, ms in sorted(timings.items()))
    choice = Choice(path, f"measured: {shown}", {k: round(v, 4) for k, v in timings.items()})
    CACHE.put(key_, choice)
    return choice


# -- low-precision support of the fused ops ---------------------------------------------------


@functools.cache
def fused_runs_in(op: str, device_type: str, dtype: torch.dtype) -> bool:
    """Whether ``torch.<op>`` (``lstm``, ``gru``, ``rnn_tanh``) runs forward and backward
    under ``dtype`` autocast on this device: a tiny probe, once per process. oneDNN raises
    "could not create a primitive descriptor" for a bfloat16 LSTM on CPUs without bf16
    support."""
    if dtype in (torch.float32, torch.float64):
        return True  # no autocast: the op's own dtype
    gates = {"lstm": 4, "gru": 3}.get(op, 1)
    D, H = 3, 4
    # Gradients on whatever mode the caller is in (the answer is cached for the process), no
    # random draws (a resumed run probes after its RNG state is restored).
    with torch.inference_mode(False), torch.enable_grad():
        try:
            weights = [
                torch.full((gates * H, n), 0.1, device=device_type, requires_grad=True)
                for n in (D, H)
            ]
            x = torch.ones(2, 2, D, device=device_type)
            h0 = torch.zeros(1, 2, H, device=device_type)
            state = [h0, h0] if op == "lstm" else h0
            with torch.autocast(device_type, dtype=dtype):
                out = getattr(torch, op)(x, state, weights, False, 1, 0.0, True, False, False)[0]
            out.float().sum().backward()
            return True
        except RuntimeError:  # "could not create a primitive descriptor ...", or no kernel
            return False
