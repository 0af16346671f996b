"""``sclong-tl embed`` / ``sl.tl.embed_to_zarr``: bit-identical to ``sl.embed``, resumable after SIGKILL, 2 ranks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

import sclong_tl as sl
from _embed_helpers import DATA, tiny_model
from sclong_tl.tl import embed_to_zarr, read_embedding

pytestmark = pytest.mark.filterwarnings("ignore:only .* commonly expressed genes:UserWarning")

CELLBENCH, BARON = DATA / "cellbench_subset.h5ad", DATA / "baron_subset.h5ad"


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocesses (OMP_NUM_THREADS=1): the same kernels, the same bits
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    tiny_model().save(path)
    return path


def reference(path: Path, model, **options) -> ad.AnnData:
    """``sl.embed`` of the whole file in memory: what the store must hold."""
    adata = ad.read_h5ad(path)
    sl.embed(adata, model, progress=False, **options)
    return adata


def assert_same(stored: ad.AnnData, expected: ad.AnnData) -> None:
    np.testing.assert_array_equal(stored.obs_names, expected.obs_names)
    embedding = stored.obsm["X_sclong"]
    assert embedding.dtype == np.float32
    np.testing.assert_array_equal(embedding, expected.obsm["X_sclong"])  # bit for bit
    assert stored.uns["sclong"]["params"] == expected.uns["sclong"]["params"]
    assert stored.uns["sclong"]["genes"] == expected.uns["sclong"]["genes"]
    if "feature_genes" in expected.uns["sclong"]:
        assert list(stored.uns["sclong"]["feature_genes"]) == list(expected.uns["sclong"]["feature_genes"])


def environment() -> dict[str, str]:
    """Subprocesses run this checkout's package with one thread (as the tests here)."""
    source = str(Path(sl.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
    }


def embed_command(model_file: Path, out: Path, *inputs: Path, batch_size: int, chunk_size: int) -> list[str]:
    return [
        "-m",
        "sclong_tl.cli",
        "embed",
        *map(str, inputs),
        "--model",
        str(model_file),
        "--out",
        str(out),
        "--batch-size",
        str(batch_size),
        "--chunk-size",
        str(chunk_size),
        "--device",
        "cpu",
        "--no-progress",
    ]


def chunk_files(out: Path, index: int) -> dict[str, tuple[int, int]]:
    """Embedding chunk files of an input: name -> (inode, mtime_ns), to see whether a block was rewritten."""
    folder = out / str(index) / "embedding" / "c"
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and p.name.isdigit()
    }


def marked(out: Path, index: int) -> set[int]:
    folder = out / str(index) / "done" / "c"
    return {int(p.name) for p in folder.iterdir() if p.name.isdigit()} if folder.is_dir() else set()


def test_store_equals_embed_bit_for_bit_and_reads_back(tmp_path, model_file):
    model = sl.load_model(model_file, device="cpu")
    out = tmp_path / "atlas.zarr"
    path = embed_to_zarr([CELLBENCH, BARON], out, model_file, batch_size=8, chunk_size=30, device="cpu", progress=False)
    assert path == out
    for index, source in enumerate((CELLBENCH, BARON)):
        expected = reference(source, model, batch_size=8)
        assert_same(read_embedding(out, source=index), expected)
    # by path, into an AnnData (as sl.embed writes it), under another key
    adata = ad.read_h5ad(BARON)
    assert read_embedding(out, source=BARON, adata=adata, key_added="X_atlas") is None
    np.testing.assert_array_equal(adata.obsm["X_atlas"], reference(BARON, model, batch_size=8).obsm["X_sclong"])
    assert adata.uns["X_atlas"]["params"]["key_added"] == "X_atlas"
    with pytest.raises(ValueError, match="not those of"):
        read_embedding(out, source=0, adata=adata)
    with pytest.raises(ValueError, match="holds 2 input"):
        read_embedding(out, source=2)

    # a second run of the same request does nothing and keeps every block
    before = chunk_files(out, 1)
    embed_to_zarr([CELLBENCH, BARON], out, model_file, batch_size=8, chunk_size=30, device="cpu", progress=False)
    assert chunk_files(out, 1) == before


def test_mean_pooling_and_an_unsaved_model(tmp_path):
    model = tiny_model()
    out = tmp_path / "mean.zarr"
    embed_to_zarr(CELLBENCH, out, model, pooling="mean", batch_size=5, device="cpu", progress=False)
    stored = read_embedding(out)
    assert stored.obsm["X_sclong"].shape == (120, model.config.base_dim)
    assert_same(stored, reference(CELLBENCH, model, pooling="mean", batch_size=5))
    # the weights of an unsaved model are part of the request: another seed is refused
    with pytest.raises(FileExistsError, match="model_sha256"):
        embed_to_zarr(CELLBENCH, out, tiny_model(seed=1), pooling="mean", batch_size=5, device="cpu", progress=False)


