"""Drug-combination benchmark (paper Fig. 4c): synergy of drug pairs on 31 cell lines (DeepDDS's O'Neil data).

Data: :func:`sclong_tl.datasets.deepdds_oneil` (12,415 examples, 36 drugs, 31 lines, 954-gene TPM; the models read
``layers["log1p_norm"]``, TPM scaled to 1e4 per line and log1p-transformed). The paper's independent AstraZeneca
test set cannot be used: its cell features are not public (not in the DeepDDS repository snapshot).

Splits: DeepDDS's own leave-out splits, re-encoded in ``--splits`` (``splits.csv`` of the project's data folder,
one column per split; see its README): ``leave_cell`` (one tissue's lines held out), ``leave_drug`` (7-8 drugs held
out), ``leave_comb`` (drug pairs held out). To fit the time budget, seed ``s`` uses fold ``s`` of each kind (tissue
``s`` in alphabetical order, drug fold ``d{s}{s}``, combination fold ``s``), so the spread covers folds and
initialisations together. 10% of the training examples are drawn for early stopping (patience 5).

Methods (same head and settings, only the cell-line vector differs): scLong (the pretrained model), scLong random
init (a twin of the same shape), raw expression (DeepDDS's baseline: the head on the log-normalised expression),
and a random forest on [expression, one-hot drug A + drug B] (200 trees).

Run: ``python benchmarks/drug_combination.py --splits PATH/splits.csv [--model PATH] [--seeds 3]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def fold_masks(splits: pd.DataFrame, kind: str, seed: int, examples: pd.DataFrame, tissue: pd.Series) -> np.ndarray:
    """Test mask of fold ``seed`` of ``kind`` over the rows of ``examples`` (row-aligned with ``splits``)."""
    if kind == "leave_cell":
        tissues = sorted(tissue.unique())
        return (examples["cell_line"].map(tissue) == tissues[seed % len(tissues)]).to_numpy()
    if kind == "leave_drug":
        return (splits[f"leave_drug_d{seed % 5}{seed % 5}"] == "test").to_numpy()
    return (splits["leave_comb_fold"] == seed % 5).to_numpy()


def forest_scores(cells, train: pd.DataFrame, test: pd.DataFrame, drugs: list[str], seed: int) -> dict[str, float]:
    from sklearn.ensemble import RandomForestClassifier

    from sclong_tl.metrics import combination_scores

    expression = pd.DataFrame(cells.layers["log1p_norm"], index=cells.obs_names)

    def design(frame: pd.DataFrame) -> np.ndarray:
        onehot = sum(
            (frame[key].to_numpy()[:, None] == np.asarray(drugs)[None, :]).astype(float) for key in ("drug1", "drug2")
        )
        return np.hstack([expression.loc[frame["cell_line"]].to_numpy(), onehot])

    forest = RandomForestClassifier(n_estimators=200, n_jobs=1, random_state=seed).fit(design(train), train["label"])
    return combination_scores(test["label"], forest.predict_proba(design(test))[:, 1])


def main() -> None:
    from drug_common import add_common_arguments, head_scores, report, scLong_models, setup

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", required=True, help="splits.csv (row-aligned with DeepDDS's new_labels_0_10.csv)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    add_common_arguments(parser)
    args = parser.parse_args()

    import sclong_tl as sl

    setup(args.threads)
    started = time.time()
    data = sl.datasets.deepdds_oneil(progress=False)
    splits = pd.read_csv(args.splits)
    if len(splits) != len(data.examples):
        raise ValueError("splits.csv is not row-aligned with the DeepDDS examples")
    pretrained, twin = scLong_models(args.model)
    arms = {f"scLong ({pretrained.name})": pretrained, "scLong, random init": twin, "raw expression": None}
    prepared = {
        name: sl.tl.DrugCombinationModel(
            data.cells, scfm, layer="log1p_norm", drugs=data.drugs, device="cpu", progress=False
        ).features
        for name, scfm in arms.items()
    }
    print(
        f"{len(data.examples)} examples, {data.cells.n_obs} lines, {len(data.drugs)} drugs; scLong {pretrained!r}; "
        f"vectors ready after {time.time() - started:.0f} s"
    )
    fit = {"max_epochs": args.epochs, "batch_size": 256, "lr": args.lr, "patience": 5}
    tissue = data.cells.obs["tissue"]
    rows = []
    for kind in ("leave_cell", "leave_drug", "leave_comb"):
        for seed in range(args.seeds):
            test_mask = fold_masks(splits, kind, seed, data.examples, tissue)
            train, test = data.examples[~test_mask], data.examples[test_mask]
            for name in arms:
                rows.append(
                    {
                        "split": kind,
                        "seed": seed,
                        "method": name,
                        **head_scores(sl.tl.DrugCombinationModel, prepared[name], data.drugs, seed, fit, train, test),
                    }
                )
            rows.append(
                {
                    "split": kind,
                    "seed": seed,
                    "method": "random forest",
                    **forest_scores(data.cells, train, test, sorted(data.drugs), seed),
                }
            )
            print(f"  {kind} fold/seed {seed}: {len(test)} test examples ({time.time() - started:.0f} s)")
    report(
        rows,
        args.out,
        {
            "auroc": ("auroc", "mean"),
            "auroc_sd": ("auroc", "std"),
            "auprc": ("auprc", "mean"),
            "auprc_sd": ("auprc", "std"),
        },
    )
    print(f"\n{args.seeds} seeds (= folds); total {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
