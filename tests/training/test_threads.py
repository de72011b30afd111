"""The thread policy (rnnkit.training.threads): CPUs this process may use, shares, and the
switch to one thread when steps show contention."""

import os

import pytest
import torch

from rnnkit.training import threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_available_cpus_is_the_affinity_capped_by_the_cgroup_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: None)
    assert threads.available_cpus() == 4
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: 1.5)  # 150 ms per 100 ms
    assert threads.available_cpus() == 2
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: 0.2)
    assert threads.available_cpus() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: None)
    assert threads.available_cpus() == 1


def test_auto_shares_the_cpus_among_the_runs_processes(monkeypatch, restore_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 4)
    policy = threads.apply_policy("auto")
    assert (policy.threads, torch.get_num_threads()) == (4, 4)
    assert policy.adaptive and "4 CPUs available" in policy.describe()
    policy = threads.apply_policy("auto", processes=3)  # a run and two DataLoader workers
    assert (policy.threads, torch.get_num_threads()) == (1, 1)
    assert "shared by 3 processes" in policy.reason


def test_omp_num_threads_and_a_number_are_kept(monkeypatch, restore_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    policy = threads.apply_policy("auto")
    assert policy.reason == "OMP_NUM_THREADS=1" and not policy.adaptive
    policy = threads.apply_policy(2)
    assert (policy.threads, torch.get_num_threads(), policy.reason) == (2, 2, "as asked")
    torch.set_num_threads(1)
    assert threads.apply_policy(None).threads == 1  # torch's own setting, untouched


def drive(policy, ms_at, steps):
    """Feed ``steps`` step durations: ``ms_at(threads, step)`` milliseconds each."""
    for step in range(steps):
        policy.step_done(ms_at(policy.threads, step) / 1e3)


def adaptive(n=2):
    torch.set_num_threads(n)
    policy = threads.ThreadPolicy(n, "test", adaptive=True, interval=20, warmup=5, window=5,
                                  warmup_s=0.0)  # fmt: skip
    policy._base = n
    return policy


def test_a_machine_busy_from_the_start_is_found_by_the_first_trial(restore_threads):
    policy = adaptive()
    policy.interval = 10_000
    drive(policy, lambda n, step: 40.0 if n == 2 else 15.0, 25)
    assert policy.threads == 1 and policy.switches


def test_an_idle_machine_keeps_its_threads_and_asks_less_often(restore_threads):
    policy = adaptive()
    drive(policy, lambda n, step: 10.0 if n == 2 else 16.0, 200)
    assert policy.threads == 2 and torch.get_num_threads() == 2
    assert policy.switches == []
    assert policy.interval > 20  # each confirmed trial doubles the wait before the next


def test_contention_switches_to_one_thread_and_back_when_it_ends(restore_threads):
    policy = adaptive()
    busy = range(50, 300)  # another process competes for the cores in these steps

    def ms(n, step):
        if step in busy:
            return 40.0 if n == 2 else 15.0
        return 10.0 if n == 2 else 16.0

    drive(policy, ms, 120)  # contention from step 50: found by the next trial at the latest
    assert policy.threads == 1 and torch.get_num_threads() == 1
    assert policy.switches and policy.switches[0].startswith("2 -> 1 threads")
    drive(policy, lambda n, step: ms(n, step + 120), 500)  # idle again from step 300
    assert policy.threads == 2
    assert policy.switches[-1].startswith("1 -> 2 threads")


def test_a_sudden_slowdown_is_checked_before_the_interval_ends(restore_threads):
    policy = adaptive()
    policy.interval = 10_000
    drive(policy, lambda n, step: 10.0 if n == 2 else 16.0, 40)  # the first trial is done
    assert policy._phase == "run" and policy.threads == 2
    drive(policy, lambda n, step: 45.0 if n == 2 else 15.0, 20)
    assert policy.threads == 1


def test_one_thread_has_nothing_to_adapt(restore_threads):
    policy = adaptive(1)
    drive(policy, lambda n, step: 10.0, 100)
    assert policy.threads == 1 and policy._phase == "warmup"
