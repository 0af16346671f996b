"""Genetic perturbation prediction with scLong representations (GEARS-style; paper figure 2).

:class:`PerturbationModel` fits :class:`~sclong_tl.model.perturbation.PerturbationNetwork` on an AnnData of
perturbation experiments; :func:`sclong_tl.predict_perturbation` is the one-call tool.

Expression space: predictions are made in the dataset's log-normalised space over its own genes (raw counts are
normalised to 1e4 per cell over the dataset's genes and ``log1p``-transformed; log-normalised data are used as
they are). scLong sees the control cells in its own model space (:func:`sclong_tl.pp.iter_model_inputs`).
The control cells and their representations are described in :mod:`sclong_tl.models._controls`; with
``representation="per_cell"`` (default, as in the paper) each training example pairs its perturbed cell with one
drawn control cell at random and predictions average over all of them.

Perturbed genes must be nodes of the scLong model's GO gene graph with at least one edge to another gene: the
network reaches an unseen perturbation only through its GO neighbours, so a gene outside the vocabulary or
without shared GO annotations cannot be predicted and raises a ValueError naming it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sclong_tl._anndata import require_genes
from sclong_tl.metrics._conditions import canonical_condition, parse_condition, parse_conditions

from ._controls import ControlCells

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from anndata import AnnData

    from ._sclong import ScLongModel

logger = logging.getLogger(__name__)

KIND = "perturbation"


class PerturbationModel:
    """GEARS-style perturbation-response model on scLong representations of control cells.

    Parameters
    ----------
    adata
        Cells x genes with the condition of every cell in ``obs[condition_key]`` in GEARS notation
        (``"ctrl"``, ``"GENE+ctrl"``, ``"GENEA+GENEB"``); control cells included. Raw counts or log-normalised.
        May be None only with ``controls`` (a loaded model; then it cannot :meth:`fit`).
    model
        The scLong foundation model: an :class:`~sclong_tl.ScLongModel`, a name or a path for
        :func:`~sclong_tl.load_model`. Frozen; only its representations of control cells are used.
    condition_key
        Column of ``obs`` with the conditions.
    control
        Name of the control condition.
    n_control_cells
        Control cells drawn (without replacement; all if fewer) and encoded.
    representation
        ``"per_cell"`` or ``"mean"`` (see :mod:`sclong_tl.models._controls`).
    hidden_size
        Width of the network's embeddings.
    go_layers
        SGConv layers over the GO graph.
    layer
        Use ``adata.layers[layer]`` instead of ``X``.
    gene_key
        Column of ``var`` with gene names (default ``var_names``).
    values
        What the matrix holds: ``"auto"`` (detected), ``"counts"``, ``"normalized"`` (CPM, TPM) or ``"log1p"``
        (see :func:`sclong_tl.pp.detect_values`); counts and normalised values are log-normalised per cell.
    is_counts
        Overrides ``values`` when not None (kept for models saved before ``values`` existed).
    random_state
        Seed of the control-cell draw, the network initialisation and training.
    progress
        Progress bars (None: :attr:`sclong_tl.settings.progress`).
    controls
        Prepared control cells (what :meth:`load` passes); ``model`` is then not used.

    Attributes
    ----------
    genes
        Predicted genes (the dataset's gene names).
    network
        The :class:`~sclong_tl.model.perturbation.PerturbationNetwork`.
    controls
        The :class:`~sclong_tl.models._controls.ControlCells`.
    init_params
        The constructor's settings (saved with the model; :meth:`load` passes them back to the constructor).
    trained_conditions
        Conditions the model was fitted on.
    history
        Per-epoch training loss and validation score of the last :meth:`fit`.
    """

    def __init__(
        self,
        adata: AnnData | None,
        model: ScLongModel | str | os.PathLike | None = "default",
        *,
        condition_key: str = "condition",
        control: str = "ctrl",
        n_control_cells: int = 300,
        representation: str = "per_cell",
        hidden_size: int = 64,
        go_layers: int = 1,
        layer: str | None = None,
        gene_key: str | None = None,
        values: str = "auto",
        is_counts: bool | None = None,
        random_state: int = 0,
        progress: bool | None = None,
        controls: ControlCells | None = None,
    ) -> None:
        import torch

        from sclong_tl.model.perturbation import PerturbationNetwork

        from ._load import load_model

        self.init_params: dict[str, Any] = {
            "condition_key": condition_key,
            "control": control,
            "n_control_cells": int(n_control_cells),
            "representation": representation,
            "hidden_size": int(hidden_size),
            "go_layers": int(go_layers),
            "layer": layer,
            "gene_key": gene_key,
            "values": values,
            "is_counts": is_counts,
            "random_state": int(random_state),
        }
        self.condition_key, self.control, self.layer, self.gene_key = condition_key, control, layer, gene_key
        self.representation, self.random_state = representation, int(random_state)
        self.progress = progress
        if controls is None:
            if adata is None or model is None:
                raise ValueError("PerturbationModel needs adata and model (or prepared controls)")
            controls = ControlCells.from_anndata(
                adata,
                load_model(model),
                condition_key=condition_key,
                control=control,
                n_control_cells=n_control_cells,
                representation=representation,
                layer=layer,
                gene_key=gene_key,
                is_counts=is_counts,
                values=values,
                random_state=self.random_state,
                progress=progress,
            )
        self.controls = controls
        self.adata: AnnData | None = None
        if adata is not None:
            self.validate_genes(adata)
            self.adata = adata
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self.network = PerturbationNetwork(
                len(controls.genes),
                int(controls.scfm["base_dim"]),
                len(controls.node_genes),
                torch.as_tensor(controls.edge_index),
                torch.as_tensor(controls.edge_weight),
                hidden_size=hidden_size,
                go_layers=go_layers,
            )
        self.trained_conditions: list[str] = []
        self.history: list[dict[str, float]] = []
        self.fit_params: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (
            f"PerturbationModel(genes={len(self.genes)}, control_cells={len(self.controls.expression)}, "
            f"representation={self.representation!r}, scLong={self.controls.scfm['name']!r}, "
            f"trained_conditions={len(self.trained_conditions)})"
        )

    # ------------------------------------------------------------------------------------- views of controls
    @property
    def genes(self) -> list[str]:
        """Predicted genes (the dataset's gene names)."""
        return self.controls.genes

    @property
    def control_mean(self) -> np.ndarray:
        """Mean log-normalised expression of the drawn control cells (the reference of ``layers["delta"]``)."""
        return self.controls.mean

    @property
    def config(self) -> dict[str, int]:
        """Shape of the network."""
        return {
            "hidden_size": self.init_params["hidden_size"],
            "go_layers": self.init_params["go_layers"],
            "representation_dim": int(self.controls.scfm["base_dim"]),
            "n_nodes": len(self.controls.node_genes),
            "n_genes": len(self.genes),
        }

    def validate_genes(self, adata: AnnData) -> None:
        """Check that ``adata`` measures the model's genes in the model's order (scvi's ``_validate_var_names``).

        Raises
        ------
        ValueError
            Naming the first differences when the genes (``var_names`` or ``var[gene_key]``) differ.
        """
        require_genes(adata, self.genes, self.gene_key)

    # ---------------------------------------------------------------------------------------- conditions
    def resolve(self, conditions: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Canonical names, GO-node indices ``(C, 2)`` (-1 padded) and self-perturbed masks ``(C, G)``."""
        from sclong_tl.pp import vocabulary_positions

        parsed = parse_conditions(conditions, control=self.control)
        names = sorted({g for genes in parsed for g in genes})
        positions = dict(zip(names, vocabulary_positions(names, self.controls.node_genes).tolist(), strict=True))
        in_graph = self.controls.in_graph
        outside = [g for g in names if positions[g] < 0]
        isolated = [g for g in names if positions[g] >= 0 and not in_graph[positions[g]]]
        if outside or isolated:
            reasons = []
            if outside:
                reasons.append(f"not in the scLong vocabulary: {outside}")
            if isolated:
                reasons.append(
                    f"no GO-graph edge to another gene (no GO annotations shared with Jaccard index above "
                    f"the graph's threshold): {isolated}"
                )
            raise ValueError(
                "cannot predict perturbations of genes outside the GO gene graph, because the model "
                "reaches a perturbed gene only through its GO neighbours; " + "; ".join(reasons)
            )
        nodes = np.full((len(parsed), 2), -1, dtype=np.int64)
        self_perturbed = np.zeros((len(parsed), len(self.genes)), dtype=np.float32)
        for row, genes in enumerate(parsed):
            for column, gene in enumerate(genes):
                nodes[row, column] = positions[gene]
                self_perturbed[row] += (self.controls.var_index == positions[gene]) | (np.asarray(self.genes) == gene)
        canonical = [canonical_condition(genes, control=self.control) for genes in parsed]
        return canonical, nodes, np.minimum(self_perturbed, 1.0)

    def seen_categories(self, conditions: Sequence[str]) -> list[str]:
        """``"Seen k/n"`` of each condition: its genes seen in training, by gene (any spelling: symbol or ID)."""
        from sclong_tl.pp import vocabulary_positions

        trained = sorted({g for c in self.trained_conditions for g in parse_condition(c, control=self.control)})
        trained_positions = set(vocabulary_positions(trained, self.controls.node_genes).tolist()) - {-1}
        out = []
        for condition in conditions:
            genes = parse_condition(condition, control=self.control)
            positions = vocabulary_positions(list(genes), self.controls.node_genes)
            seen = [g in trained or p in trained_positions for g, p in zip(genes, positions.tolist(), strict=True)]
            out.append(f"Seen {sum(seen)}/{len(genes)}")
        return out

    # ---------------------------------------------------------------------------------------- network
    def forward(self, tensors: dict[str, torch.Tensor], pairing: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        """Predicted profiles of examples: control cells ``pairing`` under the conditions ``groups``."""
        representations = tensors["representations"]
        if representations.shape[0] > 1:
            representations = representations[pairing]
        return self.network(
            representations, tensors["control"][pairing], tensors["nodes"][groups], tensors["self_perturbed"][groups]
        )

    def mean_profiles(self, tensors: dict[str, torch.Tensor], groups: Sequence[int]) -> np.ndarray:
        """Predicted mean profile of each condition index, averaged over all drawn control cells."""
        import torch

        self.network.eval()
        n_control = tensors["control"].shape[0]
        pairing = torch.arange(n_control)
        out = np.empty((len(groups), tensors["control"].shape[1]), dtype=np.float64)
        with torch.no_grad():
            for row, index in enumerate(groups):
                prediction = self.forward(tensors, pairing, torch.full((n_control,), int(index)))
                out[row] = prediction.double().mean(dim=0).numpy()
        return out

    def tensors(self, nodes: np.ndarray, self_perturbed: np.ndarray) -> dict[str, torch.Tensor]:
        """The network's inputs for conditions resolved by :meth:`resolve`."""
        import torch

        return {
            "nodes": torch.as_tensor(nodes),
            "self_perturbed": torch.as_tensor(self_perturbed),
            "control": torch.as_tensor(self.controls.expression),
            "representations": torch.as_tensor(self.controls.representations),
            "control_mean": torch.as_tensor(self.control_mean),
        }

    # ---------------------------------------------------------------------------------------- fitting
    def fit(self, conditions: Sequence[str] | None = None, **options: Any) -> PerturbationModel:
        """Train the network on the cells of ``conditions``, with early stopping on a validation split.

        Parameters
        ----------
        conditions
            Perturbation conditions to train on (default: every non-control condition in ``adata``). The drawn
            control cells are always trained on as the control condition.
        **options
            Training settings of :func:`sclong_tl.models._perturbation_fit.fit` (``max_epochs``, ``batch_size``,
            ``lr``, ``weight_decay``, ``lr_decay``, ``patience``, ``validation_fraction``,
            ``max_cells_per_condition``, ``gamma``, ``direction_lambda``, ``n_de_genes``, ``progress``).

        Returns
        -------
        The model itself.
        """
        from ._perturbation_fit import fit

        fit(self, conditions, **options)
        return self

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
        perturbed genes seen in training), ``uns["control_mean"]``.
        """
        import anndata as ad
        import pandas as pd

        conditions = [conditions] if isinstance(conditions, str) else list(conditions)
        if not conditions:
            raise ValueError("no conditions to predict")
        if len(set(conditions)) != len(conditions):
            raise ValueError("conditions must be unique")
        canonical, nodes, self_perturbed = self.resolve(conditions)
        profiles = self.mean_profiles(self.tensors(nodes, self_perturbed), range(len(conditions)))
        profiles = profiles.astype(np.float32)
        obs = pd.DataFrame(
            {"condition": canonical, "seen": self.seen_categories(canonical)},
            index=pd.Index([str(c) for c in conditions]),
        )
        result = ad.AnnData(X=profiles, obs=obs, var=pd.DataFrame(index=pd.Index(self.genes)))
        result.layers["delta"] = profiles - self.control_mean.astype(np.float32)
        result.uns["control_mean"] = self.control_mean.astype(np.float32)
        return result

    # ---------------------------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to a safetensors file (:mod:`sclong_tl._io`, kind ``"perturbation"``).

        Parameters
        ----------
        path
            Destination ``.safetensors`` file.

        Returns
        -------
        The path written. The header holds :attr:`init_params`, the control cells' metadata and the training
        state (trained conditions, history, fit settings); the tensors the network and the control cells.
        """
        from sclong_tl._io import write_safetensors

        tensors = {f"network.{k}": v for k, v in self.network.state_dict().items()}
        tensors.update(self.controls.tensors())
        content = {
            "init_params": self.init_params,
            "controls": self.controls.metadata(),
            "state": {
                "trained_conditions": self.trained_conditions,
                "history": self.history,
                "fit_params": self.fit_params,
            },
        }
        return write_safetensors(path, tensors, kind=KIND, content=content)

    @classmethod
    def load(cls, path: str | os.PathLike, *, adata: AnnData | None = None) -> PerturbationModel:
        """Read a model written by :meth:`save`, through the constructor with the saved init parameters.

        Parameters
        ----------
        path
            The ``.safetensors`` file.
        adata
            Data to attach for further :meth:`fit` calls (optional; prediction needs none); its genes must be
            the model's (:meth:`validate_genes`).

        Returns
        -------
        The model, in eval mode.
        """
        from sclong_tl._io import read_safetensors

        tensors, header = read_safetensors(path, kind=KIND, what="perturbation model")
        if header["version"] == 1:
            header = _from_first_layout(header)
        controls = ControlCells.from_saved(tensors, header["controls"])
        model = cls(adata, None, **header["init_params"], controls=controls)
        model.network.load_state_dict(
            {k.removeprefix("network."): v for k, v in tensors.items() if k.startswith("network.")}
        )
        model.network.eval()
        state = header["state"]
        model.trained_conditions, model.history = list(state["trained_conditions"]), list(state["history"])
        model.fit_params = dict(state["fit_params"])
        return model


def _from_first_layout(meta: dict[str, Any]) -> dict[str, Any]:
    """The header of a file of the first layout (``sclong_tl.perturbation/1``) in the current shape."""
    init_params = {
        "condition_key": meta["condition_key"],
        "control": meta["control"],
        "n_control_cells": meta["n_control_cells"],
        "representation": meta["representation"],
        "hidden_size": meta["config"]["hidden_size"],
        "go_layers": meta["config"]["go_layers"],
        "layer": None,
        "gene_key": None,
        "is_counts": meta["is_counts"],
        "random_state": meta["random_state"],
    }
    controls = {key: meta[key] for key in ("genes", "var_index", "node_genes", "is_counts", "scfm")}
    state = {key: meta[key] for key in ("trained_conditions", "history", "fit_params")}
    return {"init_params": init_params, "controls": controls, "state": state}
