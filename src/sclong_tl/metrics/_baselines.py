"""Simple perturbation baselines: No-Change, mean change and additive (the rows a user expects next to a model)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._conditions import parse_condition
from ._perturbation import as_profile_frame

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def _frame(rows: dict[str, np.ndarray], genes: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        np.vstack(list(rows.values())) if rows else np.zeros((0, len(genes))), index=list(rows), columns=list(genes)
    )


def no_change_prediction(control: pd.Series, conditions: Sequence[str]) -> pd.DataFrame:
    """No-Change baseline: every condition predicted as the control mean profile.

    Parameters
    ----------
    control
        Mean profile of the control cells (a Series indexed by gene).
    conditions
        Conditions to predict.

    Returns
    -------
    DataFrame conditions x genes, every row equal to ``control``.
    """
    base = control.to_numpy(dtype=np.float64)
    return _frame({c: base for c in conditions}, control.index)


def mean_change_prediction(control: pd.Series, training: Any, conditions: Sequence[str]) -> pd.DataFrame:
    """Mean-change baseline: control plus the average change of the training conditions.

    Parameters
    ----------
    control
        Mean control profile (Series indexed by gene).
    training
        Mean profiles of the training perturbations (conditions x genes, see :func:`perturbation_scores`).
    conditions
        Conditions to predict.

    Returns
    -------
    Predicted profiles, conditions x genes.
    """
    training = as_profile_frame(training, control.index)[list(control.index)]
    if training.empty:
        raise ValueError("the mean-change baseline needs at least one training condition")
    base = control.to_numpy(dtype=np.float64)
    shift = (training.to_numpy() - base).mean(axis=0)
    return _frame({c: base + shift for c in conditions}, control.index)


def additive_prediction(
    control: pd.Series, singles: Any, conditions: Sequence[str], *, control_name: str = "ctrl"
) -> pd.DataFrame:
    """Additive baseline: control plus the sum of the observed single-perturbation changes.

    Parameters
    ----------
    control
        Mean control profile (Series indexed by gene).
    singles
        Mean profiles including the single perturbations of every gene in ``conditions``, any GEARS spelling
        (``"A+ctrl"``, ``"ctrl+A"``, ``"A"``); other rows are ignored.
    conditions
        Conditions to predict.
    control_name
        Name of the control condition.

    Returns
    -------
    Predicted profiles, conditions x genes.
    """
    singles = as_profile_frame(singles, control.index)[list(control.index)]
    base = control.to_numpy(dtype=np.float64)
    single_change = {}
    for name in singles.index:
        genes = parse_condition(str(name), control=control_name)
        if len(genes) == 1:
            single_change[genes[0]] = singles.loc[name].to_numpy() - base
    rows = {}
    for condition in conditions:
        genes = parse_condition(condition, control=control_name)
        missing = [g for g in genes if g not in single_change]
        if missing:
            raise ValueError(f"additive baseline for {condition!r}: no observed single perturbation of {missing}")
        rows[condition] = base + sum((single_change[g] for g in genes), np.zeros_like(base))
    return _frame(rows, control.index)
