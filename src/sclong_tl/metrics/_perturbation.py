"""Perturbation-prediction metrics, the GEARS "simulation" split and simple baselines (paper Fig. 2).

Conditions use GEARS notation: ``"ctrl"`` for control cells, ``"GENE+ctrl"`` for a single perturbation,
``"GENEA+GENEB"`` for a double perturbation (``"ctrl+GENE"`` and a bare ``"GENE"`` are read as singles).

- :func:`top_de_genes` - the top differentially expressed genes of each condition against control.
- :func:`perturbation_scores` - MSE and Pearson of predicted vs true change (all genes and top DE genes).
- :func:`gi_magnitude` - genetic-interaction magnitude ``sqrt(a^2 + b^2)`` of
  ``delta_ab ~ a delta_a + b delta_b + c``.
- :func:`simulation_split` - GEARS' split with the Seen 0/1, 0/2, 1/2, 2/2 test categories.
- :func:`no_change_prediction`, :func:`additive_prediction`, :func:`mean_change_prediction` - baselines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from anndata import AnnData

SEEN_CATEGORIES = ("Seen 0/1", "Seen 0/2", "Seen 1/2", "Seen 2/2")
DE_METHODS = ("t-test", "non_dropout")


# ------------------------------------------------------------------------------------------------ conditions
def parse_condition(condition: str, *, control: str = "ctrl") -> tuple[str, ...]:
    """The perturbed genes of a condition in GEARS notation.

    Parameters
    ----------
    condition
        ``"ctrl"``, ``"A+ctrl"``, ``"ctrl+A"``, ``"A"`` or ``"A+B"``.
    control
        Name of the control condition (and of the placeholder in singles).

    Returns
    -------
    The perturbed genes in the order written (empty for the control).
    """
    if not isinstance(condition, str) or not condition.strip():
        raise ValueError(f"a condition must be a non-empty string, got {condition!r}")
    parts = [part.strip() for part in condition.split("+")]
    if any(not part for part in parts):
        raise ValueError(f"malformed condition {condition!r}: empty gene name around '+'")
    genes = tuple(part for part in parts if part != control)
    if len(set(genes)) != len(genes):
        raise ValueError(f"condition {condition!r} names a gene twice")
    return genes


def canonical_condition(genes: Sequence[str], *, control: str = "ctrl") -> str:
    """GEARS name of a condition: ``control``, ``"A+ctrl"`` or ``"A+B"``."""
    genes = tuple(genes)
    if not genes:
        return control
    if len(genes) == 1:
        return f"{genes[0]}+{control}"
    return "+".join(genes)


# ------------------------------------------------------------------------------------------------ DE genes
def _dense(X: Any) -> np.ndarray:
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)


def _welch_t(group: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Welch t statistic per gene (scanpy's ``t-test``; NaN, e.g. two constant groups, becomes 0)."""
    n_group, n_reference = group.shape[0], reference.shape[0]
    if n_group < 2 or n_reference < 2:
        raise ValueError("a t-test needs at least 2 cells in the condition and in the control")
    difference = group.mean(axis=0) - reference.mean(axis=0)
    spread = np.sqrt(group.var(axis=0, ddof=1) / n_group + reference.var(axis=0, ddof=1) / n_reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = difference / spread
    scores[np.isnan(scores)] = 0.0
    return scores


def top_de_genes(
    adata: AnnData,
    *,
    condition_key: str = "condition",
    control: str = "ctrl",
    n_genes: int = 20,
    method: str = "t-test",
    layer: str | None = None,
    conditions: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """Top differentially expressed genes of each condition against the control cells.

    Genes are ranked by the absolute Welch t statistic of the condition's cells against the control cells on
    log-normalised expression: scanpy's ``rank_genes_groups(method="t-test", reference=control,
    rankby_abs=True)``, the ranking GEARS and the scLong paper's GEARS-based evaluation use for their
    "top 20 DE genes".

    Parameters
    ----------
    adata
        Cells x genes, log-normalised (``log1p`` of counts normalised per cell), with the condition of each cell
        in ``obs[condition_key]``.
    condition_key
        Column of ``obs`` with the conditions.
    control
        Name of the control condition.
    n_genes
        Genes kept per condition.
    method
        ``"t-test"`` (the paper's top DE genes, see above) or ``"non_dropout"`` (GEARS'
        ``top_non_dropout_de_20``: the same ranking, dropping genes whose mean is 0 in the condition but not in
        the control).
    layer
        Layer to use instead of ``X``.
    conditions
        Conditions to rank (default: every condition except the control).

    Returns
    -------
    Condition -> its top genes (``var_names``), best first.
    """
    if method not in DE_METHODS:
        raise ValueError(f"method must be one of {DE_METHODS}, got {method!r}")
    if n_genes < 1:
        raise ValueError(f"n_genes must be positive, got {n_genes}")
    if condition_key not in adata.obs:
        raise KeyError(f"obs[{condition_key!r}] not found; columns: {list(adata.obs.columns)}")
    labels = adata.obs[condition_key].astype(str).to_numpy()
    if not (labels == control).any():
        raise ValueError(f"no control cells: no obs[{condition_key!r}] == {control!r}")
    matrix = adata.X if layer is None else adata.layers[layer]
    reference = _dense(matrix[np.flatnonzero(labels == control)])
    wanted = [c for c in dict.fromkeys(labels) if c != control] if conditions is None else list(conditions)
    genes = np.asarray(adata.var_names)
    result: dict[str, list[str]] = {}
    for condition in wanted:
        rows = np.flatnonzero(labels == condition)
        if rows.size == 0:
            raise ValueError(f"condition {condition!r} has no cells in obs[{condition_key!r}]")
        result[condition] = genes[de_gene_indices(_dense(matrix[rows]), reference, n_genes, method=method)].tolist()
    return result


def de_gene_indices(group: np.ndarray, reference: np.ndarray, n_genes: int = 20, *,
                    method: str = "t-test") -> np.ndarray:
    """Column indices of the top DE genes of ``group`` (cells x genes) against ``reference`` cells.

    See :func:`top_de_genes` for ``method``; ties keep the column order.
    """
    if method not in DE_METHODS:
        raise ValueError(f"method must be one of {DE_METHODS}, got {method!r}")
    group, reference = np.asarray(group, np.float64), np.asarray(reference, np.float64)
    order = np.argsort(-np.abs(_welch_t(group, reference)), kind="stable")
    if method == "non_dropout":
        keep = (group.mean(axis=0) != 0) | (reference.mean(axis=0) == 0)
        order = order[keep[order]]
    return order[:n_genes]


# ------------------------------------------------------------------------------------------------ scores
def as_profile_frame(profiles: Any, genes: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean profiles (conditions x genes) as a DataFrame from a DataFrame, an AnnData or a mapping."""
    import pandas as pd

    if isinstance(profiles, pd.DataFrame):
        frame = profiles
    elif hasattr(profiles, "obs_names") and hasattr(profiles, "var_names"):
        frame = pd.DataFrame(_dense(profiles.X), index=profiles.obs_names.astype(str),
                             columns=profiles.var_names.astype(str))
    elif isinstance(profiles, Mapping):
        if genes is None:
            raise ValueError("genes are needed to read profiles given as a mapping")
        frame = pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in profiles.items()},
                             index=list(genes)).T
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
        raise ValueError(f"{len(missing_genes)} observed genes lack a prediction or control value, "
                         f"e.g. {missing_genes[:5]}")
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
            row.update(mse_de=float(np.mean((pred[index] - true[index]) ** 2)),
                       pearson_delta_de=_pearson(pred[index], true[index]), n_de=int(index.size))
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(predicted.index, name="condition"))


# ------------------------------------------------------------------------------------------------ GI
def gi_magnitude(
    delta_a: Any,
    delta_b: Any,
    delta_ab: Any,
    *,
    method: str = "ols",
    return_coefficients: bool = False,
) -> float | dict[str, float]:
    """Genetic-interaction magnitude of a double perturbation (Norman et al. 2019; GEARS; scLong Fig. 2).

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


# ------------------------------------------------------------------------------------------------ split
@dataclass
class SimulationSplit:
    """A GEARS simulation split of perturbation conditions.

    Attributes
    ----------
    train, test
        Conditions (control excluded).
    train_genes
        Genes whose single perturbations are in ``train``.
    categories
        ``"Seen 0/1"`` (unseen single), ``"Seen 0/2"``, ``"Seen 1/2"``, ``"Seen 2/2"`` (doubles with 0, 1, 2
        genes seen in training alone) -> test conditions.
    """

    train: list[str]
    test: list[str]
    train_genes: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)


def seen_category(condition: str, train_genes: Iterable[str], *, control: str = "ctrl") -> str:
    """``"Seen k/n"``: how many of a condition's ``n`` perturbed genes are among ``train_genes``."""
    genes = parse_condition(condition, control=control)
    if not genes:
        raise ValueError("the control condition has no Seen category")
    known = set(train_genes)
    return f"Seen {sum(g in known for g in genes)}/{len(genes)}"


def simulation_split(
    conditions: Iterable[str],
    *,
    control: str = "ctrl",
    train_gene_fraction: float = 0.75,
    seen2_train_fraction: float = 0.75,
    random_state: int = 0,
) -> SimulationSplit:
    """GEARS' "simulation" split: hold out perturbed genes, then sort doubles by how many genes were seen.

    A fraction of the perturbed genes is drawn for training; their singles go to training. Doubles of two
    training genes are split at random (``seen2_train_fraction`` to training, the rest tested as Seen 2/2);
    doubles with one or no training gene and singles of held-out genes are tested (Seen 1/2, 0/2, 0/1).
    For a validation split, call it again on ``split.train`` (GEARS uses 0.9 and 0.9).

    Parameters
    ----------
    conditions
        Condition names (the control and duplicates are ignored).
    control
        Name of the control condition.
    train_gene_fraction
        Fraction of the perturbed genes whose singles are trained on.
    seen2_train_fraction
        Fraction of the doubles of two training genes trained on.
    random_state
        Seed (numpy ``default_rng``; the global RNG is not touched).

    Returns
    -------
    The split.
    """
    if not 0 < train_gene_fraction < 1 or not 0 <= seen2_train_fraction <= 1:
        raise ValueError("train_gene_fraction must be in (0, 1) and seen2_train_fraction in [0, 1]")
    unique = [c for c in dict.fromkeys(conditions) if c != control]
    parsed = {c: parse_condition(c, control=control) for c in unique}
    genes = sorted({g for gs in parsed.values() for g in gs})
    if len(genes) < 2:
        raise ValueError("a simulation split needs at least 2 perturbed genes")
    rng = np.random.default_rng(random_state)
    n_train = min(max(int(len(genes) * train_gene_fraction), 1), len(genes) - 1)
    train_genes = sorted(rng.choice(genes, size=n_train, replace=False).tolist())
    known = set(train_genes)
    singles = [c for c in unique if len(parsed[c]) == 1]
    doubles = [c for c in unique if len(parsed[c]) > 1]
    train = [c for c in singles if parsed[c][0] in known]
    categories = {name: [] for name in SEEN_CATEGORIES}
    categories["Seen 0/1"] = [c for c in singles if parsed[c][0] not in known]
    seen_two = []
    for c in doubles:
        n_seen = sum(g in known for g in parsed[c])
        if n_seen == len(parsed[c]):
            seen_two.append(c)
        else:
            categories.setdefault(f"Seen {n_seen}/{len(parsed[c])}", []).append(c)
    seen_two = sorted(seen_two)
    n_seen_two_train = int(len(seen_two) * seen2_train_fraction)
    picked = set(rng.choice(seen_two, size=n_seen_two_train, replace=False).tolist()) if seen_two else set()
    train += [c for c in seen_two if c in picked]
    categories["Seen 2/2"] = [c for c in seen_two if c not in picked]
    test = [c for name in categories for c in categories[name]]
    return SimulationSplit(train=train, test=test, train_genes=train_genes, categories=categories)


# ------------------------------------------------------------------------------------------------ baselines
def _frame(rows: dict[str, np.ndarray], genes: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(np.vstack(list(rows.values())) if rows else np.zeros((0, len(genes))),
                        index=list(rows), columns=list(genes))


def no_change_prediction(control: pd.Series, conditions: Sequence[str]) -> pd.DataFrame:
    """No-Change baseline: every condition predicted as the control mean profile (``control``, a Series)."""
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


def additive_prediction(control: pd.Series, singles: Any, conditions: Sequence[str], *,
                        control_name: str = "ctrl") -> pd.DataFrame:
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
