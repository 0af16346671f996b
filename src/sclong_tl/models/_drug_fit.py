"""Training of the drug models: mini-batches, Adam, early stopping on validation loss, optional scLong fine-tuning."""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sclong_tl._progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch

    from ._drug_base import DrugModel

logger = logging.getLogger(__name__)


def fit(
    model: DrugModel,
    examples: pd.DataFrame,
    *,
    validation: pd.DataFrame | None = None,
    max_epochs: int = 100,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int = 10,
    validation_fraction: float = 0.1,
    finetune_lr: float = 1e-5,
    cell_key: str | None = None,
    drug_keys: Sequence[str] | None = None,
    target_key: str | None = None,
    drugs: Mapping[str, str] | None = None,
    progress: bool | None = None,
) -> None:
    """Train ``model.network`` (and scLong when the model was built with ``finetune=True``).

    Parameters
    ----------
    model
        The drug model.
    examples
        Training examples (cell line, drug(s), target).
    validation
        Validation examples; None draws ``validation_fraction`` of ``examples`` (seeded by the model's
        ``random_state``).
    max_epochs
        Upper bound on passes over the training examples (the paper: 500 for drug response).
    batch_size
        Examples per step (the paper: 64 for drug response, 256 for combinations).
    lr, weight_decay
        Adam settings of the head (the paper: 1e-3 for drug response, 1e-4 for combinations).
    patience
        Epochs without a lower validation loss before stopping; the best epoch's weights are kept.
    validation_fraction
        See ``validation``.
    finetune_lr
        Adam learning rate of the scLong weights when fine-tuning.
    cell_key, drug_keys, target_key
        Column names (defaults: the model's).
    drugs
        SMILES of further drugs (name -> SMILES).
    progress
        Progress bar over epochs (None: the model's setting).

    Returns
    -------
    Nothing; sets ``model.history`` (per-epoch ``train_loss`` and ``validation_loss``), ``model.fit_params`` and
    ``model.target_stats``.
    """
    import torch

    if max_epochs < 1:
        raise ValueError(f"max_epochs must be at least 1, got {max_epochs}")
    target_key = target_key or model.TARGET_KEY
    if drugs is not None:
        model.add_drugs(drugs)
    rng = np.random.default_rng(model.random_state)
    if validation is None:
        if not 0 < validation_fraction < 1:
            raise ValueError("validation_fraction must be in (0, 1) when no validation examples are given")
        order = rng.permutation(len(examples))
        n_validation = max(1, round(validation_fraction * len(examples)))
        validation, examples = examples.iloc[order[:n_validation]], examples.iloc[order[n_validation:]]
    for frame, what in ((examples, "training"), (validation, "validation")):
        if target_key not in frame.columns:
            raise KeyError(f"target column {target_key!r} not found in the {what} examples")
        if len(frame) == 0:
            raise ValueError(f"no {what} examples")
    train = _prepared(model, examples, cell_key, drug_keys, target_key, fit_stats=True)
    held_out = _prepared(model, validation, cell_key, drug_keys, target_key, fit_stats=False)

    finetune = bool(model.init_params["finetune"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model.random_state)
        groups = [{"params": model.network.parameters(), "lr": lr}]
        if finetune:
            assert model.scfm is not None
            model.scfm.module.train()
            groups.append({"params": model.scfm.module.parameters(), "lr": finetune_lr})
        optimiser = torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)
        history: list[dict[str, float]] = []
        best_loss, best_state, stale = math.inf, None, 0
        with progress_bar(
            range(max_epochs),
            enabled=model.progress if progress is None else progress,
            desc=type(model).__name__,
            unit="epoch",
        ) as bar:
            for epoch in bar:
                model.network.train()
                train_loss = _epoch(model, train, optimiser, rng.permutation(len(train["rows"])), batch_size, finetune)
                validation_loss = _evaluate(model, held_out, finetune)
                history.append({"epoch": epoch, "train_loss": train_loss, "validation_loss": validation_loss})
                bar.set_postfix(train=f"{train_loss:.4f}", validation=f"{validation_loss:.4f}")
                if not math.isfinite(validation_loss):
                    raise ValueError(
                        f"training diverged at epoch {epoch} (validation loss {validation_loss}); "
                        "lower lr= or check the inputs"
                    )
                if validation_loss < best_loss - 1e-6:
                    best_loss, stale = validation_loss, 0
                    best_state = _snapshot(model, finetune)
                else:
                    stale += 1
                    if stale >= patience:
                        break
    assert best_state is not None
    model.network.load_state_dict(best_state["network"])
    model.network.eval()
    if finetune:
        _finish_finetuning(model, best_state["scfm"])
    model.history = history
    model.fit_params = {
        "max_epochs": max_epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "patience": patience,
        "validation_fraction": validation_fraction,
        "finetune_lr": finetune_lr,
        "n_train": len(train["rows"]),
        "n_validation": len(held_out["rows"]),
        "best_epoch": int(np.argmin([h["validation_loss"] for h in history])),
        "epochs_run": len(history),
    }
    logger.info(
        "%s: trained %d epochs, best validation loss %.4f (epoch %d)",
        type(model).__name__,
        len(history),
        best_loss,
        model.fit_params["best_epoch"],
    )


