"""SIMULATED double-perturbation benchmark (no real double-perturbation data is reachable here).

Generator (all SIMULATED, labelled so in ``obs["simulated"]`` and ``uns["simulation"]``):

- Genes: the 299 measured genes of the real Papalexi 2021 screen; each gene's control rate is its real mean UMI
  count in the non-targeting cells. Perturbable genes: ``--n-perturbed`` genes of the real GO gene graph over a
  vocabulary of the measured genes plus the screen's targets (Ensembl IDs).
- Known gene network: ``k`` latent programmes; every vocabulary gene gets a random programme vector, averaged over
  its GO-graph neighbourhood (so GO neighbours act alike, the premise of GEARS); measured genes load sparsely on
  the programmes. A single knockout of gene p shifts log-rates by ``delta_p = L z_p``.
- Doubles: ``delta_pq = s_pq (delta_p + delta_q)`` with a known interaction scale ``s_pq`` in {0.5 (buffering),
  1 (additive), 1.6 (synergy)}; the true GI magnitude is then ``s_pq * sqrt(2)``.
- Cells: Poisson counts with rate ``size_factor * control_rate * exp(delta)``, size factors log-normal(0, 0.3).

Benchmark: GEARS simulation split (75% of genes, 75% of Seen 2/2 doubles trained); the scLong head (random-init
"tiny" scLong over the vocabulary: no pretrained model exists yet) vs No-Change vs the additive baseline (sum of
the observed single changes, only where both singles are in training) per Seen category; and the GI magnitude
(``delta_ab ~ a delta_a + b delta_b + c`` on observed single changes) of predicted vs observed doubles.

Run: ``python benchmarks/simulate_perturbations.py [--seeds 2] [--threads 1]`` (minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np
import pandas as pd

INTERACTION_SCALES = (0.5, 1.0, 1.6)


def vocabulary_and_graph():
    """Real genes: Papalexi measured genes and targets, their Ensembl IDs and GO graph; real control rates."""
    from perturbation import load_screen

    from sclong_tl.genes import build_go_graph, go_graph_edges, load_gene2go, symbol_to_ensembl

    screen = load_screen()
    targets = sorted({c.split("+")[0] for c in screen.obs["condition"] if c != "ctrl"})
    ids = [e for e in symbol_to_ensembl(list(screen.var_names) + targets)["ensembl_id"] if e]
    vocabulary = list(dict.fromkeys(ids))
    edge_index, edge_weight = go_graph_edges(build_go_graph(load_gene2go(), vocabulary), vocabulary)
    controls = screen[screen.obs["condition"] == "ctrl"].X
    rates = np.asarray(controls.mean(axis=0)).ravel()
    return list(screen.var_names), rates, vocabulary, edge_index, edge_weight


def simulate(
    measured,
    rates,
    vocabulary,
    edge_index,
    edge_weight,
    *,
    n_perturbed=12,
    n_programmes=4,
    cells_per_condition=40,
    n_control=400,
    seed=0,
):
    """SIMULATED AnnData of control, single and all double knockouts of ``n_perturbed`` GO-graph genes."""
    import anndata as ad

    from sclong_tl.genes import go_graph_members
    from sclong_tl.metrics import canonical_condition

    rng = np.random.default_rng(seed)
    n_nodes = len(vocabulary)
    member = go_graph_members(edge_index, n_nodes)
    perturbed = sorted(rng.choice(np.flatnonzero(member), size=n_perturbed, replace=False).tolist())
    # programme vectors averaged over GO neighbourhoods (weighted, with self)
    raw = rng.normal(size=(n_nodes, n_programmes))
    adjacency = np.eye(n_nodes)
    adjacency[edge_index[1], edge_index[0]] += edge_weight
    programmes = (adjacency @ raw) / adjacency.sum(axis=1, keepdims=True)
    loadings = rng.normal(scale=0.5, size=(len(measured), n_programmes)) * (
        rng.random((len(measured), n_programmes)) < 0.3
    )
    single = {vocabulary[p]: loadings @ programmes[p] for p in perturbed}
    truth, scales = {"ctrl": np.zeros(len(measured))}, {}
    for gene in single:
        truth[canonical_condition((gene,))] = single[gene]
    for a, b in itertools.combinations(single, 2):
        scale = float(rng.choice(INTERACTION_SCALES))
        scales[f"{a}+{b}"] = scale
        truth[f"{a}+{b}"] = scale * (single[a] + single[b])
    blocks, labels = [], []
    for condition, delta in truth.items():
        n = n_control if condition == "ctrl" else cells_per_condition
        size = rng.lognormal(0.0, 0.3, size=(n, 1))
        blocks.append(rng.poisson(size * rates * np.exp(delta)).astype(np.float32))
        labels += [condition] * n
    obs = pd.DataFrame({"condition": labels, "simulated": True}, index=[f"sim{i}" for i in range(len(labels))])
    adata = ad.AnnData(np.vstack(blocks), obs=obs, var=pd.DataFrame(index=measured))
    adata.uns["simulation"] = {
        "SIMULATED": True,
        "seed": seed,
        "interaction_scale": scales,
        "perturbed_genes": [vocabulary[p] for p in perturbed],
    }
    return adata


def evaluate(adata, scfm, seed, args):
    from sclong_tl.metrics import (
        additive_prediction,
        gi_magnitude,
        no_change_prediction,
        perturbation_scores,
        simulation_split,
        top_de_genes,
    )
    from sclong_tl.models import PerturbationModel
    from sclong_tl.pp import log_normalized

    labels = adata.obs["condition"].to_numpy()
    split = simulation_split(labels, random_state=seed)
    expression = log_normalized(adata.X, is_counts=True)
    genes = list(adata.var_names)
    conditions = list(dict.fromkeys(labels))
    observed = pd.DataFrame([expression[labels == c].mean(axis=0) for c in conditions], index=conditions, columns=genes)
    control = observed.loc["ctrl"]
    normalised = adata.copy()
    normalised.X = expression
    de = top_de_genes(normalised, n_genes=20, conditions=split.test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        head = PerturbationModel(adata, scfm, n_control_cells=args.control_cells, random_state=seed, progress=False)
    head.fit(split.train, max_epochs=args.epochs, max_cells_per_condition=args.cells_per_condition, progress=False)
    predicted = head.predict(split.test).to_df()
    singles_in_training = observed.loc[[c for c in split.train if c.endswith("+ctrl")]]
    rows = []
    for category, members in split.categories.items():
        if not members:
            continue
        methods = {"scLong head": predicted.loc[members], "No-Change": no_change_prediction(control, members)}
        if category == "Seen 2/2":
            methods["Additive"] = additive_prediction(control, singles_in_training, members)
        for name, prediction in methods.items():
            table = perturbation_scores(prediction, observed.loc[members], control, de_genes=de)
            rows.append((seed, category, name, len(members), table["pearson_delta_de"].mean(), table["mse_de"].mean()))
    gi = []
    for condition in [c for c in split.test if "ctrl" not in c]:
        a, b = condition.split("+")
        delta_a = observed.loc[f"{a}+ctrl"] - control
        delta_b = observed.loc[f"{b}+ctrl"] - control
        gi.append(
            (
                adata.uns["simulation"]["interaction_scale"][condition] * np.sqrt(2),
                gi_magnitude(delta_a, delta_b, observed.loc[condition] - control),
                gi_magnitude(delta_a, delta_b, predicted.loc[condition] - control),
            )
        )
    return rows, np.array(gi)


def main() -> None:
    import torch

    from sclong_tl import ScLongModel

    parser = argparse.ArgumentParser(description="SIMULATED double-perturbation benchmark")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--n-perturbed", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--control-cells", type=int, default=200)
    parser.add_argument("--cells-per-condition", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()
    measured, rates, vocabulary, edge_index, edge_weight = vocabulary_and_graph()
    scfm = ScLongModel.from_config("tiny", genes=vocabulary, graph=(edge_index, edge_weight), seed=0)
    print(
        "SIMULATED data (known gene network on the real GO graph; real Papalexi gene names and control rates); "
        f"{args.n_perturbed} perturbed genes, all singles and doubles, {args.cells_per_condition} cells each"
    )
    print(
        "scLong model: RANDOM-INIT 'tiny' scLong (no pretrained default model exists yet), "
        f"{len(vocabulary)}-gene vocabulary"
    )
    rows, gis = [], []
    for seed in range(args.seeds):
        adata = simulate(
            measured,
            rates,
            vocabulary,
            edge_index,
            edge_weight,
            n_perturbed=args.n_perturbed,
            cells_per_condition=args.cells_per_condition,
            seed=seed,
        )
        seed_rows, gi = evaluate(adata, scfm, seed, args)
        rows += seed_rows
        gis.append(gi)
    table = pd.DataFrame(rows, columns=["seed", "category", "method", "n", "pearson_de", "mse_de"])
    print(
        f"\nSIMULATED: Pearson / MSE of predicted vs observed change on top-20 DE genes, mean over {args.seeds} seeds"
    )
    summary = table.groupby(["category", "method"], sort=False).agg(
        n=("n", "sum"), pearson_de=("pearson_de", "mean"), mse_de=("mse_de", "mean")
    )
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    gi = np.vstack([g for g in gis if g.size])
    print(f"\nSIMULATED GI magnitude over {len(gi)} test doubles (true = scale * sqrt(2); fitted on observed singles):")
    print(
        f"  Pearson(true, observed-fit) = {np.corrcoef(gi[:, 0], gi[:, 1])[0, 1]:.3f}; "
        f"Pearson(observed-fit, scLong-head-fit) = {np.corrcoef(gi[:, 1], gi[:, 2])[0, 1]:.3f}; "
        f"mean |head - observed| = {np.mean(np.abs(gi[:, 2] - gi[:, 1])):.3f}; "
        f"mean |additive (sqrt 2) - observed| = {np.mean(np.abs(np.sqrt(2) - gi[:, 1])):.3f}; "
        f"No-Change magnitude 0, mean |0 - observed| = {np.mean(np.abs(gi[:, 1])):.3f}"
    )
    print(f"Total time {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
