"""Cancer drug response (ln IC50) from a cell line's expression and a drug's structure (paper Fig. 4b, DeepCDR)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ._drug_base import DrugModel

if TYPE_CHECKING:  # pragma: no cover
    import torch


class DrugResponseModel(DrugModel):
    """Regression of a drug response (ln IC50) of a cell line, on scLong representations (or raw expression).

    The cell line's expression goes through scLong (frozen by default: every line's vector is computed once and
    cached); its per-gene representations are mean-pooled over ``d`` (one value per gene) and standardised; the
    drug's molecule graph (:func:`sclong_tl.pp.molecule_graph`) goes through a GCN; the paper's regression module
    combines both (:class:`~sclong_tl.model.drug.DrugResponseNetwork`). The target is standardised with the
    training mean and SD and predicted on its own scale. Loss: MSE; Adam (1e-3, betas 0.9 / 0.999, eps 1e-8);
    early stopping on the validation loss.

    Parameters
    ----------
    cells
        Cell lines x genes (``obs_names`` = cell-line names used in the examples): raw counts or non-negative
        log-scale expression for scLong (z-scored data must first be mapped to non-negative values, see
        :func:`sclong_tl.datasets.gdsc_tgsa`); any real values for ``model=None``.
    model
        The scLong model (:func:`~sclong_tl.load_model` argument); None uses the expression itself (the DeepCDR
        baseline: the same head on raw expression).
    drugs
        Drug name -> SMILES (more can be added by :meth:`fit` / :meth:`predict` / :meth:`add_drugs`).
    layer, gene_key, is_counts
        Where the expression and gene names are, and whether it holds counts (None: detected).
    finetune
        Train scLong's weights together with the head (the cell-line vectors are then recomputed for every
        batch; slow on CPU). Fine-tuned scLong weights are not saved: a loaded fine-tuned model predicts for the
        cell lines it knows.
    dropout
        Dropout probability (default 0.1, the paper's).
    random_state
        Seed of the initialisation, the validation draw and the batch order; equal seeds give equal results.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``.
    batch_size, dtype
        scLong encoding batch size and precision (see :meth:`sclong_tl.ScLongModel.encode`).
    progress
        Progress bars (None: :attr:`sclong_tl.settings.progress`).
    features
        Prepared cell-line vectors (what :meth:`load` passes).

    Notes
    -----
    The methods (``fit``, ``predict``, ``score``, ``save``, ``load``) are described on
    :class:`~sclong_tl.models.DrugModel`.

    After construction, ``network`` is the :class:`~sclong_tl.model.drug.DrugResponseNetwork`, ``features`` the
    cell-line vectors, ``drugs`` the known drugs (name to SMILES) and ``history`` the per-epoch losses of the last
    ``fit``.

    Examples
    --------
    >>> data = sl.datasets.gdsc_tgsa()                                        # doctest: +SKIP
    >>> model = sl.tl.DrugResponseModel(data.cells, layer="shifted", drugs=data.drugs)  # doctest: +SKIP
    >>> model.fit(data.pairs.iloc[:80000]).score(data.pairs.iloc[80000:])    # doctest: +SKIP
    """

    KIND: ClassVar[str] = "drug_response"
    DRUG_KEYS: ClassVar[tuple[str, ...]] = ("drug",)
    TARGET_KEY: ClassVar[str] = "ln_ic50"

    def build_network(self, n_features: int, dropout: float | None) -> torch.nn.Module:
        """The :class:`~sclong_tl.model.drug.DrugResponseNetwork`."""
        from sclong_tl.model.drug import DrugResponseNetwork
        from sclong_tl.pp._molecules import N_ATOM_FEATURES

        return DrugResponseNetwork(n_features, N_ATOM_FEATURES, dropout=0.1 if dropout is None else dropout)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean squared error on the standardised target."""
        import torch

        return torch.nn.functional.mse_loss(output, target)

    def transform_target(self, target: np.ndarray) -> np.ndarray:
        """``(target - mean) / sd`` with the training statistics."""
        return ((target - self.target_stats["mean"]) / self.target_stats["sd"]).astype(np.float32)

    def output_columns(self, output: np.ndarray) -> dict[str, np.ndarray]:
        """``prediction``: the response on the target's own scale."""
        if not self.target_stats:
            raise ValueError("the model is not trained yet; call fit() first")
        return {"prediction": output * self.target_stats["sd"] + self.target_stats["mean"]}

    def metrics(self, target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
        """:func:`sclong_tl.metrics.response_scores`: ``pearson``, ``spearman``, ``rmse`` and ``n``."""
        from sclong_tl.metrics._drug import response_scores

        return response_scores(target, prediction)
