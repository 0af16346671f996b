"""Weights registry: pooch round trips against a server on 127.0.0.1 (never the internet), mirror, offline use."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import _http_server
from _http_server import FileServer
from sclong_tl import _download
from sclong_tl.weights import _registry

# a real data file of the repository stands in for a weights file (the registry does not parse it)
PAYLOAD = (Path(__file__).resolve().parent / "data" / "reference_A" / "go_edge_weight.npy").read_bytes()
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()

file_server = _http_server.file_server  # the fixture


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A fresh cache, no mirror / offline switch from the environment, and registry entries removed afterwards."""
    cache = _http_server.isolate_downloads(tmp_path, monkeypatch)
    before = dict(_registry._registry)
    yield cache
    _registry._registry.clear()
    _registry._registry.update(before)


def register_served(
    server: FileServer, name: str = "test-model", data: bytes = PAYLOAD, sha256: str = PAYLOAD_SHA
) -> str:
    url = server.add(f"/files/{name}.safetensors", data)
    _registry.register(name, url, sha256, description="test")
    return f"/files/{name}.safetensors"


def test_fetch_downloads_once_then_uses_cache(file_server, isolated):
    path_on_server = register_served(file_server)
    first = _registry.fetch("test-model", progress=False)
    assert first == _registry.cached_path("test-model")
    assert first.parent.parent == isolated / "weights"  # keyed by the URL
    assert first.read_bytes() == PAYLOAD
    assert file_server.requests[path_on_server] == 1
    second = _registry.fetch("test-model", progress=False)
    assert second == first
    assert file_server.requests[path_on_server] == 1  # no second request


def test_cache_dir_argument_overrides_environment(file_server, tmp_path):
    register_served(file_server)
    path = _registry.fetch("test-model", progress=False, cache_dir=tmp_path / "elsewhere")
    assert path == _registry.cached_path("test-model", cache_dir=tmp_path / "elsewhere")
    assert path.is_relative_to(tmp_path / "elsewhere" / "weights")


def test_wrong_hash_is_refused_and_not_cached(file_server, isolated):
    path_on_server = register_served(file_server, sha256="0" * 64)
    with pytest.raises(ValueError, match="checksum"):
        _registry.fetch("test-model", progress=False, retries=1)
    assert file_server.requests[path_on_server] == 2  # the hash mismatch was retried once
    weights_dir = isolated / "weights"
    assert not _registry.cached_path("test-model").exists()
    assert not any(path.is_file() for path in weights_dir.rglob("*"))  # no temporary leftovers either


