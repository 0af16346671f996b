"""The README's main job: ``python -m sclong_tl.demo``.

Converts the official-format reference release bundled with the repository (``tests/data/reference_A``: a tiny
scLong checkpoint made by the reference implementation, with 8 real CellBench cells), encodes its cells with
:meth:`sclong_tl.ScLongModel.encode`, and checks the result against the outputs the reference implementation
computed for the same cells.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_REPOSITORY_FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "data" / "reference_A"
TOLERANCE = 1e-4


def run_reference_demo(fixture: Path) -> float:
    """Convert, encode and compare; return the largest absolute deviation from the reference outputs."""
    import sclong_tl as sl

    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        path = sl.weights.convert_official(fixture / "model.pth", fixture / "model.pkl", fixture / "genes.txt",
                                           Path(workdir) / "reference.safetensors", name="reference-A")
        model = sl.load_model(path, device="cpu")
        print(f"converted the official-format release in {time.perf_counter() - start:.1f} s -> {model}")
        worst = 0.0
        for name in ("inputs", "inputs_masked"):
            values = np.load(fixture / f"{name}.npy")[:, :-1]
            start = time.perf_counter()
            representations, reconstruction = model.encode(values, progress=True)
            elapsed = time.perf_counter() - start
            reference = fixture / "ref" / "single" / name
            deviation = max(
                float(np.abs(representations - np.load(reference / "merged_decodings.npy")[:, :-1]).max()),
                float(np.abs(reconstruction - np.load(reference / "exp_out.npy")[:, :-1]).max()),
            )
            worst = max(worst, deviation)
            print(f"{name:14s} {len(values)} cells in {elapsed:.2f} s: representations {representations.shape}, "
                  f"max |ours - reference| = {deviation:.2e}")
    return worst


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit status 0 when the outputs match the reference within 1e-4."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, default=_REPOSITORY_FIXTURE,
                        help="folder with the official-format reference release (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (args.fixture / "model.pth").is_file():
        print(f"reference fixture not found at {args.fixture}; pass --fixture", file=sys.stderr)
        return 2
    worst = run_reference_demo(args.fixture)
    verdict = "matches" if worst <= TOLERANCE else "DOES NOT match"
    print(f"scLong {verdict} the reference implementation (max abs deviation {worst:.2e}, tolerance {TOLERANCE})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
