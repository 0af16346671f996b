"""What the two drug benchmarks share: thread / logging setup and the scLong models compared."""

from __future__ import annotations

import warnings


def setup(threads: int) -> None:
    """Torch threads, quiet package logging, and no coverage warning (a 700-1,000-gene panel is what the task has)."""
    import torch

    import sclong_tl as sl

    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore", message="only .* commonly expressed genes")
    sl.settings.verbosity = 0


def scLong_models(model: str):
    """The pretrained scLong model and its random-init twin (same configuration, genes and GO graph)."""
    import sclong_tl as sl

    pretrained = sl.load_model(model, device="cpu")
    twin = sl.ScLongModel.from_config(
        pretrained.config,
        genes=pretrained.genes,
        seed=1,
        name="random-init twin",
        graph=(pretrained.edge_index, pretrained.edge_weight),
    )
    return pretrained, twin


def add_common_arguments(parser) -> None:
    """``--model``, ``--seeds``, ``--threads``, ``--out``."""
    parser.add_argument("--model", default="default")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="write the per-run rows to this CSV")


def head_scores(model_class, features, drugs: dict, seed: int, fit: dict, train, test) -> dict:
    """Fit one head on prepared cell-line vectors and score it on ``test`` (plus epochs run and seconds)."""
    import time

    tick = time.time()
    model = model_class(None, None, drugs=drugs, random_state=seed, device="cpu", features=features, progress=False)
    scores = model.fit(train, **fit).score(test)
    return {**scores, "epochs": len(model.history), "seconds": time.time() - tick}


def report(rows: list[dict], out: str | None, metrics: dict):
    """Per-run rows (written to ``out``) and the markdown table of means / SDs per split and method."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    if out:
        frame.to_csv(out, index=False)
    summary = frame.groupby(["split", "method"], sort=False).agg(**metrics, n_test=("n", "mean"))
    print()
    print(summary.round(3).to_markdown())
    return frame
