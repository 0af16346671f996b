"""Files the package writes are readable as the umask says, and no file handle is left open (issue 18.10)."""

from __future__ import annotations

import gc
import hashlib
import os
import warnings
from pathlib import Path

import _http_server
from sclong_tl import _download
from sclong_tl._io import atomic_write, default_file_mode

file_server = _http_server.file_server  # the fixture
PAYLOAD = (Path(__file__).resolve().parent / "data" / "reference_A" / "go_edge_weight.npy").read_bytes()


def test_atomic_write_gives_the_default_mode(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_write(target) as temporary:
        descriptor = os.open(temporary, os.O_CREAT | os.O_WRONLY, 0o600)  # as mkstemp-based writers do
        os.write(descriptor, b"data")
        os.close(descriptor)
    assert target.stat().st_mode & 0o777 == default_file_mode()


def test_downloads_get_the_default_mode(file_server, tmp_path, monkeypatch):
    monkeypatch.delenv(_download.ENV_MIRROR, raising=False)
    monkeypatch.delenv(_download.ENV_OFFLINE, raising=False)
    url = file_server.add("/f/x.npy", PAYLOAD)
    path = _download.retrieve(
        url,
        file_name="x.npy",
        known_hash=hashlib.sha256(PAYLOAD).hexdigest(),
        subdir="t",
        progress=False,
        cache=tmp_path,
    )
    assert path.stat().st_mode & 0o777 == default_file_mode()


def test_gene_tables_close_their_files():
    from sclong_tl.genes._data import read_lines, read_rows

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_lines("common_genes.txt.gz")
        read_rows("vocabulary.tsv.gz")
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
