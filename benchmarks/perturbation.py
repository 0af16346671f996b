"""Seen 0/1 perturbation benchmark on the REAL Papalexi 2021 CRISPR knockout screen (THP-1, 25 targets).

Non-targeting cells are the control ``"ctrl"``; a knockout of GENE is ``"GENE+ctrl"``. For each seeded split,
whole target genes are held out (GEARS simulation split, 75% of targets trained on), the head is trained on the
rest and predicts the held-out targets (Seen 0/1). 20% of the cells of every training target are also held out
to score seen targets. Scores: Pearson and MSE of predicted vs observed change against the control mean, on each
condition's top-20 DE genes (t-test vs control, scanpy's ranking), averaged over conditions.

Methods: the scLong head (GEARS-style, on ``--model``), the same head on a randomly initialised scLong of the same
configuration (does pretraining help?), No-Change (control mean), and the mean change of the training
perturbations. Without ``--model`` the package's default pretrained model (``sclong-default``) is used.

Run: ``python benchmarks/perturbation.py [--model PATH] [--splits 3] [--threads 1]`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

DATA = (
    Path(__file__).resolve().parents[2]
    / "shared/data/perturb_papalexi2021"
    / "papalexi2021_thp1_eccite_20729cells_299genes_counts.h5ad"
)


def load_screen():
    import anndata as ad

    adata = ad.read_h5ad(DATA)
    target = adata.obs["perturbation"].astype(str)
    adata.obs["condition"] = np.where(target == "non-targeting", "ctrl", target + "+ctrl")
    return adata


def log_normalized(adata):
    from sclong_tl.pp import log_normalized

    return log_normalized(adata.X, is_counts=True)


def scLong_models(model_path: str | None):
    """(name of the head's scLong, model) pairs: the given (or default) pretrained model and its random-init twin."""
    import sclong_tl as sl

    pretrained = sl.load_model(model_path or "default", device="cpu")
    twin = sl.ScLongModel.from_config(
        pretrained.config,
        genes=pretrained.genes,
        seed=1,
        name="random-init twin",
        graph=(pretrained.edge_index, pretrained.edge_weight),
    )
    return [
        (f"scLong head ({pretrained.name})", pretrained),
        ("scLong head, random-init scLong", twin),
    ], f"{pretrained.name} ({model_path or 'bundled default'}) and a random-init twin of the same shape"


def targets_outside_graph(adata, scfm) -> list[str]:
    """Targets that are not GO-graph nodes of ``scfm`` (the head cannot represent them)."""
    from sclong_tl.genes import go_graph_members
    from sclong_tl.pp import vocabulary_positions

    targets = sorted({c.split("+")[0] for c in adata.obs["condition"] if c != "ctrl"})
    positions = vocabulary_positions(targets, scfm.genes)
    member = go_graph_members(scfm.edge_index, len(scfm.genes))
    return [t for t, p in zip(targets, positions, strict=True) if p < 0 or not member[p]]


def prepared_screen(scfm):
    """The screen without targets outside ``scfm``'s GO graph: AnnData, log-normalised expression, conditions,
    control mean, each condition's top-20 DE genes and the excluded targets."""
    from sclong_tl.metrics import top_de_genes

    adata = load_screen()
    expression = log_normalized(adata)
    labels = adata.obs["condition"].to_numpy()
    control_mean = pd.Series(expression[labels == "ctrl"].mean(axis=0), index=adata.var_names)
    normalised = adata.copy()
    normalised.X = expression
    outside = targets_outside_graph(adata, scfm)
    if outside:
        keep = ~np.isin(labels, [f"{t}+ctrl" for t in outside])
        adata, expression, labels, normalised = adata[keep].copy(), expression[keep], labels[keep], normalised[keep]
    return adata, expression, labels, control_mean, top_de_genes(normalised, n_genes=20), outside


def score(predicted: pd.DataFrame, observed: pd.DataFrame, control: pd.Series, de: dict) -> tuple[float, float]:
    from sclong_tl.metrics import perturbation_scores

    table = perturbation_scores(
        predicted, observed.loc[predicted.index], control, de_genes={c: de[c] for c in predicted.index}
    )
    return float(table["pearson_delta_de"].mean()), float(table["mse_de"].mean())


def run_split(adata, expression, control_mean, de, models, seed, args):
    from sclong_tl.metrics import mean_change_prediction, no_change_prediction, simulation_split
    from sclong_tl.models import PerturbationModel

    labels = adata.obs["condition"].to_numpy()
    split = simulation_split(labels, train_gene_fraction=0.75, random_state=seed)
    test = split.categories["Seen 0/1"]
    rng = np.random.default_rng(seed)
    fit_rows, seen_rows = [np.flatnonzero(labels == "ctrl")], {}
    for condition in split.train:
        rows = rng.permutation(np.flatnonzero(labels == condition))
        n_held = max(2, int(0.2 * rows.size))
        seen_rows[condition] = np.sort(rows[:n_held])
        fit_rows.append(np.sort(rows[n_held:]))
    fit_rows = np.sort(np.concatenate(fit_rows))
    genes = list(adata.var_names)
    observed_test = pd.DataFrame([expression[labels == c].mean(axis=0) for c in test], index=test, columns=genes)
    observed_seen = pd.DataFrame(
        [expression[seen_rows[c]].mean(axis=0) for c in split.train], index=split.train, columns=genes
    )
    fit_labels = labels[fit_rows]
    training_means = pd.DataFrame(
        [expression[fit_rows[fit_labels == c]].mean(axis=0) for c in split.train], index=split.train, columns=genes
    )
    rows = {}
    for name, scfm in models:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            head = PerturbationModel(
                adata[fit_rows], scfm, n_control_cells=args.control_cells, random_state=seed, progress=False
            )
        head.fit(split.train, max_epochs=args.epochs, max_cells_per_condition=args.cells_per_condition, progress=False)
        rows[name] = (
            score(head.predict(test).to_df(), observed_test, control_mean, de),
            score(head.predict(split.train).to_df(), observed_seen, control_mean, de),
        )
    rows["No-Change"] = (
        score(no_change_prediction(control_mean, test), observed_test, control_mean, de),
        score(no_change_prediction(control_mean, split.train), observed_seen, control_mean, de),
    )
    rows["Mean change of training perturbations"] = (
        score(mean_change_prediction(control_mean, training_means, test), observed_test, control_mean, de),
        score(mean_change_prediction(control_mean, training_means, split.train), observed_seen, control_mean, de),
    )
    rows["Training cells' own mean (seen only)"] = (
        (float("nan"), float("nan")),
        score(training_means, observed_seen, control_mean, de),
    )
    return test, rows


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="scLong model file (default: the bundled default model)")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--control-cells", type=int, default=300)
    parser.add_argument("--cells-per-condition", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()
    models, note = scLong_models(args.model)
    adata, expression, labels, control_mean, de, outside = prepared_screen(models[0][1])
    if outside:
        note += f"; targets outside its GO graph excluded (GEARS filters these too): {', '.join(outside)}"
    print(
        "Papalexi 2021 THP-1 CRISPRko screen (REAL data): "
        f"{adata.n_obs:,} cells, {adata.n_vars} genes, {len(de)} targets, {(labels == 'ctrl').sum():,} controls"
    )
    print(f"scLong model: {note}")
    print(
        f"Seen 0/1: GEARS simulation split (75% of targets trained), {args.splits} seeded splits; top-20 DE genes "
        f"(t-test vs control); head: {args.epochs} epochs max, {args.cells_per_condition} cells/condition, "
        f"{args.control_cells} control cells"
    )
    results = []
    for seed in range(args.splits):
        test, rows = run_split(adata, expression, control_mean, de, models, seed, args)
        print(f"\nsplit {seed}: held-out targets {', '.join(c.split('+')[0] for c in test)}")
        print(f"  {'method':<45} {'unseen Pearson':>14} {'unseen MSE':>11} {'seen Pearson':>13} {'seen MSE':>9}")
        for name, ((p_unseen, m_unseen), (p_seen, m_seen)) in rows.items():
            print(f"  {name:<45} {p_unseen:>14.3f} {m_unseen:>11.4f} {p_seen:>13.3f} {m_seen:>9.4f}")
            results.append((name, p_unseen, m_unseen, p_seen, m_seen))
    table = pd.DataFrame(results, columns=["method", "p_unseen", "m_unseen", "p_seen", "m_seen"])
    mean = table.groupby("method", sort=False).mean()
    print(f"\naverage over {args.splits} splits (Seen 0/1 = unseen targets; seen = held-out cells of trained targets)")
    print(f"  {'method':<45} {'unseen Pearson':>14} {'unseen MSE':>11} {'seen Pearson':>13} {'seen MSE':>9}")
    for name, row in mean.iterrows():
        print(f"  {name:<45} {row.p_unseen:>14.3f} {row.m_unseen:>11.4f} {row.p_seen:>13.3f} {row.m_seen:>9.4f}")
    print(
        f"\n(No-Change has a constant predicted change, so its Pearson is undefined: nan.) "
        f"Total time {time.time() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
