"""Pretraining resumes from its checkpoint's step, and data-parallel ranks stay in sync with averaged gradients."""

from __future__ import annotations

import csv
import logging
import os
import subprocess
import sys
from pathlib import Path

import torch

from sclong_tl.train import PretrainConfig, pretrain

DATA = Path(__file__).resolve().parent / "data"
SHARDS = [str(DATA / "train" / "pbmc3k_shard_a.h5ad"), str(DATA / "train" / "pbmc3k_shard_b.h5ad")]
GENES = str(DATA / "train" / "genes.txt")
WORKER = Path(__file__).resolve().parent / "_ddp_sync_worker.py"


def _config(out: Path, **changes) -> PretrainConfig:
    base = dict(
        data=SHARDS,
        out=str(out),
        config="tiny",
        genes=GENES,
        batch_size=4,
        lr=3e-3,
        warmup_steps=2,
        min_genes=50,
        validation_cells=8,
        seed=5,
        steps=4,
        validate_every=100,
        checkpoint_every=2,
        log_every=1,
        device="cpu",
    )
    return PretrainConfig(**{**base, **changes})


def _logged_steps(out: Path) -> list[int]:
    with open(out / "metrics.csv", newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


def test_resume_continues_from_the_checkpoint_step(tmp_path, monkeypatch, caplog):
    out = tmp_path / "run"
    pretrain(_config(out, steps=4))
    assert (out / "checkpoints").is_dir() and _logged_steps(out) == [1, 2, 3, 4]

    calls = []
    original = torch.optim.Adam.step

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counted)
    with caplog.at_level(logging.INFO, logger="sclong_tl"):
        pretrain(_config(out, steps=6, resume=True))
    assert len(calls) == 2, f"a run resumed at step 4 of 6 took {len(calls)} optimizer steps"
    assert "resumed from step 4" in caplog.text
    assert _logged_steps(out) == [1, 2, 3, 4, 5, 6]  # the log continues, it does not start again


def test_without_resume_a_run_starts_again(tmp_path, monkeypatch):
    out = tmp_path / "run"
    pretrain(_config(out, steps=2))
    calls = []
    original = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    pretrain(_config(out, steps=3, resume=False))
    assert len(calls) == 3 and _logged_steps(out) == [1, 2, 3]


def test_two_ranks_stay_in_sync_and_average_gradients(tmp_path):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(WORKER),
        str(tmp_path),
        *SHARDS,
        "--",
        GENES,
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert ranks[0]["used"].shape[0] == 3  # three optimizer steps
    # the ranks saw different cells: their local gradients differ ...
    assert not torch.allclose(ranks[0]["local"], ranks[1]["local"])
    # ... the optimizer of each rank used their mean ...
    mean = (ranks[0]["local"] + ranks[1]["local"]) / 2
    for rank in ranks:
        torch.testing.assert_close(rank["used"], mean, rtol=1e-4, atol=1e-7)
    # ... so the weights stay identical on both ranks after every step
    torch.testing.assert_close(ranks[0]["weights"], ranks[1]["weights"], rtol=0, atol=0)
