"""Our safetensors format, the official-checkpoint converter and the restricted unpickler."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import sclong_tl as sl
from _reference_helpers import REFERENCE_A, REFERENCE_RELEASE, convert_reference, reference_inputs
from sclong_tl import ScLongModel
from sclong_tl._safe_pickle import UnsafePickleError, load_restricted
from sclong_tl.cli import main as cli_main

PTH, PKL, GENES = (REFERENCE_RELEASE / name for name in ("model.pth", "model.pkl", "genes.txt"))


def test_convert_twice_is_byte_identical(tmp_path):
    first = convert_reference(tmp_path / "a.safetensors").read_bytes()
    second = convert_reference(tmp_path / "b.safetensors").read_bytes()
    assert first == second


def test_cli_convert(tmp_path, capsys):
    out = tmp_path / "cli.safetensors"
    status = cli_main(
        ["convert", "--checkpoint", str(PTH), "--hyperparams", str(PKL), "--genes", str(GENES), "--out", str(out)]
    )
    assert status == 0 and out.is_file()
    model = sl.load_model(out, device="cpu")
    assert model.genes[:2] == (REFERENCE_RELEASE / "genes.txt").read_text().split()[:2]
    assert model.module.pos_emb.emb.weight.dtype == torch.float64  # the release's float64 table is preserved
    assert model.provenance["checkpoint_file"] == "model.pth"


def test_save_load_round_trip_is_exact(tmp_path):
    model = sl.load_model(convert_reference(tmp_path / "ref.safetensors"), device="cpu")
    resaved = model.save(tmp_path / "resaved.safetensors")
    again = sl.load_model(resaved, device="cpu")
    for key, value in model.module.state_dict().items():
        assert torch.equal(value, again.module.state_dict()[key]), key
    np.testing.assert_array_equal(model.edge_index, again.edge_index)
    x = reference_inputs("inputs")[:2]
    np.testing.assert_array_equal(model.encode(x)[0], again.encode(x)[0])
    assert again.sha256 and len(again.sha256) == 64


def test_random_model_round_trip(tmp_path):
    genes = [f"ENSG{i:011d}" for i in range(30)]
    edges = np.array([[0, 1, 2, 2], [0, 0, 1, 2]])
    model = ScLongModel.from_config("tiny", genes=genes, graph=(edges, np.ones(4, dtype=np.float32)), seed=3, top_k=8)
    path = model.save(tmp_path / "random.safetensors")
    again = sl.load_model(path)
    values = np.random.default_rng(0).random((3, 30)).astype(np.float32)
    np.testing.assert_array_equal(model.encode(values)[1], again.encode(values)[1])
    same_seed = ScLongModel.from_config(
        "tiny", genes=genes, graph=(edges, np.ones(4, dtype=np.float32)), seed=3, top_k=8
    )
    np.testing.assert_array_equal(model.encode(values)[1], same_seed.encode(values)[1])


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused(tmp_path):
    payload = pickle.dumps({"max_seq_len": 3, "evil": _Evil()})
    with pytest.raises(UnsafePickleError, match=r"posix\.system|os\.system|refusing"):
        load_restricted(payload)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(payload)
    with pytest.raises(UnsafePickleError):
        sl.weights.convert_official(PTH, evil, GENES, tmp_path / "x.st")
    assert not (tmp_path / "x.st").exists()


def test_restricted_unpickler_reads_release_hyperparameters():
    params = load_restricted(REFERENCE_RELEASE / "model.pkl")
    assert params["device"] == "cuda" and params["max_seq_len"] == 2001
    np.testing.assert_array_equal(params["G_go"].numpy(), np.load(REFERENCE_A / "go_edge_index.npy"))


def test_non_checkpoint_files_are_refused(tmp_path):
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ValueError, match="not an sclong_tl checkpoint"):
        sl.load_model(plain)
    with pytest.raises(FileNotFoundError):
        sl.load_model(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="scLong state dict"):
        torch.save({"model_state_dict": {"a": torch.zeros(1)}}, tmp_path / "bad.pth")
        sl.weights.convert_official(tmp_path / "bad.pth", PKL, GENES, tmp_path / "out.safetensors")


def test_half_precision_storage(tmp_path):
    genes = [f"ENSG{i:011d}" for i in range(30)]
    edges = np.array([[0, 1, 2, 2], [0, 0, 1, 2]])
    model = ScLongModel.from_config("tiny", genes=genes, graph=(edges, np.ones(4, dtype=np.float32)), seed=1, top_k=8)
    full = model.save(tmp_path / "full.safetensors")
    half = model.save(tmp_path / "half.safetensors", storage_dtype="float16")
    assert half.stat().st_size < 0.6 * full.stat().st_size
    again = sl.load_model(half)
    assert again.module.token_emb.fc1.weight.dtype == torch.float32
    reference = model.module.state_dict()
    for key, value in again.module.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, reference[key].to(torch.float16).float())
    with pytest.raises(ValueError, match="storage_dtype"):
        model.save(tmp_path / "x.safetensors", storage_dtype="int8")


class _Allocates:
    """A pickle of a few dozen bytes that asks an admitted callable to allocate a lot (issue 18.5)."""

    def __init__(self, constructor, argument):
        self.constructor, self.argument = constructor, argument

    def __reduce__(self):
        return (self.constructor, (self.argument,))


@pytest.mark.parametrize(
    ("constructor", "argument"),
    [(bytearray, 300_000_000), (bytes, 300_000_000), (list, range(10**8)), (tuple, range(10**8)), (set, range(10**8))],
)
def test_restricted_unpickler_refuses_amplification(constructor, argument):
    payload = pickle.dumps(_Allocates(constructor, argument), protocol=4)
    assert len(payload) < 80
    with pytest.raises(UnsafePickleError, match="refusing"):
        load_restricted(payload)


def test_restricted_unpickler_size_limit_and_plain_data():
    import collections

    data = {
        "a": [1, 2.5],
        "s": {1, 2},
        "f": frozenset({3}),
        "t": torch.arange(4.0),
        "n": np.arange(3),
        "o": collections.OrderedDict(x=1),
        "b": b"xy",
        "c": 1 + 2j,
        "r": range(3),
    }
    for protocol in (3, 4):
        back = load_restricted(pickle.dumps(data, protocol=protocol))
        assert back["s"] == {1, 2} and back["b"] == b"xy" and torch.equal(back["t"], data["t"])
    with pytest.raises(UnsafePickleError, match="limit"):
        load_restricted(pickle.dumps(list(range(100))), max_bytes=50)


def test_cli_errors_are_one_line(tmp_path, capsys):
    """Issue 18.6: refused pickles, missing files and a directory as --out printed full tracebacks."""
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"evil": _Evil()}))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    cases = {
        "refusing": ["--checkpoint", str(PTH), "--hyperparams", str(evil), "--genes", str(GENES)],
        "missing.pth": [
            "--checkpoint",
            str(tmp_path / "missing.pth"),
            "--hyperparams",
            str(PKL),
            "--genes",
            str(GENES),
        ],
        "junk": ["--checkpoint", str(junk), "--hyperparams", str(PKL), "--genes", str(GENES)],
    }
    for expected, arguments in cases.items():
        status = cli_main(["convert", *arguments, "--out", str(tmp_path / "o.safetensors")])
        err = capsys.readouterr().err
        assert status == 1, expected
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert expected in err
    status = cli_main(
        ["convert", "--checkpoint", str(PTH), "--hyperparams", str(PKL), "--genes", str(GENES), "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert status == 1 and "is a directory" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(UnsafePickleError):
        cli_main(["--debug", "convert", *cases["refusing"], "--out", str(tmp_path / "o.safetensors")])