def _prepared(
    model: DrugModel,
    frame: pd.DataFrame,
    cell_key: str | None,
    drug_keys: Sequence[str] | None,
    target_key: str,
    *,
    fit_stats: bool,
) -> dict[str, Any]:
    import torch

    rows, drug_index, names = model.examples(frame, cell_key=cell_key, drug_keys=drug_keys)
    raw = frame[target_key].to_numpy(dtype=np.float64)
    if not np.isfinite(raw).all():
        raise ValueError(f"the target column {target_key!r} has NaN or infinite values")
    if fit_stats:
        model.target_stats = {"mean": float(raw.mean()), "sd": float(raw.std()) or 1.0}
    target = torch.as_tensor(model.transform_target(raw), device=model.device)
    return {"rows": rows, "drug_index": drug_index, "names": names, "target": target}


def _cell_values(model: DrugModel, rows: np.ndarray, finetune: bool) -> tuple[torch.Tensor, np.ndarray]:
    """Cell vectors the batch reads (all lines, or the batch's lines re-encoded when fine-tuning) and row indices."""
    import torch

    if not finetune:
        return model.cell_tensor(), rows
    from ._cell_lines import trainable_gene_values

    assert model.scfm is not None and model.features.inputs is not None
    distinct, inverse = np.unique(rows, return_inverse=True)
    inputs = torch.as_tensor(model.features.inputs[distinct], device=model.device)
    positions = torch.as_tensor(model.features.positions, device=model.device)
    values = trainable_gene_values(model.scfm.module, inputs, positions)
    mean = torch.as_tensor(model.features.mean, device=model.device)
    scale = torch.as_tensor(model.features.scale, device=model.device)
    return (values - mean) / scale, inverse


def _epoch(
    model: DrugModel,
    data: dict[str, Any],
    optimiser: torch.optim.Optimizer,
    order: np.ndarray,
    batch_size: int,
    finetune: bool,
) -> float:
    total, count = 0.0, 0
    cells = None if finetune else model.cell_tensor()
    for start in range(0, len(order), batch_size):
        part = order[start : start + batch_size]
        if cells is None:
            values, rows = _cell_values(model, data["rows"][part], True)
        else:
            values, rows = cells, data["rows"][part]
        output = model.network(*model.batch(rows, data["drug_index"][part], data["names"], values))
        loss = model.loss(output, data["target"][part])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        total += float(loss.detach()) * len(part)
        count += len(part)
    return total / max(count, 1)


def _evaluate(model: DrugModel, data: dict[str, Any], finetune: bool, batch_size: int = 1024) -> float:
    import torch

    model.network.eval()
    if finetune:
        assert model.scfm is not None
        model.scfm.module.eval()
    total = 0.0
    with torch.no_grad():
        cells = None if finetune else model.cell_tensor()
        for start in range(0, len(data["rows"]), batch_size):
            part = slice(start, start + batch_size)
            if cells is None:
                values, rows = _cell_values(model, data["rows"][part], True)
            else:
                values, rows = cells, data["rows"][part]
            output = model.network(*model.batch(rows, data["drug_index"][part], data["names"], values))
            total += float(model.loss(output, data["target"][part])) * len(rows)
    if finetune:
        assert model.scfm is not None
        model.scfm.module.train()
    return total / len(data["rows"])


def _snapshot(model: DrugModel, finetune: bool) -> dict[str, Any]:
    state = {"network": copy.deepcopy(model.network.state_dict())}
    if finetune:
        assert model.scfm is not None
        state["scfm"] = copy.deepcopy(model.scfm.module.state_dict())
    return state


def _finish_finetuning(model: DrugModel, scfm_state: dict[str, Any]) -> None:
    """Keep the best epoch's scLong weights and re-cache every line's vector with them (eval mode)."""
    from ._cell_lines import gene_values

    assert model.scfm is not None and model.features.inputs is not None
    model.scfm.module.load_state_dict(scfm_state)
    model.scfm.module.eval()
    model.features.values = gene_values(
        model.scfm, model.features.inputs, model.features.positions, batch_size=model.batch_size, dtype=model.dtype
    )
    model.features.scfm = {**model.features.scfm, "finetuned": True}
