"""``sclong_tl.predict_perturbation``: the one-call perturbation tool.

The model is :class:`~sclong_tl.models.PerturbationModel`.

Contract: like :func:`scanpy.get.aggregate`, the tool returns a new AnnData with one observation per requested
condition over the data's genes and writes nothing into the data; its record is ``result.uns[key_added]``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sclong_tl._anndata import select_modality
from sclong_tl._cpu import with_torch_threads
from sclong_tl._provenance import params_record

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from sclong_tl.models import PerturbationModel, ScLongModel

logger = logging.getLogger(__name__)

DEFAULT_KEY = "sclong_perturbation"


@with_torch_threads
def predict_perturbation(
    data: Any,
    perturbations: Sequence[str] | str,
    *,
    model: ScLongModel | str | os.PathLike = "default",
    perturbation_model: PerturbationModel | None = None,
    condition_key: str = "condition",
    control: str = "ctrl",
    n_control_cells: int = 300,
    random_state: int = 0,
    representation: str = "per_cell",
    layer: str | None = None,
    values: str = "auto",
    gene_key: str | None = None,
    modality: str = "rna",
    train_conditions: Sequence[str] | None = None,
    max_epochs: int = 20,
    max_cells_per_condition: int | None = None,
    key_added: str = DEFAULT_KEY,
    progress: bool | None = None,
) -> AnnData:
    """Predict mean expression profiles after genetic perturbations (GEARS-style head on scLong).

    Parameters
    ----------
    data
        Perturbation experiments: an AnnData (or MuData, its ``modality``), cells x genes with
        ``obs[condition_key]`` in GEARS notation, control cells included (raw counts or log-normalised).
    perturbations
        Conditions to predict, e.g. ``["FOXA1", "FOXA1+HOXB9"]`` (a bare gene is a single perturbation);
        unseen genes and combinations are allowed when their genes are GO-graph nodes.
    model
        The scLong foundation model the head is fitted on (an :class:`~sclong_tl.ScLongModel`, a name or a
        path); not used with ``perturbation_model``.
    perturbation_model
        A fitted :class:`~sclong_tl.models.PerturbationModel` (its genes must be ``data``'s); None fits one
        on ``data`` (see :meth:`~sclong_tl.models.PerturbationModel.fit`).
    condition_key
        Column of ``obs`` with the conditions.
    control
        Name of the control condition.
    n_control_cells
        Control cells drawn (seeded) and encoded by scLong.
    random_state
        Seed of the control-cell draw, initialisation and training.
    representation
        ``"per_cell"`` or ``"mean"`` control representations (see :class:`~sclong_tl.models.PerturbationModel`).
    layer, gene_key
        Expression layer and ``var`` column with gene names.
    values
        What the matrix holds: ``"auto"`` (detected), ``"counts"``, ``"normalized"`` or ``"log1p"`` (as in
        :func:`sclong_tl.embed`).
    modality
        Modality of a MuData.
    train_conditions
        Conditions to fit on (default: all non-control conditions of ``data``).
    max_epochs, max_cells_per_condition
        Training length and per-condition cell cap (see :meth:`~sclong_tl.models.PerturbationModel.fit`).
    key_added
        Key of the record in the result's ``.uns``.
    progress
        Progress bars (None: :attr:`sclong_tl.settings.progress`).

    Returns
    -------
    A new AnnData of predictions (as :meth:`~sclong_tl.models.PerturbationModel.predict`; like
    :func:`scanpy.get.aggregate`, ``data`` is not modified): ``obs`` = requested conditions (``condition``,
    ``seen``), ``var`` = genes, ``X`` = predicted mean log-normalised profiles, ``layers["delta"]`` = prediction
    minus control mean, ``uns["control_mean"]`` and ``uns[key_added]["params"]`` (scLong model name and sha256,
    head and fitting settings, trained conditions).
    """
    from sclong_tl.models import PerturbationModel

    adata = select_modality(data, modality)
    _check_request(
        adata,
        perturbations,
        perturbation_model=perturbation_model,
        condition_key=condition_key,
        control=control,
        n_control_cells=n_control_cells,
        representation=representation,
        layer=layer,
        values=values,
        max_epochs=max_epochs,
        key_added=key_added,
    )
    head = perturbation_model
    if head is None:
        head = PerturbationModel(
            adata,
            model,
            condition_key=condition_key,
            control=control,
            n_control_cells=n_control_cells,
            representation=representation,
            layer=layer,
            values=values,
            gene_key=gene_key,
            random_state=random_state,
            progress=progress,
        )
        head.fit(
            train_conditions, max_epochs=max_epochs, max_cells_per_condition=max_cells_per_condition, progress=progress
        )
    else:
        head.validate_genes(adata)
    result = head.predict(perturbations)
    scfm = head.controls.scfm
    result.uns[key_added] = {
        "params": params_record(
            "predict_perturbation",
            None,
            model=scfm["name"],
            model_sha256=scfm.get("sha256"),
            perturbations=list(result.obs_names),
            trained_conditions=list(head.trained_conditions),
            n_control_cells=len(head.controls.expression),
            init_params=_writable(head.init_params),
            fit=_writable(head.fit_params),
            modality=modality if adata is not data else None,
        )
    }
    logger.info(
        "predict_perturbation: %d conditions x %d genes; record in result.uns[%r]",
        result.n_obs,
        result.n_vars,
        key_added,
    )
    return result


def _check_request(
    adata: AnnData,
    perturbations: Sequence[str] | str,
    *,
    perturbation_model: Any,
    condition_key: str,
    control: str,
    n_control_cells: int,
    representation: str,
    layer: str | None,
    values: str,
    max_epochs: int,
    key_added: str,
) -> None:
    """Every check :func:`predict_perturbation` can make before scLong encodes the control cells."""
    from sclong_tl._anndata import expression_matrix, obs_labels
    from sclong_tl.metrics._conditions import parse_conditions
    from sclong_tl.models._controls import REPRESENTATIONS
    from sclong_tl.models._perturbation_fit import check_max_epochs
    from sclong_tl.pp._values import check_values_option

    requested = [perturbations] if isinstance(perturbations, str) else list(perturbations)
    if not requested:
        raise ValueError("no perturbations to predict")
    if len(set(requested)) != len(requested):
        raise ValueError("perturbations must be unique")
    parse_conditions(requested, control=control)
    if not isinstance(key_added, str) or not key_added:
        raise ValueError(f"key_added must be a non-empty string, got {key_added!r}")
    if perturbation_model is not None:
        return
    check_max_epochs(max_epochs)
    check_values_option(values)
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
    if isinstance(n_control_cells, bool) or not isinstance(n_control_cells, int) or n_control_cells < 2:
        raise ValueError(f"n_control_cells must be an integer >= 2, got {n_control_cells!r}")
    expression_matrix(adata, layer)
    labels = obs_labels(adata, condition_key)
    n_control = int((labels == control).sum())
    if n_control < 2:
        raise ValueError(f"need at least 2 control cells (obs[{condition_key!r}] == {control!r}), found {n_control}")


def _writable(params: dict[str, Any]) -> dict[str, Any]:
    """h5ad-writable copy: None values left out."""
    return {key: value for key, value in params.items() if value is not None}
