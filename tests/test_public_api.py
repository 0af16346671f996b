"""Public API that had no test: every settings field, weights.cached_path, the bundled default model, bf16
embedding on a CPU, and the demo (``python -m sclong_tl.demo``)."""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

import sclong_tl as sl
from sclong_tl import _download
from sclong_tl.weights import _registry

CELLBENCH = Path(__file__).resolve().parent / "data" / "embed" / "cellbench_subset.h5ad"


@pytest.fixture
def restore_settings():
    saved = (
        sl.settings.device,
        sl.settings.batch_size,
        sl.settings.progress,
        sl.settings.verbosity,
        sl.settings._cache_dir,
    )
    yield sl.settings
    (
        sl.settings.device,
        sl.settings.batch_size,
        sl.settings.progress,
        sl.settings.verbosity,
        sl.settings._cache_dir,
    ) = saved


@pytest.fixture(scope="module")
def default_model():
    return sl.load_model("default", device="cpu")


@pytest.fixture(scope="module")
def cells():
    adata = ad.read_h5ad(CELLBENCH)
    return adata[:12].copy()


def test_settings_device_batch_size_and_progress(restore_settings, default_model, cells, capsys):
    from sclong_tl._device import resolve_device

    settings = restore_settings
    settings.device = "cpu"
    assert str(resolve_device("auto")) == "cpu"  # "auto" follows sl.settings.device
    settings.device = "cuda:7"
    with pytest.raises(RuntimeError, match="CUDA is not available") if not _cuda() else _nothing():
        resolve_device("auto")
    settings.device = "cpu"
    settings.batch_size = 5
    assert default_model.default_batch_size() == 5
    settings.batch_size = None
    assert default_model.default_batch_size() >= 1
    settings.progress = True
    sl.embed(cells, default_model, pooling="mean", key_added="X_bar")
    assert "cell" in capsys.readouterr().err  # a tqdm bar on stderr
    settings.progress = False
    sl.embed(cells, default_model, pooling="mean", key_added="X_quiet")
    assert "cell" not in capsys.readouterr().err


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def test_settings_verbosity_drives_the_log(restore_settings, default_model, cells, caplog):
    settings = restore_settings
    settings.progress = False
    with caplog.at_level(logging.DEBUG, logger="sclong_tl"):
        settings.verbosity = 1
        sl.embed(cells, default_model, pooling="mean", key_added="X_one")
    assert "added" in caplog.text and "X_one" in caplog.text
    assert logging.getLogger("sclong_tl").getEffectiveLevel() == logging.INFO
    settings.verbosity = 0
    assert logging.getLogger("sclong_tl").getEffectiveLevel() == logging.WARNING
    settings.verbosity = 2
    assert logging.getLogger("sclong_tl").getEffectiveLevel() == logging.DEBUG
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="verbosity"):
            settings.verbosity = bad


def test_settings_cache_dir_and_cached_path(restore_settings, tmp_path, monkeypatch):
    settings = restore_settings
    monkeypatch.setenv(_download.ENV_CACHE, str(tmp_path / "from_env"))
    settings._cache_dir = None
    assert settings.cache_dir == tmp_path / "from_env"
    settings.cache_dir = tmp_path / "set"
    assert settings.cache_dir == tmp_path / "set"
    entry = _registry._registry["sclong-1b"]
    assert sl.weights.cached_path("sclong-1b") == tmp_path / "set" / "weights" / entry.file_name
    assert sl.weights.cached_path("sclong-1b", cache_dir=tmp_path / "other") == (
        tmp_path / "other" / "weights" / entry.file_name
    )
    assert not sl.weights.cached_path("sclong-1b").exists()  # nothing is downloaded
    with pytest.raises(ValueError):
        sl.weights.cached_path("no-such-model")


def test_load_model_default_is_the_bundled_checksummed_model(default_model, cells):
    entry = _registry._registry["sclong-default"]
    assert entry.source == "bundled" and entry.fetchable
    assert default_model.sha256 == entry.sha256
    assert default_model.config.n_genes == len(default_model.genes) == len(sl.genes.default_vocabulary())
    assert default_model.genes == list(sl.genes.default_vocabulary())
    sl.embed(cells, default_model, pooling="mean", progress=False)
    assert np.isfinite(cells.obsm["X_sclong"]).all()
    assert cells.uns["sclong"]["params"]["model_sha256"] == entry.sha256


def test_embed_in_bfloat16_on_cpu_is_close_to_float32(default_model, cells):
    full = sl.embed(cells, default_model, pooling="mean", dtype="float32", copy=True, progress=False)
    half = sl.embed(cells, default_model, pooling="mean", dtype="bfloat16", copy=True, progress=False)
    assert half.uns["sclong"]["params"]["dtype"] == "bfloat16"
    a, b = full.obsm["X_sclong"], half.obsm["X_sclong"]
    assert b.dtype == np.float32 and np.isfinite(b).all()
    assert not np.array_equal(a, b)  # bf16 really ran
    scale = np.abs(a).max()
    assert np.abs(a - b).max() < 0.05 * scale  # bf16 keeps 2-3 significant digits
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_demo_runs_and_matches_the_reference(capsys):
    from sclong_tl import demo

    assert demo.main([]) == 0
    printed = capsys.readouterr().out
    assert "matches the reference implementation" in printed and "CellBench cells" in printed
    assert demo.run_reference_demo(demo.REFERENCE_RELEASE) <= 1e-5


def test_tests_cannot_reach_the_internet():
    import socket

    with pytest.raises(OSError, match="loopback"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: refused before any packet