def test_truncated_file_is_refused(file_server, isolated):
    register_served(file_server, data=PAYLOAD[: len(PAYLOAD) // 2])  # registered with the full file's hash
    with pytest.raises(ValueError, match="checksum"):
        _registry.fetch("test-model", progress=False, retries=0)
    assert not _registry.cached_path("test-model").exists()


def test_corrupted_cache_is_downloaded_again(file_server, isolated):
    path_on_server = register_served(file_server)
    cached = _registry.fetch("test-model", progress=False)
    cached.write_bytes(b"corrupted")
    assert _registry.fetch("test-model", progress=False).read_bytes() == PAYLOAD
    assert file_server.requests[path_on_server] == 2


def test_retries_after_server_error(file_server):
    path_on_server = register_served(file_server)
    file_server.fail_next(path_on_server, 1)
    path = _registry.fetch("test-model", progress=False, retries=1)
    assert path.read_bytes() == PAYLOAD
    assert file_server.requests[path_on_server] == 2


def test_server_error_without_retries_is_a_clear_runtime_error(file_server, isolated):
    path_on_server = register_served(file_server)
    file_server.fail_next(path_on_server, 1)
    with pytest.raises(RuntimeError, match="could not download"):
        _registry.fetch("test-model", progress=False, retries=0)
    assert not _registry.cached_path("test-model").exists()


def test_offline_once_cached(file_server):
    register_served(file_server)
    path = _registry.fetch("test-model", progress=False)
    file_server.stop()
    assert _registry.fetch("test-model", progress=False, retries=0) == path
    assert path.read_bytes() == PAYLOAD


def test_server_down_and_not_cached_fails(file_server):
    register_served(file_server)
    file_server.stop()
    with pytest.raises(RuntimeError, match="could not download"):
        _registry.fetch("test-model", progress=False, retries=0)


def test_offline_switch_forbids_downloads(file_server, monkeypatch):
    path_on_server = register_served(file_server)
    monkeypatch.setenv(_download.ENV_OFFLINE, "1")
    with pytest.raises(RuntimeError, match="SCLONG_TL_OFFLINE"):
        _registry.fetch("test-model", progress=False)
    assert file_server.requests[path_on_server] == 0
    monkeypatch.delenv(_download.ENV_OFFLINE)
    path = _registry.fetch("test-model", progress=False)
    monkeypatch.setenv(_download.ENV_OFFLINE, "1")
    assert _registry.fetch("test-model", progress=False) == path


def test_mirror_replaces_the_base_url(file_server, monkeypatch):
    original = FileServer()  # the registered location: must never be asked
    try:
        url = original.add("/release/v1/test-model.safetensors", PAYLOAD)
        _registry.register("test-model", url, PAYLOAD_SHA)
        file_server.add("/mirror/test-model.safetensors", PAYLOAD)
        monkeypatch.setenv(_download.ENV_MIRROR, file_server.url("/mirror/"))
        path = _registry.fetch("test-model", progress=False)
        assert path.read_bytes() == PAYLOAD
        assert file_server.requests["/mirror/test-model.safetensors"] == 1
        assert sum(original.requests.values()) == 0
    finally:
        original.stop()


def test_mirror_can_be_a_local_directory(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "test-model.safetensors").write_bytes(PAYLOAD)
    _registry.register("test-model", "https://example.invalid/test-model.safetensors", PAYLOAD_SHA)
    monkeypatch.setenv(_download.ENV_MIRROR, str(mirror))
    path = _registry.fetch("test-model", progress=False, retries=0)
    assert path.read_bytes() == PAYLOAD
    assert path.parent.parent.name == "weights" and path != mirror / "test-model.safetensors"


def test_mirror_hash_is_still_checked(tmp_path, monkeypatch, isolated):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "test-model.safetensors").write_bytes(b"not the model")
    _registry.register("test-model", "https://example.invalid/test-model.safetensors", PAYLOAD_SHA)
    monkeypatch.setenv(_download.ENV_MIRROR, str(mirror))
    with pytest.raises(ValueError, match="checksum"):
        _registry.fetch("test-model", progress=False, retries=0)
    assert not _registry.cached_path("test-model").exists()


def test_register_local_file(tmp_path):
    local = tmp_path / "mine.safetensors"
    local.write_bytes(PAYLOAD)
    _registry.register("mine", local, PAYLOAD_SHA)
    assert _registry.fetch("mine") == local.resolve()
    local.write_bytes(b"changed")
    with pytest.raises(ValueError, match="sha256"):
        _registry.fetch("mine")


def test_register_validates_input(file_server):
    with pytest.raises(ValueError, match="sha256 is required"):
        _registry.register("x", "https://example.invalid/x.safetensors", None)
    with pytest.raises(ValueError, match="64 hexadecimal"):
        _registry.register("x", "https://example.invalid/x.safetensors", "abc")
    with pytest.raises(ValueError, match="already registered"):
        _registry.register("sclong-1b", "https://example.invalid/x.safetensors", PAYLOAD_SHA)
    with pytest.raises(ValueError, match="no registered weights named 'nope'"):
        _registry.fetch("nope")


def test_available_lists_entries():
    frame = _registry.available()
    assert {"sclong-default", "sclong-1b"} <= set(frame.index)
    assert {"description", "file_name", "size", "sha256", "licence", "source", "fetchable"} <= set(frame.columns)
    assert frame.loc["sclong-1b", "source"] == "convert"
    assert not frame.loc["sclong-1b", "fetchable"]
    for name, row in frame.iterrows():  # nothing downloadable without a hash
        if row["source"] == "download":
            assert isinstance(row["sha256"], str) and len(row["sha256"]) == 64, name


def test_official_model_explains_the_conversion(isolated):
    with pytest.raises(_registry.WeightsUnavailableError) as info:
        _registry.fetch("sclong-1b")
    message = str(info.value)
    for needle in (
        *_registry.OFFICIAL_RELEASE_FILES,
        "sclong-tl convert --checkpoint",
        "--hyperparams",
        "--genes selected_genes_27k.txt",
        "--out sclong-1b.safetensors",
        'sl.load_model("path/to/',
    ):
        assert needle in message
    assert str(isolated / "weights" / "sclong-1b.safetensors") in message


def test_official_model_found_once_converted_into_the_cache(isolated):
    converted = isolated / "weights" / "sclong-1b.safetensors"
    converted.parent.mkdir(parents=True)
    converted.write_bytes(PAYLOAD)
    assert _registry.fetch("sclong-1b") == converted


def test_default_model_placeholder(monkeypatch):
    entry = _registry._registry["sclong-default"]
    if entry.fetchable:  # the trained default model has landed: it must match its recorded hash
        path = _registry.fetch("sclong-default")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
        return
    with pytest.raises(_registry.WeightsUnavailableError, match="still being pretrained"):
        _registry.fetch("sclong-default")
    frame = _registry.available()
    assert not frame.loc["sclong-default", "fetchable"]
    assert "pretrained" in frame.loc["sclong-default", "reason"]


def test_load_model_by_registered_name(file_server, monkeypatch):
    """End to end: a real (tiny, random) checkpoint served over HTTP and loaded by name."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("torch")
    from sclong_tl import ScLongModel, load_model

    genes = [f"ENSG{index:011d}" for index in range(12)]
    edge_index = np.array([np.arange(12), np.arange(12)], dtype=np.int64)
    model = ScLongModel.from_config("tiny", genes=genes, graph=(edge_index, np.ones(12, dtype=np.float32)), top_k=4)
    local = Path(os.environ[_download.ENV_CACHE]).parent / "tiny.safetensors"
    model.save(local)
    data = local.read_bytes()
    register_served(file_server, name="tiny-served", data=data, sha256=hashlib.sha256(data).hexdigest())
    loaded = load_model("tiny-served", device="cpu")
    assert loaded.genes == genes
    assert loaded.sha256 == hashlib.sha256(data).hexdigest()


def test_same_file_name_under_two_urls_does_not_collide(file_server, isolated, monkeypatch):
    """Issue 18.5: entries were keyed by file name only, so these two evicted each other."""
    other = PAYLOAD[::-1]
    url_a = file_server.add("/a/model.safetensors", PAYLOAD)
    url_b = file_server.add("/b/model.safetensors", other)
    _registry.register("model-a", url_a, PAYLOAD_SHA)
    _registry.register("model-b", url_b, hashlib.sha256(other).hexdigest())
    path_a = _registry.fetch("model-a", progress=False)
    path_b = _registry.fetch("model-b", progress=False)
    assert path_a != path_b and path_a.name == path_b.name == "model.safetensors"
    monkeypatch.setenv(_download.ENV_OFFLINE, "1")  # both stay usable offline
    assert _registry.fetch("model-a", progress=False).read_bytes() == PAYLOAD
    assert _registry.fetch("model-b", progress=False).read_bytes() == other
    assert file_server.requests["/a/model.safetensors"] == file_server.requests["/b/model.safetensors"] == 1


def test_file_cached_under_the_old_layout_is_still_used(file_server, isolated, monkeypatch):
    register_served(file_server)
    legacy = isolated / "weights" / "test-model.safetensors"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(PAYLOAD)
    monkeypatch.setenv(_download.ENV_OFFLINE, "1")
    assert _registry.fetch("test-model", progress=False) == legacy


@pytest.mark.parametrize(
    "file_name", ["../../x.safetensors", "/tmp/x.safetensors", "a/b.safetensors", "..", "", "a\\b.safetensors"]
)
def test_file_names_escaping_the_cache_are_refused(file_server, isolated, file_name):
    url = file_server.add("/files/x.safetensors", PAYLOAD)
    with pytest.raises(ValueError, match="plain file name"):
        _registry.register("escape", url, PAYLOAD_SHA, file_name=file_name)
    assert "escape" not in _registry.available().index
