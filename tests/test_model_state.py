"""Unsafe model states (issue 18): device moves, weights owned after loading, checksums of what was loaded,
and clear errors for damaged or wrong ``.safetensors`` files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sclong_tl as sl
from sclong_tl import ScLongModel

GENES = [f"ENSG{i:011d}" for i in range(30)]
EDGES = np.array([[0, 1, 2, 2], [0, 0, 1, 2]])


def small_model(seed: int = 3) -> ScLongModel:
    return ScLongModel.from_config("tiny", genes=GENES, graph=(EDGES, np.ones(4, dtype=np.float32)), seed=seed, top_k=8)


def values(n: int = 2) -> np.ndarray:
    return np.random.default_rng(0).random((n, len(GENES))).astype(np.float32) * 10


# ------------------------------------------------------------------------------------------------ item 3
@pytest.mark.parametrize("device", ["mps", "cuda:7", "tpu"])
def test_failed_device_move_leaves_the_model_usable(device):
    model = small_model()
    before = model.encode(values())[1]
    with pytest.raises((RuntimeError, ValueError)):
        model.to(device)
    assert model.device.type == "cpu"
    assert all(p.device.type == "cpu" for p in model.module.parameters())
    np.testing.assert_array_equal(model.encode(values())[1], before)
    with pytest.raises((RuntimeError, ValueError)):
        sl.load_model(model, device=device)
    assert model.device.type == "cpu"


# ------------------------------------------------------------------------------------------------ item 4
_OVERWRITE_SCRIPT = """
import sys, numpy as np
import sclong_tl as sl
model = sl.load_model(sys.argv[1], device="cpu")
with open(sys.argv[1], "r+b") as handle:  # in place, as cp or rsync --inplace do: same inode, shorter file
    handle.truncate(0)
    handle.write(b"x" * 100)
print(int(model.edge_index.sum()), float(model.edge_weight.sum()))
values = np.random.default_rng(0).random((2, len(model.genes))).astype(np.float32)
print(float(model.encode(values)[1].sum()))
"""


def test_overwriting_the_file_in_place_does_not_crash_a_loaded_model(tmp_path):
    import subprocess
    import sys

    path = small_model().save(tmp_path / "m.safetensors")
    done = subprocess.run(
        [sys.executable, "-c", _OVERWRITE_SCRIPT, str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])  # -7 = SIGBUS before the fix


def test_sha256_is_of_the_loaded_bytes(tmp_path):
    import hashlib
    import os

    path = small_model(seed=3).save(tmp_path / "m.safetensors")
    original = hashlib.sha256(path.read_bytes()).hexdigest()
    model = sl.load_model(path, device="cpu")
    other = small_model(seed=4).save(tmp_path / "other.safetensors")
    os.replace(other, path)  # the file now holds other weights
    assert model.sha256 == original


# ------------------------------------------------------------------------------------------------ item 9
def test_damaged_files_get_clear_errors(tmp_path):
    path = small_model().save(tmp_path / "m.safetensors")
    data = path.read_bytes()
    cases = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "garbage": b"\x00" * 64 + b"not a model",
        "text": b"hello world, this is not a safetensors file at all",
    }
    for name, content in cases.items():
        broken = tmp_path / f"{name}.safetensors"
        broken.write_bytes(content)
        with pytest.raises(ValueError, match=rf"{name}\.safetensors is not a readable \.safetensors file"):
            sl.load_model(broken, device="cpu")
    with pytest.raises(FileNotFoundError, match="a directory"):
        sl.load_model(tmp_path, device="cpu")


def test_wrong_shape_weights_name_the_file(tmp_path):
    from sclong_tl._io import read_safetensors, write_safetensors

    path = small_model().save(tmp_path / "m.safetensors")
    tensors, header = read_safetensors(path, kind="sclong")
    key = next(k for k, v in tensors.items() if v.ndim == 2 and not k.startswith("go."))
    tensors[key] = torch.zeros(tensors[key].shape[0] + 1, tensors[key].shape[1])
    content = {k: v for k, v in header.items() if k not in ("format", "version", "kind")}
    write_safetensors(tmp_path / "bad.safetensors", tensors, kind="sclong", content=content)
    with pytest.raises(ValueError, match=r"bad\.safetensors: weights do not fit the configuration"):
        sl.load_model(tmp_path / "bad.safetensors", device="cpu")


@pytest.mark.filterwarnings("ignore:only .* commonly expressed genes:UserWarning")
def test_nan_weights_are_named_as_the_cause(tmp_path):
    import anndata as ad

    model = small_model()
    with torch.no_grad():
        next(iter(model.module.parameters())).fill_(float("nan"))
    adata = ad.AnnData(np.random.default_rng(0).poisson(2, (4, len(GENES))).astype(np.float32))
    adata.var_names = GENES
    with pytest.raises(FloatingPointError, match="weights hold NaN or infinite values") as error:
        sl.embed(adata, model, pooling="mean", progress=False)
    assert "try dtype='float32'" not in str(error.value)
    assert "X_sclong" not in adata.obsm
