"""CPU facts and the thread policy: cpuinfo flags, cgroup v1 / v2 quotas, affinity, settings.n_threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import sclong_tl as sl
from sclong_tl import _cpu


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cpu_flags_and_model_name_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    write(
        cpuinfo,
        "processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 avx512f AMX_BF16 fma\n\n"
        "processor\t: 1\nflags\t\t: fpu\n",
    )
    flags = _cpu.read_cpu_flags(cpuinfo)
    assert flags == {"fpu", "avx2", "avx512f", "amx_bf16", "fma"}  # first CPU, lower case
    assert _cpu.cpu_model_name(cpuinfo) == "Test CPU 9000"
    assert _cpu.has_native_bf16(flags)
    assert not _cpu.has_native_bf16(frozenset({"avx2", "avx512f", "fma"}))  # e.g. AMD Zen 3
    assert _cpu.has_native_bf16(frozenset({"avx512_bf16"}))  # e.g. AMD Zen 4
    assert _cpu.read_cpu_flags(tmp_path / "missing") == frozenset()
    assert _cpu.cpu_model_name(tmp_path / "missing") == "unknown"
    arm = tmp_path / "arm"
    write(arm, "processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert _cpu.read_cpu_flags(arm) == {"fp", "asimd", "bf16"}


def test_cgroup_v2_quota_is_the_smallest_over_the_ancestors(tmp_path):
    root = tmp_path / "cgroup"
    proc = tmp_path / "proc_cgroup"
    write(proc, "0::/user.slice/job.scope\n")
    write(root / "user.slice" / "job.scope" / "cpu.max", "max 100000\n")
    assert _cpu.cgroup_cpu_quota(proc_cgroup=proc, root=root) is None  # no limit anywhere
    write(root / "user.slice" / "cpu.max", "250000 100000\n")
    assert _cpu.cgroup_cpu_quota(proc_cgroup=proc, root=root) == pytest.approx(2.5)
    write(root / "user.slice" / "job.scope" / "cpu.max", "150000 100000\n")
    assert _cpu.cgroup_cpu_quota(proc_cgroup=proc, root=root) == pytest.approx(1.5)
    write(root / "user.slice" / "job.scope" / "cpu.max", "garbage\n")  # unreadable entries are skipped
    assert _cpu.cgroup_cpu_quota(proc_cgroup=proc, root=root) == pytest.approx(2.5)


def test_cgroup_v2_inside_a_container_reads_the_mount_root(tmp_path):
    root = tmp_path / "cgroup"
    proc = tmp_path / "proc_cgroup"
    write(proc, "0::/\n")
    write(root / "cpu.max", "200000 100000\n")
    assert _cpu.cgroup_cpu_quota(proc_cgroup=proc, root=root) == pytest.approx(2.0)
    # without a cgroup namespace the file names the host path, which does not exist below the mount
    write(proc, "0::/kubepods/pod1/abc\n")
    assert _cpu.cgroup_cpu_quota(proc_cgroup=proc, root=root) == pytest.approx(2.0)


def test_cgroup_v1_quota(tmp_path):
    root = tmp_path / "cgroup"
    proc = tmp_path / "proc_cgroup"
    write(proc, "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
    job = root / "cpu,cpuacct" / "docker" / "abc"
    write(job / "cpu.cfs_quota_us", "-1\n")
    write(job / "cpu.cfs_period_us", "100000\n")
    assert _cpu.cgroup_cpu_quota(proc_cgroup=proc, root=root) is None  # -1: no quota
    write(job / "cpu.cfs_quota_us", "50000\n")
    assert _cpu.cgroup_cpu_quota(proc_cgroup=proc, root=root) == pytest.approx(0.5)
    write(job / "cpu.cfs_period_us", "0\n")  # nonsense period: ignored
    assert _cpu.cgroup_cpu_quota(proc_cgroup=proc, root=root) is None


def test_no_cgroup_information_means_no_quota(tmp_path):
    assert _cpu.cgroup_cpu_quota(proc_cgroup=tmp_path / "none", root=tmp_path / "none") is None


@pytest.mark.parametrize(
    ("affinity", "quota", "expected"),
    [
        (8, None, 8),
        (8, 2.0, 2),
        (8, 2.5, 2),
        (8, 0.5, 1),
        (2, 16.0, 2),
        (0, None, 1),
    ],
)
def test_thread_budget_is_the_smaller_of_affinity_and_quota(affinity, quota, expected):
    assert _cpu.thread_budget(affinity, quota) == expected


def test_cpu_budget_of_this_process_respects_its_affinity():
    assert 1 <= _cpu.cpu_budget() <= len(os.sched_getaffinity(0))
    assert "budget" in _cpu.cpu_summary()


@pytest.mark.parametrize(
    ("current", "setting", "budget", "expected"),
    [
        (8, None, 2, 2),  # automatic: lowered to the budget
        (1, None, 2, 1),  # ... never raised above the user's own choice
        (8, 3, 2, 3),  # an explicit setting wins
    ],
)
def test_resolve_threads(current, setting, budget, expected):
    assert _cpu.resolve_threads(current, setting, budget) == expected


def test_torch_threads_applies_the_setting_and_restores_the_users_count(monkeypatch):
    import torch

    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        monkeypatch.setattr(_cpu, "cpu_budget", lambda: 2)
        with _cpu.torch_threads() as used:
            assert used == 2 and torch.get_num_threads() == 2
        assert torch.get_num_threads() == 3
        torch.set_num_threads(1)
        with _cpu.torch_threads() as used:  # automatic mode does not raise a lower choice
            assert used == 1 and torch.get_num_threads() == 1
        monkeypatch.setattr(sl.settings, "n_threads", 2)
        with pytest.raises(RuntimeError, match="inside"), _cpu.torch_threads():
            assert torch.get_num_threads() == 2
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 1  # restored also when the work fails
    finally:
        torch.set_num_threads(previous)


def test_tools_run_with_the_thread_setting(monkeypatch):
    import torch

    seen = []

    @_cpu.with_torch_threads
    def tool(x: int) -> int:
        seen.append(torch.get_num_threads())
        return x + 1

    previous = torch.get_num_threads()
    monkeypatch.setattr(sl.settings, "n_threads", 1)
    assert tool(1) == 2 and seen == [1]
    assert torch.get_num_threads() == previous


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_n_threads_setting_is_validated(bad):
    with pytest.raises(ValueError, match="n_threads"):
        sl.settings.n_threads = bad
    assert sl.settings.n_threads is None


@pytest.mark.parametrize(("flags", "warns"), [({"avx2", "fma", "avx512f"}, True), ({"avx2", "amx_bf16"}, False)])
def test_bf16_on_a_cpu_without_native_instructions_warns_once(monkeypatch, caplog, flags, warns):
    import logging

    monkeypatch.setattr(_cpu, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(_cpu, "_warned_bf16", False)
    with caplog.at_level(logging.WARNING, logger="sclong_tl._cpu"):
        _cpu.warn_if_bf16_is_emulated()
        _cpu.warn_if_bf16_is_emulated()
    assert caplog.text.count("neither AMX-BF16 nor AVX512-BF16") == (1 if warns else 0)
