"""Genetic perturbation prediction with scLong representations (GEARS-style; paper Fig. 2).

:class:`PerturbationModel` fits :class:`~sclong_tl.model.perturbation.PerturbationNetwork` on an AnnData of
perturbation experiments; :func:`predict_perturbation` is the one-call tool.

Expression space: predictions are made in the dataset's log-normalised space over its own genes (raw counts are
normalised to 1e4 per cell over the dataset's genes and ``log1p``-transformed; log-normalised data are used as
they are). scLong sees the control cells in its own model space (:func:`sclong_tl.pp.iter_model_inputs`).

Control representations: ``n_control_cells`` control cells are drawn once (``numpy.random.default_rng(
random_state)``) and encoded by the frozen scLong model. With ``representation="per_cell"`` (default, as in
the paper: the representation of the control cell a prediction starts from) each training example pairs its
perturbed cell with one of these control cells at random; predictions average over all of them. Memory:
``n_control_cells x n_genes x d`` float32. ``representation="mean"`` averages the representations over the
control cells instead (smaller, faster; the predicted shift then no longer depends on the control cell).
Measured genes missing from the scLong vocabulary get the cell's mean representation over the vocabulary
(the scLong reference's filler); the gene-specific decoder weights still tell them apart.

Perturbed genes must be nodes of the scLong model's GO gene graph with at least one edge to another gene: the
network reaches an unseen perturbation only through its GO neighbours, so a gene outside the vocabulary or
without shared GO annotations cannot be predicted and raises a ValueError naming it.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics._perturbation import canonical_condition, parse_condition, seen_category

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from anndata import AnnData

    from .._api import ScLongModel
    from ..model.perturbation import PerturbationNetwork

logger = logging.getLogger(__name__)

FORMAT_VERSION = "sclong_tl.perturbation/1"
METADATA_KEY = "sclong_tl"
UNS_KEY = "sclong_perturbation"
REPRESENTATIONS = ("per_cell", "mean")


# ------------------------------------------------------------------------------------------------ helpers
def _log_normalized(X: Any, is_counts: bool) -> np.ndarray:
    """Dense float32 rows: ``log1p`` of counts scaled to 1e4 per cell, or the values as they are."""
    dense = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    if is_counts:
        totals = dense.sum(axis=1, keepdims=True)
        dense = np.log1p(np.divide(dense * 1e4, totals, out=np.zeros_like(dense), where=totals > 0))
    return dense.astype(np.float32)


def _go_graph_members(edge_index: np.ndarray, n_nodes: int) -> np.ndarray:
    """Boolean per node: it has an edge to another node."""
    edge_index = np.asarray(edge_index)
    member = np.zeros(n_nodes, dtype=bool)
    other = edge_index[0] != edge_index[1]
    member[edge_index[0, other]] = True
    member[edge_index[1, other]] = True
    return member


def _vocabulary_positions(names: Sequence[str], vocabulary: Sequence[str]) -> np.ndarray:
    """Vocabulary position of each gene name (symbols or Ensembl IDs), -1 when unmatched."""
    from ..pp import match_genes

    try:
        with warnings.catch_warnings():  # the coverage warning concerns cell embeddings, not gene look-ups
            warnings.simplefilter("ignore", UserWarning)
            return np.asarray(match_genes(list(names), vocabulary).var_index)
    except ValueError:  # nothing matched
        return np.full(len(names), -1, dtype=np.int64)


def _encode_controls(scfm: ScLongModel, adata: AnnData, rows: np.ndarray, var_index: np.ndarray, *,
                     layer: str | None, gene_key: str | None, is_counts: bool, mean_only: bool,
                     progress: bool) -> np.ndarray:
    """Representations (scLong) of the measured genes of ``adata[rows]``: ``(cells, G, d)`` or ``(1, G, d)``."""
    from ..pp import iter_model_inputs, match_genes

    subset = adata[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few measured genes: warned once by the caller
        match = match_genes(subset, scfm.genes, gene_key=gene_key)
    found = var_index >= 0
    d = scfm.config.base_dim
    out = np.zeros((1 if mean_only else len(rows), len(var_index), d), dtype=np.float32)
    for start, values in iter_model_inputs(subset, scfm.genes, layer=layer, gene_key=gene_key, is_counts=is_counts,
                                           gene_match=match, progress=progress):
        for offset, reps, _ in scfm.iter_encode(values):
            block = np.empty((reps.shape[0], len(var_index), d), dtype=np.float32)
            block[:, found] = reps[:, var_index[found]]
            block[:, ~found] = reps.mean(axis=1, keepdims=True)
            if mean_only:
                out[0] += block.sum(axis=0, dtype=np.float64).astype(np.float32)
            else:
                out[start + offset : start + offset + len(block)] = block
    if mean_only:
        out /= len(rows)
    return out


# ------------------------------------------------------------------------------------------------ model
class PerturbationModel:
    """GEARS-style perturbation-response model on scLong representations of control cells.

    Parameters
    ----------
    adata
        Cells x genes with the condition of every cell in ``obs[condition_key]`` in GEARS notation
        (``"ctrl"``, ``"GENE+ctrl"``, ``"GENEA+GENEB"``); control cells included. Raw counts or log-normalised.
    scfm
        The scLong model: an :class:`~sclong_tl.ScLongModel`, a name or a path for
        :func:`~sclong_tl.load_model`. Frozen; only its representations of control cells are used.
    condition_key
        Column of ``obs`` with the conditions.
    control
        Name of the control condition.
    n_control_cells
        Control cells drawn (without replacement; all if fewer) and encoded.
    representation
        ``"per_cell"`` or ``"mean"`` (see the module notes).
    hidden_size
        Width of the network's embeddings.
    go_layers
        SGConv layers over the GO graph.
    layer
        Use ``adata.layers[layer]`` instead of ``X``.
    gene_key
        Column of ``var`` with gene names (default ``var_names``).
    is_counts
        Whether the matrix holds raw counts; None detects it.
    random_state
        Seed of the control-cell draw, the network initialisation and training.
    progress
        Progress bars (default :attr:`sclong_tl.settings.progress`).

    Attributes
    ----------
    genes
        Predicted genes (the dataset's gene names).
    network
        The :class:`~sclong_tl.model.perturbation.PerturbationNetwork`.
    control_mean
        Mean log-normalised expression of the drawn control cells (the reference of ``layers["delta"]``).
    trained_conditions
        Conditions the model was fitted on.
    history
        Per-epoch training loss and validation score of the last :meth:`fit`.
    """

    def __init__(self, adata: AnnData, scfm: ScLongModel | str = "default", *, condition_key: str = "condition",
                 control: str = "ctrl", n_control_cells: int = 300, representation: str = "per_cell",
                 hidden_size: int = 64, go_layers: int = 1, layer: str | None = None, gene_key: str | None = None,
                 is_counts: bool | None = None, random_state: int = 0, progress: bool | None = None) -> None:
        import torch

        from .._api import load_model
        from .._settings import settings
        from ..model.perturbation import PerturbationNetwork
        from ..pp import detect_counts, match_genes
        from ..pp._inputs import expression_matrix

        if representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
        if n_control_cells < 2:
            raise ValueError(f"n_control_cells must be at least 2, got {n_control_cells}")
        if condition_key not in adata.obs:
            raise KeyError(f"obs[{condition_key!r}] not found; columns: {list(adata.obs.columns)}")
        labels = adata.obs[condition_key].astype(str).to_numpy()
        control_rows = np.flatnonzero(labels == control)
        if control_rows.size < 2:
            raise ValueError(f"need at least 2 control cells (obs[{condition_key!r}] == {control!r}), "
                             f"found {control_rows.size}")
        progress = settings.progress if progress is None else progress
        scfm = load_model(scfm)
        matrix = expression_matrix(adata, layer)
        self.is_counts = detect_counts(matrix) if is_counts is None else bool(is_counts)
        self.adata, self.scfm = adata, scfm
        self.condition_key, self.control, self.layer, self.gene_key = condition_key, control, layer, gene_key
        self.representation, self.random_state = representation, int(random_state)
        self.genes = [str(g) for g in (adata.var[gene_key] if gene_key else adata.var_names)]
        self.node_genes = list(scfm.genes)
        match = match_genes(adata, scfm.genes, gene_key=gene_key)
        self.var_index = np.asarray(match.var_index)
        if match.n_matched < len(self.genes):
            logger.info("%d of %d measured genes are not in the scLong vocabulary; they get the mean "
                        "representation", len(self.genes) - match.n_matched, len(self.genes))
        rng = np.random.default_rng(self.random_state)
        n_take = min(n_control_cells, control_rows.size)
        self.control_rows = np.sort(rng.choice(control_rows, size=n_take, replace=False))
        self.control_expression = _log_normalized(matrix[self.control_rows], self.is_counts)
        self.control_mean = self.control_expression.mean(axis=0)
        self.control_representations = _encode_controls(
            scfm, adata, self.control_rows, self.var_index, layer=layer, gene_key=gene_key,
            is_counts=self.is_counts, mean_only=representation == "mean", progress=progress)
        self.in_graph = _go_graph_members(scfm.edge_index, len(self.node_genes))
        self.scfm_info = {"name": scfm.name, "sha256": scfm.sha256, "n_genes": len(scfm.genes),
                          "base_dim": scfm.config.base_dim}
        self.config = {"hidden_size": int(hidden_size), "go_layers": int(go_layers),
                       "representation_dim": int(scfm.config.base_dim), "n_nodes": len(self.node_genes),
                       "n_genes": len(self.genes)}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self.network: PerturbationNetwork = PerturbationNetwork(
                len(self.genes), scfm.config.base_dim, len(self.node_genes),
                torch.as_tensor(scfm.edge_index), torch.as_tensor(scfm.edge_weight),
                hidden_size=hidden_size, go_layers=go_layers)
        self.trained_conditions: list[str] = []
        self.history: list[dict[str, float]] = []
        self.fit_params: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (f"PerturbationModel(genes={len(self.genes)}, control_cells={len(self.control_expression)}, "
                f"representation={self.representation!r}, scLong={self.scfm_info['name']!r}, "
                f"trained_conditions={len(self.trained_conditions)})")

    # ---------------------------------------------------------------------------------------- conditions
    def _resolve(self, conditions: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Canonical names, GO-node indices ``(C, 2)`` (-1 padded) and self-perturbed masks ``(C, G)``."""
        parsed = [parse_condition(c, control=self.control) for c in conditions]
        if any(len(genes) > 2 for genes in parsed):
            raise ValueError("only single and double perturbations are supported")
        names = sorted({g for genes in parsed for g in genes})
        positions = dict(zip(names, _vocabulary_positions(names, self.node_genes).tolist(), strict=True))
        outside = [g for g in names if positions[g] < 0]
        isolated = [g for g in names if positions[g] >= 0 and not self.in_graph[positions[g]]]
        if outside or isolated:
            reasons = []
            if outside:
                reasons.append(f"not in the scLong vocabulary: {outside}")
            if isolated:
                reasons.append(f"no GO-graph edge to another gene (no GO annotations shared with Jaccard index above "
                               f"the graph's threshold): {isolated}")
            raise ValueError("cannot predict perturbations of genes outside the GO gene graph, because the model "
                             "reaches a perturbed gene only through its GO neighbours; " + "; ".join(reasons))
        nodes = np.full((len(parsed), 2), -1, dtype=np.int64)
        self_perturbed = np.zeros((len(parsed), len(self.genes)), dtype=np.float32)
        for row, genes in enumerate(parsed):
            for column, gene in enumerate(genes):
                nodes[row, column] = positions[gene]
                self_perturbed[row] += (self.var_index == positions[gene]) | (np.asarray(self.genes) == gene)
        canonical = [canonical_condition(genes, control=self.control) for genes in parsed]
        return canonical, nodes, np.minimum(self_perturbed, 1.0)

    # ---------------------------------------------------------------------------------------- fitting
    def fit(self, conditions: Sequence[str] | None = None, *, max_epochs: int = 20, batch_size: int = 32,
            lr: float = 1e-3, weight_decay: float = 5e-4, lr_decay: float = 0.5, patience: int = 5,
            validation_fraction: float = 0.1, max_cells_per_condition: int | None = None, gamma: float = 2.0,
            direction_lambda: float = 1e-3, n_de_genes: int = 20, progress: bool | None = None
            ) -> PerturbationModel:
        """Train the network on the cells of ``conditions``, with early stopping on a validation split.

        Parameters
        ----------
        conditions
            Perturbation conditions to train on (default: every non-control condition in ``adata``). The drawn
            control cells are always trained on as the control condition.
        max_epochs
            Upper bound on passes over the training cells.
        batch_size
            Cells per optimisation step.
        lr, weight_decay, lr_decay
            Adam learning rate and weight decay; the learning rate is multiplied by ``lr_decay`` after every
            epoch (GEARS: 1e-3, 5e-4, 0.5).
        patience
            Epochs without validation improvement before stopping; the best epoch's weights are kept.
        validation_fraction
            Fraction of the training conditions held out (whole conditions, at least one) to choose the epoch;
            with fewer than 3 conditions, that fraction of each condition's cells is held out instead; 0 trains
            on everything for ``max_epochs``.
        max_cells_per_condition
            Cap on the cells used per condition (drawn with the model's seed); None uses all.
        gamma, direction_lambda
            Loss parameters (see :func:`~sclong_tl.model.perturbation.autofocus_direction_loss`).
        n_de_genes
            Validation score: MSE of the mean profile on each validation condition's top DE genes (GEARS).
        progress
            Show a progress bar over epochs.

        Returns
        -------
        The model itself.
        """
        import torch
        from tqdm.auto import tqdm

        from .._settings import settings
        from ..metrics._perturbation import de_gene_indices
        from ..model.perturbation import autofocus_direction_loss
        from ..pp._inputs import expression_matrix

        if self.adata is None:
            raise ValueError("this model was loaded without data; pass adata to PerturbationModel.load to fit")
        progress = settings.progress if progress is None else progress
        labels = self.adata.obs[self.condition_key].astype(str).to_numpy()
        available = [c for c in dict.fromkeys(labels) if c != self.control]
        conditions = available if conditions is None else list(dict.fromkeys(conditions))
        missing = [c for c in conditions if c not in set(available)]
        if missing or not conditions:
            raise ValueError(f"conditions without cells in obs[{self.condition_key!r}]: {missing}" if missing
                             else "no perturbation conditions to train on")
        canonical, nodes, self_perturbed = self._resolve(conditions)
        rng = np.random.default_rng(self.random_state)
        matrix = expression_matrix(self.adata, self.layer)
        cells = []
        for condition in conditions:
            rows = np.flatnonzero(labels == condition)
            if max_cells_per_condition is not None and rows.size > max_cells_per_condition:
                rows = np.sort(rng.choice(rows, size=max_cells_per_condition, replace=False))
            cells.append(rows)
        # examples: perturbed cells, then the drawn control cells (condition index C, their own input)
        n_conditions = len(conditions)
        target = np.vstack([_log_normalized(matrix[rows], self.is_counts) for rows in cells]
                           + [self.control_expression])
        group = np.concatenate([np.full(rows.size, i) for i, rows in enumerate(cells)]
                               + [np.full(len(self.control_expression), n_conditions)])
        own_control = np.concatenate([np.full(sum(r.size for r in cells), -1),
                                      np.arange(len(self.control_expression))])
        nodes = np.vstack([nodes, [[-1, -1]]])
        self_perturbed = np.vstack([self_perturbed, np.zeros((1, len(self.genes)), np.float32)])

        train_mask, validation = self._validation_split(group, n_conditions, validation_fraction, rng)
        validation_de = {}
        for condition_index, rows in validation.items():
            validation_de[condition_index] = de_gene_indices(target[rows], self.control_expression, n_de_genes)

        tensors = {
            "target": torch.as_tensor(target), "group": torch.as_tensor(group),
            "nodes": torch.as_tensor(nodes), "self_perturbed": torch.as_tensor(self_perturbed),
            "control": torch.as_tensor(self.control_expression),
            "representations": torch.as_tensor(self.control_representations),
            "control_mean": torch.as_tensor(self.control_mean),
        }
        train_examples = np.flatnonzero(train_mask)
        if train_examples.size < 2:
            raise ValueError("fewer than 2 training cells")
        history: list[dict[str, float]] = []
        best_score, best_state, stale = math.inf, None, 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            optimizer = torch.optim.Adam(self.network.parameters(), lr=lr, weight_decay=weight_decay)
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=lr_decay)
            for epoch in tqdm(range(max_epochs), desc="perturbation model", unit="epoch", disable=not progress):
                self.network.train()
                order = rng.permutation(train_examples)
                losses = []
                for start in range(0, order.size, batch_size):
                    batch = order[start : start + batch_size]
                    if batch.size < 2:  # batch norm needs two examples
                        continue
                    pairing = rng.integers(0, len(self.control_expression), size=batch.size)
                    pairing = np.where(own_control[batch] >= 0, own_control[batch], pairing)
                    prediction = self._forward(tensors, torch.as_tensor(pairing), tensors["group"][batch])
                    loss = autofocus_direction_loss(prediction, tensors["target"][batch], tensors["control_mean"],
                                                    tensors["group"][batch], gamma=gamma,
                                                    direction_lambda=direction_lambda)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    losses.append(float(loss.detach()))
                scheduler.step()
                record = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan")}
                if validation:
                    score = self._validation_score(tensors, target, validation, validation_de)
                    record["validation_mse_de"] = score
                    if score < best_score:
                        best_score, best_state, stale = score, copy.deepcopy(self.network.state_dict()), 0
                    else:
                        stale += 1
                history.append(record)
                if validation and stale >= patience:
                    break
        if best_state is not None:
            self.network.load_state_dict(best_state)
        self.network.eval()
        self.trained_conditions = canonical
        self.history = history
        self.fit_params = {"max_epochs": max_epochs, "batch_size": batch_size, "lr": lr,
                           "weight_decay": weight_decay, "lr_decay": lr_decay, "patience": patience,
                           "validation_fraction": validation_fraction,
                           "max_cells_per_condition": max_cells_per_condition, "gamma": gamma,
                           "direction_lambda": direction_lambda, "n_de_genes": n_de_genes,
                           "epochs_run": len(history),
                           "validation_conditions": [canonical[i] for i in validation if i < n_conditions]}
        logger.info("fitted a perturbation model on %d conditions (%d epochs)", len(canonical), len(history))
        return self

    @staticmethod
    def _validation_split(group: np.ndarray, n_conditions: int, fraction: float, rng: np.random.Generator
                          ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Training mask over examples and validation condition index -> example rows."""
        train = np.ones(group.size, dtype=bool)
        validation: dict[int, np.ndarray] = {}
        if fraction <= 0:
            return train, validation
        if not 0 < fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}")
        if n_conditions >= 3:
            n_val = min(max(1, round(fraction * n_conditions)), n_conditions - 1)
            for index in sorted(rng.choice(n_conditions, size=n_val, replace=False).tolist()):
                rows = np.flatnonzero(group == index)
                validation[index] = rows
                train[rows] = False
        else:
            for index in range(n_conditions):
                rows = np.flatnonzero(group == index)
                n_val = round(fraction * rows.size)
                if n_val >= 2 and rows.size - n_val >= 2:
                    held = np.sort(rng.choice(rows, size=n_val, replace=False))
                    validation[index] = held
                    train[held] = False
        return train, validation

    def _forward(self, tensors: dict[str, torch.Tensor], pairing: torch.Tensor, groups: torch.Tensor
                 ) -> torch.Tensor:
        representations = tensors["representations"]
        if representations.shape[0] > 1:
            representations = representations[pairing]
        return self.network(representations, tensors["control"][pairing], tensors["nodes"][groups],
                            tensors["self_perturbed"][groups])

    def _mean_profiles(self, tensors: dict[str, torch.Tensor], groups: Sequence[int]) -> np.ndarray:
        """Predicted mean profile of each condition index, averaged over all drawn control cells."""
        import torch

        self.network.eval()
        n_control = tensors["control"].shape[0]
        pairing = torch.arange(n_control)
        out = np.empty((len(groups), tensors["control"].shape[1]), dtype=np.float64)
        with torch.no_grad():
            for row, index in enumerate(groups):
                prediction = self._forward(tensors, pairing, torch.full((n_control,), int(index)))
                out[row] = prediction.double().mean(dim=0).numpy()
        return out

    def _validation_score(self, tensors: dict[str, torch.Tensor], target: np.ndarray,
                          validation: dict[int, np.ndarray], de: dict[int, np.ndarray]) -> float:
        indices = list(validation)
        predicted = self._mean_profiles(tensors, indices)
        scores = []
        for row, index in enumerate(indices):
            observed = target[validation[index]].mean(axis=0)
            scores.append(float(np.mean((predicted[row, de[index]] - observed[de[index]]) ** 2)))
        return float(np.mean(scores))

    # ---------------------------------------------------------------------------------------- prediction
    def predict(self, conditions: Sequence[str] | str) -> AnnData:
        """Predicted mean expression profiles after perturbation.

        Parameters
        ----------
        conditions
            Conditions in GEARS notation (``"A+ctrl"``, ``"A+B"``; a bare ``"A"`` means ``"A+ctrl"``); their
            genes must be GO-graph nodes (see the module notes).

        Returns
        -------
        AnnData with one observation per requested condition (``obs_names`` as requested) and the predicted
        genes as ``var``: ``X`` the predicted mean log-normalised expression, ``layers["delta"]`` the
        prediction minus the control mean, ``obs["condition"]`` (GEARS name), ``obs["seen"]`` (``"Seen k/n"``:
        perturbed genes seen in training), ``varm`` nothing, ``uns["control_mean"]``.
        """
        import anndata as ad
        import pandas as pd
        import torch

        conditions = [conditions] if isinstance(conditions, str) else list(conditions)
        if not conditions:
            raise ValueError("no conditions to predict")
        if len(set(conditions)) != len(conditions):
            raise ValueError("conditions must be unique")
        canonical, nodes, self_perturbed = self._resolve(conditions)
        tensors = {
            "nodes": torch.as_tensor(nodes), "self_perturbed": torch.as_tensor(self_perturbed),
            "control": torch.as_tensor(self.control_expression),
            "representations": torch.as_tensor(self.control_representations),
        }
        profiles = self._mean_profiles(tensors, range(len(conditions))).astype(np.float32)
        trained_genes = {g for c in self.trained_conditions for g in parse_condition(c, control=self.control)}
        obs = pd.DataFrame({"condition": canonical,
                            "seen": [seen_category(c, trained_genes, control=self.control) for c in canonical]},
                           index=pd.Index([str(c) for c in conditions]))
        result = ad.AnnData(X=profiles, obs=obs, var=pd.DataFrame(index=pd.Index(self.genes)))
        result.layers["delta"] = profiles - self.control_mean.astype(np.float32)
        result.uns["control_mean"] = self.control_mean.astype(np.float32)
        return result

    # ---------------------------------------------------------------------------------------- persistence
    def _metadata(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "config": self.config, "genes": self.genes, "node_genes": self.node_genes,
                "control": self.control, "condition_key": self.condition_key,
                "representation": self.representation, "random_state": self.random_state,
                "is_counts": self.is_counts, "var_index": self.var_index.tolist(),
                "trained_conditions": self.trained_conditions, "history": self.history,
                "fit_params": self.fit_params, "scfm": self.scfm_info,
                "n_control_cells": len(self.control_expression)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model (network, control expression and representations, metadata) to a safetensors file.

        Parameters
        ----------
        path
            Destination ``.safetensors`` file; JSON metadata in its header under ``"sclong_tl"``.

        Returns
        -------
        The path written.
        """
        import torch
        from safetensors.torch import save_file

        path = Path(path)
        tensors = {f"network.{k}": v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
        tensors["control.expression"] = torch.as_tensor(self.control_expression).contiguous()
        tensors["control.representations"] = torch.as_tensor(self.control_representations).contiguous()
        tensors["graph.in_graph"] = torch.as_tensor(self.in_graph)
        temporary = path.with_name(path.name + ".tmp")
        save_file(tensors, str(temporary), metadata={METADATA_KEY: json.dumps(self._metadata(), sort_keys=True)})
        os.replace(temporary, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, adata: AnnData | None = None) -> PerturbationModel:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path
            The ``.safetensors`` file.
        adata
            Data to attach for further :meth:`fit` calls (optional; prediction needs none).

        Returns
        -------
        The model, in eval mode.
        """
        from safetensors import safe_open
        from safetensors.torch import load_file

        from ..model.perturbation import PerturbationNetwork

        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(METADATA_KEY)
        if raw is None:
            raise ValueError(f"{path} is not a sclong_tl perturbation model (no {METADATA_KEY!r} metadata)")
        meta = json.loads(raw)
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported format {meta.get('format')!r} (expected {FORMAT_VERSION!r})")
        tensors = load_file(str(path))
        state = {k[len("network."):]: v for k, v in tensors.items() if k.startswith("network.")}
        config = meta["config"]
        network = PerturbationNetwork(config["n_genes"], config["representation_dim"], config["n_nodes"],
                                      state["edge_index"], state["edge_weight"],
                                      hidden_size=config["hidden_size"], go_layers=config["go_layers"])
        network.load_state_dict(state)
        self = cls.__new__(cls)
        self.adata, self.scfm = adata, None
        self.network = network.eval()
        self.config, self.genes, self.node_genes = config, meta["genes"], meta["node_genes"]
        self.control, self.condition_key = meta["control"], meta["condition_key"]
        self.representation, self.random_state = meta["representation"], meta["random_state"]
        self.is_counts, self.var_index = meta["is_counts"], np.asarray(meta["var_index"], dtype=np.int64)
        self.layer, self.gene_key = None, None
        self.trained_conditions, self.history = meta["trained_conditions"], meta["history"]
        self.fit_params, self.scfm_info = meta["fit_params"], meta["scfm"]
        self.control_expression = tensors["control.expression"].numpy()
        self.control_representations = tensors["control.representations"].numpy()
        self.control_mean = self.control_expression.mean(axis=0)
        self.in_graph = tensors["graph.in_graph"].numpy().astype(bool)
        self.control_rows = np.zeros(0, dtype=np.int64)
        return self


# ------------------------------------------------------------------------------------------------ tool
def predict_perturbation(
    adata: AnnData,
    perturbations: Sequence[str] | str,
    *,
    condition_key: str = "condition",
    control: str = "ctrl",
    model: PerturbationModel | None = None,
    scfm: ScLongModel | str = "default",
    n_control_cells: int = 300,
    random_state: int = 0,
    representation: str = "per_cell",
    layer: str | None = None,
    gene_key: str | None = None,
    train_conditions: Sequence[str] | None = None,
    max_epochs: int = 20,
    max_cells_per_condition: int | None = None,
    progress: bool | None = None,
) -> AnnData:
    """Predict mean expression profiles after genetic perturbations (GEARS-style head on scLong).

    Parameters
    ----------
    adata
        Perturbation experiments: cells x genes with ``obs[condition_key]`` in GEARS notation, control cells
        included (raw counts or log-normalised).
    perturbations
        Conditions to predict, e.g. ``["FOXA1", "FOXA1+HOXB9"]`` (a bare gene is a single perturbation);
        unseen genes and combinations are allowed when their genes are GO-graph nodes.
    condition_key
        Column of ``obs`` with the conditions.
    control
        Name of the control condition.
    model
        A fitted :class:`PerturbationModel`; None fits one on ``adata`` (see :meth:`PerturbationModel.fit`).
    scfm
        scLong model used when fitting (an :class:`~sclong_tl.ScLongModel`, a name or a path).
    n_control_cells
        Control cells drawn (seeded) and encoded by scLong.
    random_state
        Seed of the control-cell draw, initialisation and training.
    representation
        ``"per_cell"`` or ``"mean"`` control representations (see :class:`PerturbationModel`).
    layer, gene_key
        Expression layer and ``var`` column with gene names.
    train_conditions
        Conditions to fit on (default: all non-control conditions of ``adata``).
    max_epochs, max_cells_per_condition
        Training length and per-condition cell cap (see :meth:`PerturbationModel.fit`).
    progress
        Progress bars.

    Returns
    -------
    AnnData of predictions (see :meth:`PerturbationModel.predict`): ``obs`` = requested conditions, ``var`` =
    genes, ``X`` = predicted mean profiles, ``layers["delta"]`` = prediction minus control mean.
    Also writes ``adata.uns["sclong_perturbation"]["params"]`` (model and fitting parameters, scLong model name
    and sha256, trained conditions).
    """
    if model is None:
        model = PerturbationModel(adata, scfm, condition_key=condition_key, control=control,
                                  n_control_cells=n_control_cells, representation=representation, layer=layer,
                                  gene_key=gene_key, random_state=random_state, progress=progress)
        model.fit(train_conditions, max_epochs=max_epochs, max_cells_per_condition=max_cells_per_condition,
                  progress=progress)
    result = model.predict(perturbations)
    params = {"condition_key": model.condition_key, "control": model.control, "representation":
              model.representation, "n_control_cells": len(model.control_expression), "random_state":
              model.random_state, "scfm": dict(model.scfm_info), "trained_conditions": list(model.trained_conditions),
              "perturbations": list(result.obs_names), "fit": dict(model.fit_params), "config": dict(model.config)}
    adata.uns[UNS_KEY] = {"params": params}
    logger.info("predicted %d perturbations; added adata.uns[%r]", result.n_obs, UNS_KEY)
    return result
