"""The README's main job: ``python -m sclong_tl.demo``.

1. Embeds the real CellBench cells bundled with the package (:func:`sclong_tl.datasets.cellbench`: three lung
   cancer cell lines measured by two protocols) with the bundled default model (:func:`sclong_tl.embed`), and
   prints how well the embedding separates cell lines and mixes protocols (silhouette widths).
2. Converts the official-format reference release shipped as package data (``sclong_tl/demo_data/reference_A``:
   a tiny scLong checkpoint made by the reference implementation, with 8 real CellBench cells), encodes its
   cells, and checks the result against the outputs the reference implementation computed for the same cells.

Everything it reads is inside the installed package, so it runs from a wheel, outside the repository.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: the official-format reference release shipped with the package
REFERENCE_RELEASE = Path(__file__).resolve().parent / "demo_data" / "reference_A"
TOLERANCE = 1e-4


def run_reference_demo(fixture: Path) -> float:
    """Convert, encode and compare; return the largest absolute deviation from the reference outputs."""
    import sclong_tl as sl

    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        path = sl.weights.convert_official(
            fixture / "model.pth",
            fixture / "model.pkl",
            fixture / "genes.txt",
            Path(workdir) / "reference.safetensors",
            name="reference-A",
        )
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
            print(
                f"{name:14s} {len(values)} cells in {elapsed:.2f} s: representations {representations.shape}, "
                f"max |ours - reference| = {deviation:.2e}"
            )
    return worst


def run_embedding_demo(model: str = "default") -> None:
    """Embed the bundled CellBench cells and print silhouette widths by cell line and by protocol."""
    from sklearn.metrics import silhouette_score

    import sclong_tl as sl

    adata = sl.datasets.cellbench()
    start = time.perf_counter()
    loaded = sl.load_model(model)
    print(f"loaded {loaded} in {time.perf_counter() - start:.1f} s")
    for pooling in ("paper", "mean"):
        start = time.perf_counter()
        sl.embed(adata, loaded, pooling=pooling, key_added=f"X_sclong_{pooling}", progress=False)
        elapsed = time.perf_counter() - start
        embedding = adata.obsm[f"X_sclong_{pooling}"]
        by_line = silhouette_score(embedding, adata.obs["cell_line"])
        by_protocol = silhouette_score(embedding, adata.obs["batch"])
        print(
            f"embed(pooling={pooling!r}): {adata.n_obs} CellBench cells -> {embedding.shape[1]} dims in "
            f"{elapsed:.1f} s ({adata.n_obs / elapsed:.1f} cells/s); silhouette by cell line {by_line:+.3f} "
            f"(higher = lines separate), by protocol {by_protocol:+.3f} (near 0 = protocols mix)"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit status 0 when the outputs match the reference within 1e-4."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fixture",
        type=Path,
        default=REFERENCE_RELEASE,
        help="folder with the official-format reference release (default: %(default)s)",
    )
    parser.add_argument("--model", default="default", help="model for the embedding part (default: %(default)s)")
    args = parser.parse_args(argv)
    run_embedding_demo(args.model)
    if not (args.fixture / "model.pth").is_file():
        print(f"reference fixture not found at {args.fixture}; pass --fixture", file=sys.stderr)
        return 2
    worst = run_reference_demo(args.fixture)
    verdict = "matches" if worst <= TOLERANCE else "DOES NOT match"
    print(f"scLong {verdict} the reference implementation (max abs deviation {worst:.2e}, tolerance {TOLERANCE})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
