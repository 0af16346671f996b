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