def test_clear_errors(tmp_path, model_file, capsys):
    from sclong_tl.cli import main

    out = tmp_path / "out.zarr"
    with pytest.raises(FileNotFoundError, match="no input file"):
        embed_to_zarr([CELLBENCH, tmp_path / "missing.h5ad"], out, model_file, device="cpu")
    with pytest.raises(ValueError, match="more than once"):
        embed_to_zarr([CELLBENCH, CELLBENCH], out, model_file, device="cpu")
    with pytest.raises(ValueError, match="pooling must be one of"):
        embed_to_zarr(CELLBENCH, out, model_file, pooling="max", device="cpu")
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        embed_to_zarr(CELLBENCH, out, model_file, chunk_size=0, device="cpu")
    not_h5ad = tmp_path / "notes.h5ad"
    not_h5ad.write_text("not an h5ad file")
    with pytest.raises(ValueError, match="cannot read"):
        embed_to_zarr(not_h5ad, out, model_file, device="cpu")
    assert not out.exists()  # nothing is created before the inputs are checked

    negative = tmp_path / "negative.h5ad"
    adata = ad.read_h5ad(CELLBENCH)[:20].copy()
    adata.X = adata.X.toarray()
    adata.X[3, 5] = -1.0
    adata.write_h5ad(negative)
    with pytest.raises(ValueError, match="negative"):
        embed_to_zarr(negative, out, model_file, device="cpu", progress=False)
    assert not out.exists() and not list(tmp_path.glob(".out.zarr*"))

    small = tmp_path / "small.h5ad"
    ad.read_h5ad(CELLBENCH)[:12].copy().write_h5ad(small)
    embed_to_zarr(small, out, model_file, batch_size=4, device="cpu", progress=False)
    with pytest.raises(FileExistsError, match="batch_size 4, now 3"):
        embed_to_zarr(small, out, model_file, batch_size=3, device="cpu", progress=False)
    with pytest.raises(FileExistsError, match=r"input\(s\) \[0\] differ"):
        embed_to_zarr(negative, out, model_file, batch_size=4, device="cpu", progress=False, values="counts")
    embed_to_zarr(small, out, model_file, batch_size=4, pooling="mean", overwrite=True, device="cpu", progress=False)
    assert read_embedding(out).uns["sclong"]["params"]["pooling"] == "mean"

    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not an sclong_tl embedding store"):
        embed_to_zarr(small, folder, model_file, overwrite=True, device="cpu", progress=False)
    assert (folder / "keep.txt").read_text() == "precious"  # never deleted, even with overwrite
    with pytest.raises(FileNotFoundError, match="no sclong_tl embedding store"):
        read_embedding(folder)

    assert main(["embed", str(tmp_path / "missing.h5ad"), "--out", str(out), "--model", str(model_file)]) == 1
    assert "no input file" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_run_resumes_without_rewriting_or_losing_blocks(tmp_path, model_file):
    out = tmp_path / "killed.zarr"
    command = [sys.executable, *embed_command(model_file, out, CELLBENCH, BARON, batch_size=2, chunk_size=4)]
    process = subprocess.Popen(command, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 900  # generous: a loaded 2-core machine can take minutes to start
    while time.time() < deadline and len(marked(out, 0)) < 3 and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL  # killed mid-run, not finished
    done_before = marked(out, 0)
    n_blocks = -(-120 // 4)
    assert 3 <= len(done_before) < n_blocks
    with pytest.raises(ValueError, match="incomplete"):
        read_embedding(out)
    kept = {name: stamp for name, stamp in chunk_files(out, 0).items() if int(name.split("/")[0]) in done_before}
    assert len(kept) == len(done_before)  # every marked block has its data

    result = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    after = chunk_files(out, 0)
    assert {name: after[name] for name in kept} == kept  # blocks done before the kill were not written again
    assert marked(out, 0) == set(range(n_blocks)) and marked(out, 1) == set(range(-(-175 // 4)))
    model = sl.load_model(model_file, device="cpu")
    for index, source in enumerate((CELLBENCH, BARON)):
        assert_same(read_embedding(out, source=index), reference(source, model, batch_size=2))


@pytest.mark.slow
def test_two_processes_with_gloo_write_the_same_store(tmp_path, model_file):
    out = tmp_path / "ranks.zarr"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        *embed_command(model_file, out, CELLBENCH, batch_size=4, chunk_size=8),
    ]
    result = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):  # both ranks wrote half of the 15 blocks
        assert f"rank {rank} of 2 wrote" in result.stderr, result.stderr[-3000:]
    assert result.stdout.strip().splitlines() == [str(out)]  # printed once, by rank 0
    model = sl.load_model(model_file, device="cpu")
    assert_same(read_embedding(out), reference(CELLBENCH, model, batch_size=4))
