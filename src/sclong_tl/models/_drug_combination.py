"""Drug-combination response (synergy yes / no) of a cell line to a drug pair (paper Fig. 4c, DeepDDS)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ._drug_base import DrugModel

if TYPE_CHECKING:  # pragma: no cover
    import torch


class DrugCombinationModel(DrugModel):
    """Binary classification of a (cell line, drug A, drug B) combination, on scLong representations.

    The cell line's vector is built as for :class:`~sclong_tl.models.DrugResponseModel` (scLong gene values, or
    raw expression with ``model=None``); both drugs go through one shared GCN; the MLP of the paper gives a logit
    (:class:`~sclong_tl.model.drug.DrugCombinationNetwork`), averaged over both drug orders, so that swapping the
    drugs never changes a prediction. Loss: binary cross-entropy; Adam (the paper: 1e-4; pass ``lr=`` to
    :meth:`fit`); early stopping on the validation loss.

    Parameters
    ----------
    cells
        Cell lines x genes (``obs_names`` = cell-line names used in the examples): raw counts or non-negative
        log-scale expression for scLong. TPM values must be normalised first (see
        :func:`sclong_tl.datasets.deepdds_oneil`, whose ``layers["log1p_norm"]`` is TPM scaled to 1e4 per line
        and ``log1p``-transformed).
    model
        The scLong model; None uses the expression itself (the DeepDDS baseline).
    drugs
        Drug name -> SMILES.
    layer, gene_key, is_counts, finetune, random_state, device, batch_size, dtype, progress, features
        As for :class:`~sclong_tl.models.DrugResponseModel`.
    dropout
        Dropout probability (default 0.2, DeepDDS's).

    Notes
    -----
    The methods (``fit``, ``predict``, ``score``, ``save``, ``load``) are described on
    :class:`~sclong_tl.models.DrugModel`.

    After construction, ``network`` is the :class:`~sclong_tl.model.drug.DrugCombinationNetwork`; ``features``,
    ``drugs`` and ``history`` are as for :class:`~sclong_tl.models.DrugResponseModel`.
    """

    KIND: ClassVar[str] = "drug_combination"
    DRUG_KEYS: ClassVar[tuple[str, ...]] = ("drug1", "drug2")
    TARGET_KEY: ClassVar[str] = "label"

    def build_network(self, n_features: int, dropout: float | None) -> torch.nn.Module:
        """The :class:`~sclong_tl.model.drug.DrugCombinationNetwork`."""
        from sclong_tl.model.drug import DrugCombinationNetwork
        from sclong_tl.pp._molecules import N_ATOM_FEATURES

        return DrugCombinationNetwork(n_features, N_ATOM_FEATURES, dropout=0.2 if dropout is None else dropout)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of the logits."""
        import torch

        return torch.nn.functional.binary_cross_entropy_with_logits(output, target)

    def transform_target(self, target: np.ndarray) -> np.ndarray:
        """Labels must be 0 or 1."""
        if not np.isin(target, (0, 1)).all():
            raise ValueError("combination labels must be 0 or 1")
        return target.astype(np.float32)

    def output_columns(self, output: np.ndarray) -> dict[str, np.ndarray]:
        """``prediction``: probability of label 1; ``logit``."""
        return {"prediction": 1.0 / (1.0 + np.exp(-output.astype(np.float64))), "logit": output}

    def metrics(self, target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
        """:func:`sclong_tl.metrics.combination_scores`: ``auroc``, ``auprc``, ``accuracy`` and ``n``."""
        from sclong_tl.metrics._drug import combination_scores

        return combination_scores(target, prediction)
