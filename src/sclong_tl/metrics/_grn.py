"""GRN recovery against a ground-truth network: AUPR ratio and EPR (paper figure 5, as in BEELINE and DeepSEM).

Candidate edges
---------------
Both metrics score a prediction on one fixed set of candidate edges, defined as BEELINE's and DeepSEM's
cell-type-specific evaluation do:

- the evaluated genes are the genes of the ground truth (its sources and targets), restricted to ``genes``
  (the genes the prediction could score, e.g. the dataset's genes) when given;
- the candidate sources are the ground truth's sources among the evaluated genes (or ``tfs`` when given);
- the candidate edges are every ``source -> target`` pair with a candidate source and an evaluated target,
  **self edges excluded** (``n_sources * n_genes - n_sources`` pairs when every source is also a gene);
- the true edges are the ground-truth edges in that set (self edges of the truth are dropped).

A candidate edge the prediction does not contain gets the lowest score (it is ranked after every predicted
edge, all such edges tied). Scores are the absolute edge weights unless ``absolute=False``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["aupr_ratio", "candidate_edges", "epr"]


def aupr_ratio(
    net: Any, truth: Any, genes: Sequence[str] | None = None, *, tfs: Iterable[str] | None = None, absolute: bool = True
) -> float:
    """Area under the precision-recall curve of a predicted network over that of a random predictor.

    The area is scikit-learn's average precision (the step-wise area, as DeepSEM's and scLong's evaluations
    compute it); a random predictor's area is the fraction of candidate edges that are true (the edge density).

    Parameters
    ----------
    net
        The prediction: a DataFrame with columns ``source, target, weight`` (the decoupler network format;
        ``TF, Target, EdgeWeight`` and ``Gene1, Gene2, EdgeWeight`` are also accepted), or a square
        ``(genes, genes)`` dense or scipy sparse matrix with rows as sources and columns as targets (then
        ``genes`` names its rows and columns; zero entries count as absent edges).
    truth
        Ground-truth edges: a DataFrame whose first two columns are source and target, or pairs.
    genes
        Genes the prediction covers (required for a matrix ``net``); the evaluation is restricted to them.
    tfs
        Candidate sources (default: the ground truth's sources).
    absolute
        Rank edges by the absolute value of their weight (as BEELINE and DeepSEM do).

    Returns
    -------
    AUPR ratio (1 = random, higher is better).

    See the module docstring for the exact candidate edge set.
    """
    from sklearn.metrics import average_precision_score

    _, _, labels, scores = _evaluate(net, truth, genes, tfs=tfs, absolute=absolute)
    return float(average_precision_score(labels, scores) / labels.mean())


def epr(
    net: Any, truth: Any, genes: Sequence[str] | None = None, *, tfs: Iterable[str] | None = None, absolute: bool = True
) -> float:
    """Early precision ratio: precision among the top-K predicted edges over a random predictor's precision.

    K is the number of true candidate edges; a random predictor's precision is the edge density
    ``K / n_candidates``. Edges tied with the K-th score are credited their expected share of true edges (the
    mean over random tie-breaking), so the result does not depend on the order of ``net``.

    Parameters
    ----------
    net, truth, genes, tfs, absolute
        See :func:`aupr_ratio`.

    Returns
    -------
    EPR (1 = random, higher is better).
    """
    _, _, labels, scores = _evaluate(net, truth, genes, tfs=tfs, absolute=absolute)
    k = int(labels.sum())
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    above, tied = scores > kth, scores == kth
    n_above = int(above.sum())
    hits = labels[above].sum() + (k - n_above) * labels[tied].sum() / tied.sum()
    return float((hits / k) / labels.mean())


def candidate_edges(
    net: Any, truth: Any, genes: Sequence[str] | None = None, *, tfs: Iterable[str] | None = None, absolute: bool = True
) -> pd.DataFrame:
    """The candidate edges of an evaluation with their labels and the prediction's scores.

    Parameters
    ----------
    net, truth, genes, tfs, absolute
        See :func:`aupr_ratio`.

    Returns
    -------
    DataFrame with one row per candidate edge: ``source``, ``target``, ``label`` (1 for a true edge) and
    ``score`` (the prediction's weight, absolute when ``absolute``; the lowest score for edges absent from the
    prediction). ``label`` and ``score`` feed :func:`sclong_tl.pl.grn_pr_curves`.
    """
    import pandas as pd

    sources, targets, labels, scores = _evaluate(net, truth, genes, tfs=tfs, absolute=absolute)
    return pd.DataFrame({"source": sources, "target": targets, "label": labels, "score": scores})


# ------------------------------------------------------------------------------------------------- helpers
def _evaluate(
    net: Any, truth: Any, genes: Sequence[str] | None, *, tfs: Iterable[str] | None, absolute: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sources, targets, 0/1 labels and float scores of the candidate edges."""
    import pandas as pd

    net_frame = _as_edge_frame(net, genes)
    sources, targets = _candidate_pairs(truth, genes, tfs)
    candidates = pd.MultiIndex.from_arrays([sources, targets])
    labels = candidates.isin(pd.MultiIndex.from_arrays(_truth_columns(truth))).astype(np.int64)
    if labels.sum() == 0:
        raise ValueError("no ground-truth edge lies among the candidate edges (check gene names and `genes`)")
    weights = net_frame["weight"].to_numpy(dtype=float)
    if not np.isfinite(weights).all():
        raise ValueError("net has NaN or infinite weights")
    if absolute:
        weights = np.abs(weights)
    # duplicated edges keep their strongest weight; absent edges get one score below every predicted edge
    predicted = pd.Series(weights, index=pd.MultiIndex.from_arrays([net_frame["source"], net_frame["target"]]))
    predicted = predicted.groupby(level=[0, 1]).max()
    floor = (predicted.min() if len(predicted) else 0.0) - 1.0
    scores = predicted.reindex(candidates).to_numpy(dtype=float)
    scores[np.isnan(scores)] = floor
    return sources, targets, labels, scores


def _candidate_pairs(
    truth: Any, genes: Sequence[str] | None, tfs: Iterable[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Sources and targets of the candidate edges (sorted, self edges excluded)."""
    truth_sources, truth_targets = _truth_columns(truth)
    evaluated = set(truth_sources) | set(truth_targets)
    if genes is not None:
        evaluated &= {str(gene) for gene in genes}
    candidate_sources = set(truth_sources) if tfs is None else {str(tf) for tf in tfs}
    candidate_sources &= evaluated
    if not candidate_sources or len(evaluated) < 2:
        raise ValueError(
            f"too few candidate edges: {len(candidate_sources)} sources among {len(evaluated)} "
            "evaluated genes (check gene names and `genes`)"
        )
    ordered_sources = np.asarray(sorted(candidate_sources), dtype=object)
    ordered_targets = np.asarray(sorted(evaluated), dtype=object)
    sources = np.repeat(ordered_sources, len(ordered_targets))
    targets = np.tile(ordered_targets, len(ordered_sources))
    not_self = sources != targets
    return sources[not_self], targets[not_self]


def _truth_columns(truth: Any) -> tuple[list[str], list[str]]:
    import pandas as pd

    if isinstance(truth, pd.DataFrame):
        if truth.shape[1] < 2:
            raise ValueError("truth must have at least two columns (source, target)")
        columns = [str(column).lower() for column in truth.columns]
        if "source" in columns and "target" in columns:
            source, target = truth.iloc[:, columns.index("source")], truth.iloc[:, columns.index("target")]
        else:
            source, target = truth.iloc[:, 0], truth.iloc[:, 1]
        return source.astype(str).tolist(), target.astype(str).tolist()
    pairs = [tuple(pair) for pair in truth]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError("truth must be a DataFrame or a sequence of (source, target) pairs")
    return [str(pair[0]) for pair in pairs], [str(pair[1]) for pair in pairs]


_COLUMN_ALIASES = {
    "source": ("source", "tf", "gene1"),
    "target": ("target", "gene2"),
    "weight": ("weight", "edgeweight", "score", "importance"),
}


def _as_edge_frame(net: Any, genes: Sequence[str] | None) -> pd.DataFrame:
    """A ``source, target, weight`` DataFrame of the prediction (a matrix's zero entries are dropped)."""
    import pandas as pd
    from scipy import sparse

    if isinstance(net, pd.DataFrame):
        lower = {str(column).lower(): column for column in net.columns}
        columns = {}
        for name, aliases in _COLUMN_ALIASES.items():
            found = next((lower[alias] for alias in aliases if alias in lower), None)
            if found is None:
                raise ValueError(f"net has no {name!r} column (columns: {list(net.columns)})")
            columns[name] = found
        return pd.DataFrame(
            {
                "source": net[columns["source"]].astype(str).to_numpy(),
                "target": net[columns["target"]].astype(str).to_numpy(),
                "weight": net[columns["weight"]].to_numpy(dtype=float),
            }
        )
    if genes is None:
        raise ValueError("genes (the names of the rows and columns) is required when net is a matrix")
    matrix = sparse.coo_matrix(net) if sparse.issparse(net) else sparse.coo_matrix(np.asarray(net, dtype=float))
    names = np.asarray([str(gene) for gene in genes], dtype=object)
    if matrix.shape != (len(names), len(names)):
        raise ValueError(f"net has shape {matrix.shape} but {len(names)} genes were given")
    keep = matrix.data != 0
    return pd.DataFrame(
        {
            "source": names[matrix.row[keep]],
            "target": names[matrix.col[keep]],
            "weight": matrix.data[keep].astype(float),
        }
    )
