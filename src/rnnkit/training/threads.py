"""CPU threads for torch: how many, and a switch to one thread while others compete for the cores.

Measured on a 2-core machine (``benchmarks/bench_small.py``, BENCHMARKS.md "Small models on a
busy machine"): a second thread speeds an idle small model up, but as soon as anything else
runs, OpenMP's threads spin at every barrier while their sibling waits for a core and a step
gets 2-3x slower than with one thread. OpenMP's passive wait policy fixes that and halves idle
speed; a bounded spin count (``GOMP_SPINCOUNT`` 1000 to 100000) was no better than the default
under load, and worse at 10000 and above. So ``auto``:

1. sizes threads to the CPUs this process may use (affinity and cgroup quota, not the host's
   count), shared among the processes of the run (DataLoader workers, ranks on one host);
2. while training, times a few steps at its thread count and then a few at one thread, keeps
   whichever is clearly faster, and asks again now and then (sooner when steps suddenly get
   slower): contention shows up in step times, whatever causes it.

``OMP_NUM_THREADS`` (which torchrun sets) or a number fixes the count.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
from dataclasses import dataclass, field


def threads_setting(text: str) -> int | str | None:
    """An argparse type: ``auto``, ``none`` (torch's default) or a positive number."""
    if text == "auto":
        return text
    if text.lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected 'auto', 'none' or a positive integer, got {text!r}"
        )
    return value


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_quota() -> float | None:
    """CPUs granted by a cgroup quota (v2 ``cpu.max``, v1 ``cfs_quota_us``), None if unlimited."""
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", encoding="ascii") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us", encoding="ascii") as f:
            period = int(f.read())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def wait_policy() -> str:
    """How OpenMP's threads wait, as the environment set it."""
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"):
        if name in os.environ:
            return f"{name}={os.environ[name]}"
    return "OpenMP's default spinning"


@dataclass
class ThreadPolicy:
    """The thread count in force, why, and (``adaptive``) the step timings that revise it.

    Call :meth:`step_done` after every training step with its duration in seconds.
    """

    threads: int
    reason: str
    adaptive: bool = False
    #: steps per trial window; the first step after a switch is dropped (pool resize).
    window: int = 7
    #: steps (and seconds, whichever is later) before the first window: a process's first
    #: 10-40 steps run slow at two threads on the build VM (allocator growth, oneDNN primitive
    #: creation, a second vCPU not yet up to speed), which would make one thread look faster.
    warmup: int = 20
    warmup_s: float = 0.5
    #: steps between trials of the other count; doubles each time a trial confirms the choice.
    interval: int = 100
    max_interval: int = 3200
    switches: list[str] = field(default_factory=list)
    _base: int = 0
    _phase: str = "warmup"
    _samples: list[float] = field(default_factory=list)
    _current_ms: float = 0.0
    _since: int = 0
    _tried: bool = False

    def describe(self) -> str:
        how = "; adapts to contention" if self.adaptive and self._base > 1 else ""
        plural = "s" * (self.threads != 1)
        return f"{self.threads} thread{plural} ({self.reason}; {wait_policy()}{how})"

    def step_done(self, seconds: float) -> None:
        if not self.adaptive or self._base <= 1:
            return
        self._samples.append(seconds)
        if self._phase == "warmup":
            if len(self._samples) >= self.warmup and sum(self._samples) >= self.warmup_s:
                self._samples.clear()
                self._phase = "measure"
            return
        if self._phase == "measure":
            if len(self._samples) >= self.window:
                self._current_ms = 1e3 * statistics.median(self._samples)
                if self._tried:
                    self._samples.clear()
                    self._phase, self._since = "run", 0
                else:  # the first trial at once: a busy machine is found early
                    self._tried = True
                    self._start_trial()
            return
        if self._phase == "run":
            self._since += 1
            recent = 1e3 * statistics.median(self._samples[-3:])
            # Steps far slower than the last measurement: contention may have arrived.
            sudden = len(self._samples) >= 3 and recent > 2 * self._current_ms
            if self._since >= self.interval or sudden:
                self._current_ms = recent  # the trial is judged against the steps just before
                self._start_trial()
            elif len(self._samples) > 3:
                self._samples = self._samples[-3:]
            return
        if self._phase == "settle":  # the first step after a switch resizes the thread pool
            self._samples.clear()
            self._phase = "trial"
            return
        if self._phase == "trial" and len(self._samples) >= self.window:
            trial_ms = 1e3 * statistics.median(self._samples)
            self._samples.clear()
            other = 1 if self.threads == self._base else self._base
            if trial_ms < 0.9 * self._current_ms:  # the trial count is clearly faster: keep it
                self.switches.append(
                    f"{other} -> {self.threads} threads ({self._current_ms:.1f} -> "
                    f"{trial_ms:.1f} ms a step)"
                )
                self._current_ms = trial_ms
                self.interval = 50  # a wrong switch (a noisy window) is undone soon
            else:  # back to the count we had, and ask again less often
                self._set(other)
                self.interval = min(self.max_interval, 2 * self.interval)
            self._phase, self._since = "measure", 0

    def _start_trial(self) -> None:
        """Switch to the other count; its steps are timed from the next step but one."""
        self._samples.clear()
        self._phase = "settle"
        self._set(1 if self.threads > 1 else self._base)

    def _set(self, n: int) -> None:
        import torch

        torch.set_num_threads(n)
        self.threads = n


def apply_policy(setting: int | str | None = "auto", *, processes: int = 1,
                 adaptive: bool = True) -> ThreadPolicy:  # fmt: skip
    """Set torch's thread count by ``setting``: a number (kept as given), None (torch's own
    default, untouched) or ``"auto"`` (see the module docstring); ``processes`` is how many
    processes of this run share the CPUs (this one included)."""
    import torch

    if setting is None:
        return ThreadPolicy(torch.get_num_threads(), "torch's default")
    if setting != "auto":
        torch.set_num_threads(int(setting))
        return ThreadPolicy(int(setting), "as asked")
    if "OMP_NUM_THREADS" in os.environ:  # the user's (or torchrun's) own choice
        threads = torch.get_num_threads()
        return ThreadPolicy(threads, f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    cpus = available_cpus()
    threads = max(1, cpus // max(1, processes))
    torch.set_num_threads(threads)
    shared = f", shared by {processes} processes" if processes > 1 else ""
    policy = ThreadPolicy(threads, f"{cpus} CPUs available{shared}", adaptive=adaptive)
    policy._base = threads
    return policy
