"""Training of a :class:`~sclong_tl.models.PerturbationModel`: examples, validation split, epochs, early stop."""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sclong_tl._anndata import expression_matrix, obs_labels
from sclong_tl._progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ._perturbation import PerturbationModel

logger = logging.getLogger(__name__)


def fit(
    model: PerturbationModel,
    conditions: Sequence[str] | None = None,
    *,
    max_epochs: int = 20,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 5e-4,
    lr_decay: float = 0.5,
    patience: int = 5,
    validation_fraction: float = 0.1,
    max_cells_per_condition: int | None = None,
    gamma: float = 2.0,
    direction_lambda: float = 1e-3,
    n_de_genes: int = 20,
    progress: bool | None = None,
) -> None:
    """Train ``model.network`` on the cells of ``conditions``, keeping the best validation epoch's weights.

    Parameters
    ----------
    model
        The model (with its training data attached).
    conditions
        Perturbation conditions to train on (default: every non-control condition in the data).
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
        Show a progress bar over epochs (None: :attr:`sclong_tl.settings.progress`).

    Returns
    -------
    Nothing; sets ``model.trained_conditions``, ``model.history`` and ``model.fit_params``.
    """
    import torch

    from sclong_tl.metrics import de_gene_indices

    check_max_epochs(max_epochs)
    rng = np.random.default_rng(model.random_state)
    examples = training_examples(model, conditions, max_cells_per_condition=max_cells_per_condition, rng=rng)
    n_conditions = len(examples.conditions)
    train_mask, validation = validation_split(examples.group, n_conditions, validation_fraction, rng)
    validation_de = {
        index: de_gene_indices(examples.target[rows], model.controls.expression, n_de_genes)
        for index, rows in validation.items()
    }
    train_examples = np.flatnonzero(train_mask)
    if train_examples.size < 2:
        raise ValueError("fewer than 2 training cells")
    history: list[dict[str, float]] = []
    best_score, best_state, stale = math.inf, None, 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model.random_state)
        optimizer = torch.optim.Adam(model.network.parameters(), lr=lr, weight_decay=weight_decay)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=lr_decay)
        for epoch in progress_bar(range(max_epochs), enabled=progress, desc="perturbation model", unit="epoch"):
            loss = train_epoch(
                model,
                examples,
                train_examples,
                optimizer,
                rng,
                batch_size=batch_size,
                gamma=gamma,
                direction_lambda=direction_lambda,
            )
            scheduler.step()
            record = {"epoch": epoch + 1, "loss": loss}
            if validation:
                score = validation_score(model, examples, validation, validation_de)
                record["validation_mse_de"] = score
                if score < best_score:
                    best_score, best_state, stale = score, copy.deepcopy(model.network.state_dict()), 0
                else:
                    stale += 1
            history.append(record)
            if validation and stale >= patience:
                break
    if best_state is not None:
        model.network.load_state_dict(best_state)
    model.network.eval()
    model.trained_conditions = examples.conditions
    model.history = history
    model.fit_params = {
        "max_epochs": max_epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "lr_decay": lr_decay,
        "patience": patience,
        "validation_fraction": validation_fraction,
        "max_cells_per_condition": max_cells_per_condition,
        "gamma": gamma,
        "direction_lambda": direction_lambda,
        "n_de_genes": n_de_genes,
        "epochs_run": len(history),
        "validation_conditions": [examples.conditions[i] for i in validation if i < n_conditions],
    }
    logger.info("fitted a perturbation model on %d conditions (%d epochs)", n_conditions, len(history))


def check_max_epochs(max_epochs: int) -> None:
    """Refuse ``max_epochs`` below 1 (0 used to return an untrained network's predictions silently)."""
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int | np.integer) or max_epochs < 1:
        raise ValueError(
            f"max_epochs must be an integer >= 1 (an untrained head predicts nothing useful), got {max_epochs!r}"
        )


@dataclass
class Examples:
    """Training examples: the perturbed cells of each condition, then the drawn control cells.

    Attributes
    ----------
    conditions
        Canonical names of the trained conditions (condition index ``i``); the controls are index ``C``.
    target
        ``(examples, genes)`` log-normalised expression.
    group
        Condition index of every example.
    own_control
        For a control example its control-cell index, else -1.
    tensors
        The network's inputs (see :meth:`PerturbationModel.tensors`) plus ``target`` and ``group``.
    """

    conditions: list[str]
    target: np.ndarray
    group: np.ndarray
    own_control: np.ndarray
    tensors: dict[str, torch.Tensor]


