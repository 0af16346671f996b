"""Pretraining: masking, schedule, a tiny run that learns, crash-safe resume, 2-process DDP, the CLI."""

from __future__ import annotations

import itertools
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import sclong_tl as sl
from sclong_tl.demo import REFERENCE_RELEASE  # the official-format part of fixture A (package data)
from sclong_tl.train import PretrainConfig, build_initial_model, mask_values, pretrain, validation_loss
from sclong_tl.train._data import ShardStream
from sclong_tl.train._distributed import DistributedContext
from sclong_tl.train._schedule import warmup_cosine

DATA = Path(__file__).resolve().parent / "data"
SHARDS = [str(DATA / "train" / "pbmc3k_shard_a.h5ad"), str(DATA / "train" / "pbmc3k_shard_b.h5ad")]
GENES = str(DATA / "train" / "genes.txt")
TINY = [
    "--config",
    "tiny",
    "--genes",
    GENES,
    "--batch-size",
    "4",
    "--lr",
    "3e-3",
    "--warmup",
    "2",
    "--min-genes",
    "50",
    "--val-cells",
    "16",
    "--seed",
    "5",
]


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
        validation_cells=16,
        seed=5,
        steps=20,
        validate_every=10,
        checkpoint_every=10,
    )
    return PretrainConfig(**{**base, **changes})


def test_masking_follows_the_paper_on_real_cells():
    values = torch.from_numpy(np.load(REFERENCE_RELEASE / "inputs.npy"))
    masked, chosen = mask_values(values, generator=torch.Generator().manual_seed(0))
    nnz = (values > 0).sum(dim=1)
    expected = torch.tensor([math.ceil(0.15 * int(n)) for n in nnz])
    assert torch.equal(chosen.sum(dim=1), expected)
    # the fixture's reference masking chose the same number of genes per cell
    reference_counts = [74, 139, 132, 123, 132, 87, 128, 96]
    assert expected.tolist() == reference_counts
    assert not chosen[values <= 0].any() and not chosen[:, -1].any()
    replaced = masked == -10
    assert (replaced <= chosen).all()
    assert 0.8 < replaced.sum() / chosen.sum() < 0.97
    assert torch.equal(masked[~replaced], values[~replaced])
    again, chosen_again = mask_values(values, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, masked) and torch.equal(chosen_again, chosen)


def test_schedule_warms_up_from_the_first_step_then_decays():
    rates = [warmup_cosine(step, warmup_steps=4, total_steps=20) for step in range(20)]
    assert rates[0] == pytest.approx(0.25) and rates[3] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(rates[3:]))
    assert rates[-1] < 0.1


def test_stream_is_seeded_rank_sharded_and_filters_cells():
    genes = Path(GENES).read_text().split()
    stream = ShardStream(SHARDS, genes, seed=1, validation_fraction=0.1, min_genes=50)
    first = np.concatenate([batch for batch, _ in stream.iter_epoch(sl.train._data.StreamPosition(), 8)])
    again = np.concatenate([batch for batch, _ in stream.iter_epoch(sl.train._data.StreamPosition(), 8)])
    np.testing.assert_array_equal(first, again)
    assert first.shape == (144, 400) and first.max() == pytest.approx(10.0)
    ranks = [
        ShardStream(SHARDS, genes, seed=1, validation_fraction=0.1, min_genes=50, rank=r, world_size=2)
        for r in range(2)
    ]
    shares = [np.concatenate([b for b, _ in s.iter_epoch(sl.train._data.StreamPosition(), 8)]) for s in ranks]
    assert len(shares[0]) + len(shares[1]) == 144
    strict = ShardStream(SHARDS, genes, seed=1, validation_fraction=0.1, min_genes=10_000)
    assert list(strict.iter_epoch(sl.train._data.StreamPosition(), 8)) == [] and strict.skipped_cells == 144


def test_tiny_pretraining_lowers_the_validation_loss(tmp_path):
    config = _config(tmp_path / "run", steps=25)
    initial = build_initial_model(config, tmp_path)
    stream = ShardStream(SHARDS, initial.genes, seed=5, validation_fraction=config.validation_fraction, min_genes=50)
    cells = stream.validation_cells(16)
    context = DistributedContext()
    before = validation_loss(initial.module, cells, seed=5, context=context, bf16=False, batch_size=4)
    path = pretrain(config)
    trained = sl.load_model(path, device="cpu")
    after = validation_loss(trained.module, cells, seed=5, context=context, bf16=False, batch_size=4)
    assert after < 0.6 * before
    metrics = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert metrics[0].startswith("step,epoch,lr,loss,val_loss") and len(metrics) > 2
    assert trained.genes == Path(GENES).read_text().split()


def _train_command(out: Path, steps: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sclong_tl.train",
        "--data",
        *SHARDS,
        "--out",
        str(out),
        *TINY,
        "--steps",
        str(steps),
        "--checkpoint-every",
        "2",
        "--validate-every",
        "100",
        "--log-every",
        "100",
    ]


def _environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def test_killed_run_resumes_exactly(tmp_path):
    steps = 8
    reference = tmp_path / "uninterrupted"
    subprocess.run(_train_command(reference, steps), check=True, env=_environment(), capture_output=True)

    crashed = tmp_path / "crashed"
    process = subprocess.Popen(
        _train_command(crashed, steps), env=_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 900  # generous: a loaded 2-core machine can take minutes to start
    while time.time() < deadline and not (crashed / "checkpoints" / "step-00000004.pt").exists():
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    names = sorted(p.name for p in (crashed / "checkpoints").iterdir())
    # a kill during a checkpoint write may leave that write's hidden temporary file, never a partial step-*.pt
    saved = [name for name in names if not name.startswith(".")]
    unfinished = [name for name in names if name.startswith(".")]
    assert saved and all(name.startswith("step-") and name.endswith(".pt") for name in saved), names
    assert all(name.startswith(".step-") and ".pt.tmp-" in name for name in unfinished), names
    assert not (crashed / "model.safetensors").exists()

    subprocess.run([*_train_command(crashed, steps), "--resume"], check=True, env=_environment(), capture_output=True)
    expected = sl.load_model(reference / "model.safetensors").module.state_dict()
    resumed = sl.load_model(crashed / "model.safetensors").module.state_dict()
    for key, value in expected.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0, msg=key)


def test_two_process_ddp_with_gloo(tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "sclong_tl.train",
        "--data",
        *SHARDS,
        "--out",
        str(out),
        *TINY,
        "--steps",
        "3",
        "--grad-accum",
        "2",
        "--device",
        "cpu",
    ]
    result = subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    model = sl.load_model(out / "model.safetensors")
    assert model.provenance["world_size"] == 2 and model.provenance["steps"] == 3


def test_cli_pretrain_and_bad_arguments(tmp_path, capsys):
    from sclong_tl.cli import main

    out = tmp_path / "cli"
    status = main(
        ["pretrain", "--data", *SHARDS, "--out", str(out), *TINY, "--steps", "2", "--storage-dtype", "float16"]
    )
    assert status == 0 and (out / "model.safetensors").is_file()
    assert sl.load_model(out / "model.safetensors").module.exp_to_out.weight.dtype == torch.float32
    assert main(["pretrain", "--data", str(tmp_path / "missing.h5ad"), "--out", str(out), *TINY]) == 1
    assert "no data shard" in capsys.readouterr().err
