"""Shared test configuration: paths to the committed data and to ../shared when it is present."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
REFERENCE_A = DATA / "reference_A"
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE_A


@pytest.fixture(scope="session")
def reference_release() -> Path:
    """The official-format release part of fixture A (model.pth, model.pkl, genes.txt, inputs, ref/): package data."""
    from sclong_tl.demo import REFERENCE_RELEASE

    return REFERENCE_RELEASE


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared is not present next to the repository ({SHARED}); shared-data test skipped")
    return SHARED


@pytest.fixture(scope="session")
def reference_genes(reference_release) -> list[str]:
    """Vocabulary of fixture A (2,000 Ensembl IDs in token order)."""
    return (reference_release / "genes.txt").read_text().split()


@pytest.fixture(scope="session")
def reference_counts():
    """Raw CellBench counts of fixture A aligned to its vocabulary, float64 (8 cells)."""
    import numpy as np

    return np.load(REFERENCE_A / "counts.npy").astype(np.float64)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Tests never reach the internet: a socket may only connect to 127.0.0.1 / ::1 (see tests/_http_server.py)."""
    import socket

    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def _check(sock: socket.socket, address) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if host not in ("127.0.0.1", "::1", "localhost"):
                raise OSError(f"tests may only connect to the loopback server, not {address!r}")

    def guarded_connect(sock, address):
        _check(sock, address)
        return connect(sock, address)

    def guarded_connect_ex(sock, address):
        _check(sock, address)
        return connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