def training_examples(
    model: PerturbationModel,
    conditions: Sequence[str] | None,
    *,
    max_cells_per_condition: int | None,
    rng: np.random.Generator,
) -> Examples:
    """The perturbed cells of ``conditions`` (capped per condition) followed by the drawn control cells."""
    import torch

    from sclong_tl.pp import log_normalized

    if model.adata is None:
        raise ValueError("this model was loaded without data; pass adata to PerturbationModel.load to fit")
    labels = obs_labels(model.adata, model.condition_key)
    available = [c for c in dict.fromkeys(labels) if c != model.control]
    conditions = available if conditions is None else list(dict.fromkeys(conditions))
    missing = [c for c in conditions if c not in set(available)]
    if missing or not conditions:
        raise ValueError(
            f"conditions without cells in obs[{model.condition_key!r}]: {missing}"
            if missing
            else "no perturbation conditions to train on"
        )
    canonical, nodes, self_perturbed = model.resolve(conditions)
    matrix = expression_matrix(model.adata, model.layer)
    cells = []
    for condition in conditions:
        rows = np.flatnonzero(labels == condition)
        if max_cells_per_condition is not None and rows.size > max_cells_per_condition:
            rows = np.sort(rng.choice(rows, size=max_cells_per_condition, replace=False))
        cells.append(rows)
    n_controls = len(model.controls.expression)
    target = np.vstack(
        [log_normalized(matrix[rows], is_counts=model.controls.is_counts) for rows in cells]
        + [model.controls.expression]
    )
    group = np.concatenate(
        [np.full(rows.size, i) for i, rows in enumerate(cells)] + [np.full(n_controls, len(conditions))]
    )
    own_control = np.concatenate([np.full(sum(r.size for r in cells), -1), np.arange(n_controls)])
    nodes = np.vstack([nodes, [[-1, -1]]])
    self_perturbed = np.vstack([self_perturbed, np.zeros((1, len(model.genes)), np.float32)])
    tensors = {
        **model.tensors(nodes, self_perturbed),
        "target": torch.as_tensor(target),
        "group": torch.as_tensor(group),
    }
    return Examples(conditions=canonical, target=target, group=group, own_control=own_control, tensors=tensors)


def validation_split(
    group: np.ndarray, n_conditions: int, fraction: float, rng: np.random.Generator
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


def train_epoch(
    model: PerturbationModel,
    examples: Examples,
    train_examples: np.ndarray,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    *,
    batch_size: int,
    gamma: float,
    direction_lambda: float,
) -> float:
    """One pass over the training examples in random order; the mean batch loss."""
    import torch

    from sclong_tl.model.perturbation import autofocus_direction_loss

    tensors = examples.tensors
    model.network.train()
    order = rng.permutation(train_examples)
    losses = []
    for start in range(0, order.size, batch_size):
        batch = order[start : start + batch_size]
        if batch.size < 2:  # batch norm needs two examples
            continue
        pairing = rng.integers(0, len(model.controls.expression), size=batch.size)
        pairing = np.where(examples.own_control[batch] >= 0, examples.own_control[batch], pairing)
        prediction = model.forward(tensors, torch.as_tensor(pairing), tensors["group"][batch])
        loss = autofocus_direction_loss(
            prediction,
            tensors["target"][batch],
            tensors["control_mean"],
            tensors["group"][batch],
            gamma=gamma,
            direction_lambda=direction_lambda,
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses)) if losses else float("nan")


def validation_score(
    model: PerturbationModel, examples: Examples, validation: dict[int, np.ndarray], de: dict[int, np.ndarray]
) -> float:
    """Mean over validation conditions of the MSE of the predicted mean profile on their top DE genes."""
    indices = list(validation)
    predicted = model.mean_profiles(examples.tensors, indices)
    scores = []
    for row, index in enumerate(indices):
        observed = examples.target[validation[index]].mean(axis=0)
        scores.append(float(np.mean((predicted[row, de[index]] - observed[de[index]]) ** 2)))
    return float(np.mean(scores))
