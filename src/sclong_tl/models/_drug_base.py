"""What the two drug models share: cell lines, drugs, examples, prediction, scoring and persistence.

:class:`~sclong_tl.models.DrugResponseModel` and :class:`~sclong_tl.models.DrugCombinationModel` subclass
:class:`DrugModel`, which keeps the cell-line vectors (:mod:`sclong_tl.models._cell_lines`), the drugs' molecule
graphs (:func:`sclong_tl.pp.molecule_graphs`), the network and the training record. Examples are rows of a
:class:`pandas.DataFrame` naming a cell line and one or two drugs (and the target, for :meth:`DrugModel.fit` and
:meth:`DrugModel.score`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sclong_tl._device import resolve_device

from ._cell_lines import CellLineFeatures

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch
    from anndata import AnnData

    from sclong_tl.pp._molecules import MoleculeGraph

    from ._sclong import ScLongModel

logger = logging.getLogger(__name__)


class DrugModel:
    """Base of the drug models (see the subclasses for the parameters)."""

    KIND: ClassVar[str] = ""
    #: default column names of the examples: cell line, drug(s), target
    CELL_KEY: ClassVar[str] = "cell_line"
    DRUG_KEYS: ClassVar[tuple[str, ...]] = ()
    TARGET_KEY: ClassVar[str] = ""

    def __init__(
        self,
        cells: AnnData | None,
        model: ScLongModel | str | os.PathLike | None = "default",
        *,
        drugs: Mapping[str, str] | None = None,
        layer: str | None = None,
        gene_key: str | None = None,
        is_counts: bool | None = None,
        finetune: bool = False,
        dropout: float | None = None,
        random_state: int = 0,
        device: str = "auto",
        batch_size: int | None = None,
        dtype: str | None = None,
        progress: bool | None = None,
        features: CellLineFeatures | None = None,
    ) -> None:
        import torch

        self.init_params: dict[str, Any] = {
            "layer": layer,
            "gene_key": gene_key,
            "is_counts": is_counts,
            "finetune": bool(finetune),
            "dropout": dropout,
            "random_state": int(random_state),
        }
        self.layer, self.gene_key, self.is_counts = layer, gene_key, is_counts
        self.random_state, self.progress = int(random_state), progress
        self.batch_size, self.dtype = batch_size, dtype
        self.device = resolve_device(device)
        self.scfm: ScLongModel | None = None
        if features is None:
            if cells is None:
                raise ValueError(f"{type(self).__name__} needs cells= (an AnnData of cell lines x genes)")
            if model is not None:
                from ._load import load_model

                self.scfm = load_model(model, device=str(self.device))
            elif finetune:
                raise ValueError("finetune=True needs an scLong model (model=None uses raw expression)")
            features = CellLineFeatures.from_anndata(
                cells,
                self.scfm,
                layer=layer,
                gene_key=gene_key,
                is_counts=is_counts,
                keep_inputs=finetune,
                batch_size=batch_size,
                dtype=dtype,
                progress=progress,
            )
        self.features = features
        self.drugs: dict[str, str] = {}
        self.graphs: dict[str, MoleculeGraph] = {}
        self.add_drugs(drugs or {})
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self.network = self.build_network(features.n_features, dropout).to(self.device)
        self.history: list[dict[str, float]] = []
        self.fit_params: dict[str, Any] = {}
        self.target_stats: dict[str, float] = {}

    # ------------------------------------------------------------------------------------------ to override
    def build_network(self, n_features: int, dropout: float | None) -> torch.nn.Module:
        """The torch network."""
        raise NotImplementedError

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Training loss of network outputs against (transformed) targets."""
        raise NotImplementedError

    def metrics(self, target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
        """Scores of predictions against targets (:meth:`score`)."""
        raise NotImplementedError

    def transform_target(self, target: np.ndarray) -> np.ndarray:
        """The target as the network learns it (identity by default)."""
        return target.astype(np.float32)

    def output_columns(self, output: np.ndarray) -> dict[str, np.ndarray]:
        """Columns of :meth:`predict` from network outputs; the first is ``"prediction"``."""
        return {"prediction": output}

    # ------------------------------------------------------------------------------------------ description
    def __repr__(self) -> str:
        source = self.features.scfm.get("name", "raw expression")
        return (
            f"{type(self).__name__}(cell_lines={len(self.features.names)}, features={self.features.n_features}, "
            f"drugs={len(self.drugs)}, representation={source!r}, trained={bool(self.history)})"
        )

    @property
    def genes(self) -> list[str]:
        """The dataset genes the model reads, in order."""
        return self.features.genes

    @property
    def cell_lines(self) -> list[str]:
        """Cell lines the model has vectors for."""
        return self.features.names

    def validate_genes(self, adata: AnnData) -> None:
        """Check that ``adata`` has the model's genes in the model's order.

        Raises
        ------
        ValueError
            Naming the first differences.
        """
        from sclong_tl._anndata import require_genes

        require_genes(adata, self.genes, self.gene_key, what="the cell lines'")

    # ------------------------------------------------------------------------------------------ inputs
    def add_drugs(self, drugs: Mapping[str, str]) -> None:
        """Register drugs (name -> SMILES); a name already known must keep its SMILES."""
        from sclong_tl.pp._molecules import molecule_graphs

        new = {
            str(name): smiles
            for name, smiles in drugs.items()
            if str(name) not in self.drugs or self.drugs[str(name)] != smiles
        }
        clash = [name for name in new if name in self.drugs]
        if clash:
            raise ValueError(f"drug(s) {clash[:5]} are already known with another SMILES")
        self.graphs.update(molecule_graphs(new))
        self.drugs.update({name: str(smiles) for name, smiles in new.items()})

    def add_cell_lines(self, cells: AnnData) -> None:
        """Encode more cell lines (same genes; needs the scLong model, loaded again by name if necessary)."""
        self.validate_genes(cells)
        scfm = self.scfm
        if self.features.scfm and scfm is None:
            if self.features.scfm.get("finetuned"):
                raise ValueError(
                    "this model fine-tuned scLong, whose weights are not saved with it; it predicts "
                    "only for the cell lines it was built on"
                )
            from ._load import load_model

            scfm = load_model(self.features.scfm["name"], device=str(self.device))
            if scfm.sha256 != self.features.scfm.get("sha256"):
                raise ValueError(
                    f"scLong model {self.features.scfm['name']!r} found with other weights than "
                    "this model was built on; pass it with model= to load()"
                )
            self.scfm = scfm
        other = CellLineFeatures.from_anndata(
            cells,
            scfm,
            layer=self.layer,
            gene_key=self.gene_key,
            is_counts=self.is_counts,
            batch_size=self.batch_size,
            dtype=self.dtype,
            progress=self.progress,
        )
        self.features = self.features.extended(other)

    def examples(
        self, frame: pd.DataFrame, *, cell_key: str | None, drug_keys: Sequence[str] | None
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Cell rows ``(n,)``, drug indices ``(n, k)`` into :attr:`drug_names`, and the drug names."""
        cell_key = cell_key or self.CELL_KEY
        drug_keys = list(drug_keys or self.DRUG_KEYS)
        missing = [key for key in [cell_key, *drug_keys] if key not in frame.columns]
        if missing:
            raise KeyError(f"columns {missing} not found in the examples (columns: {list(frame.columns)})")
        unknown = sorted({str(d) for key in drug_keys for d in frame[key]} - set(self.drugs))
        if unknown:
            raise ValueError(f"{len(unknown)} drug(s) have no SMILES: {unknown[:10]}; pass drugs={{name: smiles}}")
        names = sorted(self.drugs)
        lookup = {name: position for position, name in enumerate(names)}
        drug_index = np.stack(
            [frame[key].astype(str).map(lookup).to_numpy(dtype=np.int64) for key in drug_keys], axis=1
        )
        return self.features.rows(frame[cell_key].astype(str).tolist()), drug_index, names

    def batch(
        self, rows: np.ndarray, drug_index: np.ndarray, names: list[str], cell_values: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
        """Network inputs of a batch: cell vectors, the batch's distinct drug graphs, drug positions among them."""
        import torch

        from sclong_tl.model.drug import batch_graphs

        distinct, inverse = np.unique(drug_index, return_inverse=True)
        x, edge_index, graph = batch_graphs([self.graphs[names[i]] for i in distinct])
        positions = torch.as_tensor(inverse.reshape(drug_index.shape), device=self.device)
        if drug_index.shape[1] == 1:
            positions = positions[:, 0]
        return (
            cell_values[torch.as_tensor(rows, device=self.device)],
            (x.to(self.device), edge_index.to(self.device), graph.to(self.device)),
            positions,
        )

    def cell_tensor(self) -> torch.Tensor:
        """Standardised cell-line vectors on the model's device."""
        import torch

        return torch.as_tensor(self.features.standardised(), device=self.device)

    # ------------------------------------------------------------------------------------------ fit / predict
    def fit(self, examples: pd.DataFrame, *, validation: pd.DataFrame | None = None, **options: Any) -> DrugModel:
        """Train the network, keeping the weights of the best validation epoch (early stopping).

        Parameters
        ----------
        examples
            Training examples: the cell-line column, the drug column(s) and the target column.
        validation
            Validation examples; None holds out ``validation_fraction`` of ``examples`` at random.
        **options
            Settings of :func:`sclong_tl.models._drug_fit.fit`: ``max_epochs``, ``batch_size``, ``lr``,
            ``weight_decay``, ``patience``, ``validation_fraction``, ``finetune_lr``, ``cell_key``, ``drug_keys``,
            ``target_key``, ``drugs``, ``progress``.

        Returns
        -------
        The model itself; :attr:`history` holds the per-epoch training and validation losses.
        """
        from ._drug_fit import fit

        fit(self, examples, validation=validation, **options)
        return self

    def _outputs(
        self, frame: pd.DataFrame, *, cell_key: str | None, drug_keys: Sequence[str] | None, batch_size: int = 1024
    ) -> np.ndarray:
        import torch

        rows, drug_index, names = self.examples(frame, cell_key=cell_key, drug_keys=drug_keys)
        cells = self.cell_tensor()
        self.network.eval()
        out = np.empty(len(rows), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(rows), batch_size):
                part = slice(start, start + batch_size)
                out[part] = self.network(*self.batch(rows[part], drug_index[part], names, cells)).float().cpu().numpy()
        return out

    def predict(
        self,
        examples: pd.DataFrame,
        *,
        cells: AnnData | None = None,
        drugs: Mapping[str, str] | None = None,
        cell_key: str | None = None,
        drug_keys: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Predictions for examples.

        Parameters
        ----------
        examples
            Rows naming a cell line and the drug(s) (other columns are ignored).
        cells
            Expression of cell lines the model does not know yet (same genes as the model); encoded and kept.
        drugs
            SMILES of drugs the model does not know yet (name -> SMILES); kept.
        cell_key, drug_keys
            Column names (defaults: :attr:`CELL_KEY`, :attr:`DRUG_KEYS`).

        Returns
        -------
        A DataFrame with the cell-line and drug columns of ``examples`` (same index) and ``prediction`` (plus
        the model's further output columns).
        """
        import pandas as pd

        if cells is not None:
            self.add_cell_lines(cells)
        if drugs is not None:
            self.add_drugs(drugs)
        output = self._outputs(examples, cell_key=cell_key, drug_keys=drug_keys)
        keys = [cell_key or self.CELL_KEY, *(drug_keys or self.DRUG_KEYS)]
        result = examples[keys].copy()
        for column, values in self.output_columns(output).items():
            result[column] = values
        return pd.DataFrame(result)

    def score(
        self,
        examples: pd.DataFrame,
        *,
        target_key: str | None = None,
        cell_key: str | None = None,
        drug_keys: Sequence[str] | None = None,
    ) -> dict[str, float]:
        """Metrics of the predictions for ``examples`` against their ``target_key`` column (see the subclass)."""
        target_key = target_key or self.TARGET_KEY
        if target_key not in examples.columns:
            raise KeyError(f"target column {target_key!r} not found in the examples")
        predicted = self.predict(examples, cell_key=cell_key, drug_keys=drug_keys)["prediction"].to_numpy()
        return self.metrics(examples[target_key].to_numpy(dtype=np.float64), predicted.astype(np.float64))

    # ------------------------------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to a safetensors file (:mod:`sclong_tl._io`, kind :attr:`KIND`).

        Returns
        -------
        The path written: the network and the cell-line vectors as tensors; the init parameters, drugs (SMILES),
        cell lines, genes, scLong model record and training state in the versioned JSON header.
        """
        from sclong_tl._io import write_safetensors

        tensors = {f"network.{k}": v for k, v in self.network.state_dict().items()}
        tensors.update(self.features.tensors())
        content = {
            "init_params": self.init_params,
            "cells": self.features.metadata(),
            "drugs": self.drugs,
            "state": {"history": self.history, "fit_params": self.fit_params, "target_stats": self.target_stats},
        }
        return write_safetensors(path, tensors, kind=self.KIND, content=content)

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, model: ScLongModel | str | os.PathLike | None = None, device: str = "auto"
    ) -> DrugModel:
        """Read a model written by :meth:`save`, through the constructor with the saved init parameters.

        Parameters
        ----------
        path
            The ``.safetensors`` file.
        model
            The scLong model, needed only to encode new cell lines later (default: loaded by its recorded name
            when needed, and checked against the recorded sha256).
        device
            Where the network runs.

        Returns
        -------
        The model in eval mode.
        """
        from sclong_tl._io import read_safetensors

        tensors, header = read_safetensors(path, kind=cls.KIND, what=f"{cls.KIND.replace('_', '-')} model")
        features = CellLineFeatures.from_saved(tensors, header["cells"])
        init = {**header["init_params"], "finetune": False}
        loaded = cls(None, None, drugs=header["drugs"], device=device, features=features, **init)
        loaded.init_params["finetune"] = header["init_params"]["finetune"]
        loaded.network.load_state_dict(
            {k.removeprefix("network."): v for k, v in tensors.items() if k.startswith("network.")}
        )
        loaded.network.eval()
        if model is not None:
            from ._load import load_model

            loaded.scfm = load_model(model, device=str(loaded.device))
        state = header["state"]
        loaded.history, loaded.fit_params = list(state["history"]), dict(state["fit_params"])
        loaded.target_stats = dict(state["target_stats"])
        return loaded
