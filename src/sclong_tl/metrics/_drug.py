"""Scores of the drug tasks (paper Fig. 4): regression of drug response, classification of combinations."""

from __future__ import annotations

from typing import Any

import numpy as np


def _pair(target: Any, prediction: Any) -> tuple[np.ndarray, np.ndarray]:
    target = np.asarray(target, dtype=np.float64).ravel()
    prediction = np.asarray(prediction, dtype=np.float64).ravel()
    if target.shape != prediction.shape or target.size < 2:
        raise ValueError(f"need two equally long vectors of at least 2 values, got {target.size} and {prediction.size}")
    if not (np.isfinite(target).all() and np.isfinite(prediction).all()):
        raise ValueError("targets and predictions must be finite")
    return target, prediction


def response_scores(target: Any, prediction: Any) -> dict[str, float]:
    """Pearson and Spearman correlation and RMSE of predicted vs measured responses (e.g. ln IC50).

    Parameters
    ----------
    target
        Measured responses.
    prediction
        Predicted responses, same length.

    Returns
    -------
    ``{"pearson", "spearman", "rmse", "n"}``.
    """
    from scipy import stats

    target, prediction = _pair(target, prediction)
    return {
        "pearson": float(stats.pearsonr(target, prediction)[0]),
        "spearman": float(stats.spearmanr(target, prediction)[0]),
        "rmse": float(np.sqrt(np.mean((target - prediction) ** 2))),
        "n": int(target.size),
    }


def combination_scores(labels: Any, scores: Any) -> dict[str, float]:
    """AUROC, AUPRC (average precision) and accuracy at 0.5 of predicted probabilities of 0/1 labels.

    Parameters
    ----------
    labels
        True 0 / 1 labels (both classes present).
    scores
        Predicted probabilities of label 1, same length.

    Returns
    -------
    ``{"auroc", "auprc", "accuracy", "n"}``.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels, scores = _pair(labels, scores)
    if not np.isin(labels, (0, 1)).all() or np.unique(labels).size < 2:
        raise ValueError("labels must be 0 / 1 with both classes present")
    return {
        "auroc": float(roc_auc_score(labels, scores)),
        "auprc": float(average_precision_score(labels, scores)),
        "accuracy": float(np.mean((scores >= 0.5) == (labels == 1))),
        "n": int(labels.size),
    }
