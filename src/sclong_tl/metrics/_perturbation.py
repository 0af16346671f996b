"""Perturbation-prediction scores (paper figure 2).

- :func:`perturbation_scores` - MSE and Pearson of predicted vs true change (all genes and top DE genes).
- :func:`gi_magnitude` - genetic-interaction magnitude ``sqrt(a^2 + b^2)`` of
  ``delta_ab ~ a delta_a + b delta_b + c``.

Conditions (:mod:`~sclong_tl.metrics._conditions`), DE genes (:mod:`~sclong_tl.metrics._de`), the GEARS split
(:mod:`~sclong_tl.metrics._splits`) and baselines (:mod:`~sclong_tl.metrics._baselines`) have their own modules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._de import dense

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def as_profile_frame(profiles: Any, genes: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean profiles (conditions x genes) as a DataFrame from a DataFrame, an AnnData or a mapping.

    Parameters
    ----------
    profiles
        A DataFrame (conditions x genes), an AnnData (``obs_names`` conditions, ``var_names`` genes; for example
        the result of :func:`sclong_tl.predict_perturbation`) or a mapping condition -> profile.
    genes
        Gene names for profiles given without them (arrays in a mapping).

    Returns
    -------
    DataFrame conditions x genes.
    """
    import pandas as pd

    if isinstance(profiles, pd.DataFrame):
        frame = profiles
    elif hasattr(profiles, "obs_names") and hasattr(profiles, "var_names"):
        frame = pd.DataFrame(
            dense(profiles.X), index=profiles.obs_names.astype(str), columns=profiles.var_names.astype(str)
        )
    elif isinstance(profiles, Mapping):
        if genes is None:
            raise ValueError("genes are needed to read profiles given as a mapping")
        frame = pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in profiles.items()}, index=list(genes)).T
    else:
        raise TypeError(f"profiles must be a DataFrame, an AnnData or a mapping, got {type(profiles).__name__}")
    return frame.astype(np.float64)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    norm = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / norm if norm > 0 else float("nan")


def perturbation_scores(
    predicted: Any,
    observed: Any,
    control: Any,
    *,
    de_genes: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """MSE and Pearson of predicted vs observed change against control, per condition.

    Parameters
    ----------
    predicted, observed
        Mean expression profiles, conditions x genes: DataFrames, AnnData (``obs_names`` = conditions, ``X``)
        or mappings condition -> profile (then ``control`` must be a Series naming the genes). Every predicted
        condition must be observed; columns are aligned by gene name.
    control
        Mean control profile: a Series indexed by gene, or an array in the column order of ``observed``.
    de_genes
        Condition -> genes to score separately (e.g. :func:`top_de_genes`); adds ``mse_de``,
        ``pearson_delta_de`` and ``n_de``.

    Returns
    -------
    DataFrame indexed by condition with ``mse`` (all genes, mean squared error of the profiles, equal to
    that of the changes), ``pearson_delta`` (Pearson of predicted vs observed change over all genes) and, with
    ``de_genes``, the same on each condition's DE genes. Pearson is NaN when a change vector is constant.
    """
    import pandas as pd

    genes = list(control.index) if isinstance(control, pd.Series) else None
    observed = as_profile_frame(observed, genes)
    predicted = as_profile_frame(predicted, genes)
    if isinstance(control, pd.Series):
        control = control.astype(np.float64)
    else:
        control = pd.Series(np.asarray(control, dtype=np.float64).ravel(), index=observed.columns)
    missing_genes = [g for g in observed.columns if g not in predicted.columns or g not in control.index]
    if missing_genes:
        raise ValueError(
            f"{len(missing_genes)} observed genes lack a prediction or control value, e.g. {missing_genes[:5]}"
        )
    missing = [c for c in predicted.index if c not in observed.index]
    if missing:
        raise ValueError(f"conditions without observed profile: {missing}")
    columns = list(observed.columns)
    position = {gene: i for i, gene in enumerate(columns)}
    base = control[columns].to_numpy()
    rows = []
    for condition in predicted.index:
        pred = predicted.loc[condition, columns].to_numpy() - base
        true = observed.loc[condition, columns].to_numpy() - base
        row: dict[str, float] = {"mse": float(np.mean((pred - true) ** 2)), "pearson_delta": _pearson(pred, true)}
        if de_genes is not None:
            if condition not in de_genes:
                raise ValueError(f"no DE genes given for condition {condition!r}")
            unknown = [g for g in de_genes[condition] if g not in position]
            if unknown:
                raise ValueError(f"DE genes of {condition!r} not among the genes: {unknown[:5]}")
            index = np.array([position[g] for g in de_genes[condition]], dtype=np.int64)
            row.update(
                mse_de=float(np.mean((pred[index] - true[index]) ** 2)),
                pearson_delta_de=_pearson(pred[index], true[index]),
                n_de=int(index.size),
            )
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(predicted.index, name="condition"))


def gi_magnitude(
    delta_a: Any,
    delta_b: Any,
    delta_ab: Any,
    *,
    method: str = "ols",
    return_coefficients: bool = False,
) -> float | dict[str, float]:
    """Genetic-interaction magnitude of a double perturbation (Norman et al., 2019; GEARS; scLong figure 2).

    Fits ``delta_ab ~ a * delta_a + b * delta_b + c`` over genes (changes against control) and returns
    ``sqrt(a^2 + b^2)``: about 1 for an additive pair, above 1 for synergy, below 1 for buffering.

    Parameters
    ----------
    delta_a, delta_b, delta_ab
        Change of every gene under the single perturbations and the double perturbation (same gene order).
    method
        ``"ols"`` (least squares with intercept) or ``"theil-sen"`` (robust, scikit-learn's
        ``TheilSenRegressor``, seeded).
    return_coefficients
        Return ``{"a", "b", "c", "magnitude"}`` instead of the magnitude alone.

    Returns
    -------
    The magnitude, or the coefficients and magnitude.
    """
    columns = [np.asarray(v, np.float64).ravel() for v in (delta_a, delta_b, delta_ab)]
    if len({c.size for c in columns}) != 1:
        raise ValueError(f"delta_a, delta_b and delta_ab must have the same length, got {[c.size for c in columns]}")
    x, y = np.column_stack(columns[:2]), columns[2]
    if y.size < 3:
        raise ValueError("at least 3 genes are needed to fit the interaction model")
    if method == "ols":
        design = np.column_stack([x, np.ones_like(y)])
        (a, b, c), *_ = np.linalg.lstsq(design, y, rcond=None)
    elif method == "theil-sen":
        from sklearn.linear_model import TheilSenRegressor

        fit = TheilSenRegressor(random_state=0).fit(x, y)
        (a, b), c = fit.coef_, fit.intercept_
    else:
        raise ValueError(f"method must be 'ols' or 'theil-sen', got {method!r}")
    magnitude = math.hypot(float(a), float(b))
    if return_coefficients:
        return {"a": float(a), "b": float(b), "c": float(c), "magnitude": magnitude}
    return magnitude
