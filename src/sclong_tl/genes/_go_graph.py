"""scLong's GO gene graph: Jaccard similarity of GO-term sets, top neighbours per target gene.

Definition (scLong reference, DESIGN.md section 2): for every ordered pair of GO-annotated vocabulary genes
(self pairs included) the Jaccard index ``J = |A & B| / |A | B|`` of their GO-term sets; pairs with
``J > threshold`` are candidates; for each target gene the ``n_neighbors + 1`` candidates with the largest J are kept
(the gene itself, J = 1, is one of them). Edge weight = J; genes without GO terms are isolated nodes.

Ties at the cut follow the reference exactly: it lists pairs with the source in the outer loop (vocabulary order)
and keeps, per target, ``pandas.DataFrame.nlargest(keep="first")``, i.e. among equal J the sources earliest in the
vocabulary. Rows come out like the reference's: grouped by target in sorted-ID order, J descending, ties by source
vocabulary position. Here the pairs are never enumerated one by one: intersection sizes come from sparse matrix
products (gene x GO-term incidence times its transpose) over blocks of target genes, a vectorised filter keeps
the pairs above the threshold, and the cut is a partial sort per target with more candidates than it keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    import pandas as pd

#: Target genes processed per block (bounds memory: the block's sparse intersection counts, ~10 M entries).
_BLOCK = 512


def _annotation_matrix(
    gene2go: Mapping[str, Iterable[str]], genes: Sequence[str]
) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Vocabulary positions of annotated genes (vocabulary order) and their binary gene x GO-term matrix."""
    positions: list[int] = []
    term_lists: list[list[str]] = []
    seen: set[str] = set()
    for position, gene in enumerate(genes):
        if gene in seen:
            raise ValueError(f"the vocabulary lists {gene!r} twice")
        seen.add(gene)
        terms = gene2go.get(gene)
        if terms:
            positions.append(position)
            term_lists.append(sorted(set(terms)))
    term_index: dict[str, int] = {}
    indptr = np.zeros(len(term_lists) + 1, dtype=np.int64)
    indices: list[int] = []
    for row, terms in enumerate(term_lists):
        indices.extend(term_index.setdefault(term, len(term_index)) for term in terms)
        indptr[row + 1] = len(indices)
    data = np.ones(len(indices), dtype=np.float32)
    matrix = sparse.csr_matrix(
        (data, np.asarray(indices, dtype=np.int64), indptr), shape=(len(term_lists), len(term_index))
    )
    return np.asarray(positions, dtype=np.int64), matrix


def _block_candidates(
    annotation: sparse.csr_matrix,
    annotation_t: sparse.csr_matrix,
    sizes: np.ndarray,
    start: int,
    stop: int,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs (J > threshold) of targets ``start:stop``: per-target offsets, sources and J (float64).

    Entries are grouped by target (``offsets`` has ``stop - start + 1`` entries), sources unordered within a group.
    """
    product = annotation[start:stop] @ annotation_t  # float32 CSR: |GO(target) & GO(source)|
    counts = np.diff(product.indptr)
    cols, shared = product.indices, product.data
    sizes32 = sizes.astype(np.float32)
    # J > t  <=>  shared * (1 + t) / t > |GO(t)| + |GO(s)|: a float32 superset filter with a 1e-4 margin over the
    # ~10 M pairs sharing any term, then the reference's exact float64 test on the few survivors
    if threshold > 0:
        factor = np.float32((1.0 + threshold) / threshold * (1.0 + 1e-4))
        union_sum = sizes32[cols]
        union_sum += np.repeat(sizes32[start:stop], counts)
        survivors = np.flatnonzero(shared * factor > union_sum)
    else:
        survivors = np.arange(cols.size)
    rows = np.searchsorted(product.indptr, survivors, side="right") - 1
    cols = cols[survivors].astype(np.int64)
    shared64 = shared[survivors].astype(np.float64)
    jaccard = shared64 / (sizes[rows + start] + sizes[cols] - shared64)
    passed = jaccard > threshold
    rows, cols, jaccard = rows[passed], cols[passed], jaccard[passed]
    offsets = np.searchsorted(rows, np.arange(stop - start + 1))
    return offsets, cols, jaccard


def _top_per_target(offsets: np.ndarray, cols: np.ndarray, jaccard: np.ndarray, keep: int) -> np.ndarray:
    """Mask of the ``keep`` largest J per target group; ties at the cut go to the smallest source index."""
    kept = np.ones(cols.size, dtype=bool)
    for group in np.flatnonzero(np.diff(offsets) > keep):
        lo, hi = offsets[group], offsets[group + 1]
        values = jaccard[lo:hi]
        kth = -np.partition(-values, keep - 1)[keep - 1]
        mask = values > kth
        tied = np.flatnonzero(values == kth)
        room = keep - int(mask.sum())
        mask[tied[np.argsort(cols[lo:hi][tied], kind="stable")[:room]]] = True
        kept[lo:hi] = mask
    return kept


def _pandas_whole_group_order(importance: np.ndarray) -> np.ndarray:
    """Row order pandas gives a target group that ``nlargest`` returns whole (no more rows than asked for).

    pandas then falls back to ``sort_values(ascending=False)``, i.e. numpy's (unstable) quicksort on the reversed
    values, reversed back. Equal values can come out in any order there; mirroring the call reproduces the
    reference's rows on the same numpy. Only the edge order (float summation order) depends on it.
    """
    reversed_positions = np.arange(importance.size)[::-1]
    return reversed_positions[importance[::-1].argsort(kind="quicksort")][::-1]


def build_go_graph(
    gene2go: Mapping[str, Iterable[str]],
    genes: Sequence[str],
    *,
    threshold: float = 0.1,
    n_neighbors: int = 20,
    progress: bool = False,
) -> pd.DataFrame:
    """Build scLong's GO gene graph over a vocabulary.

    Parameters
    ----------
    gene2go
        Gene (as written in ``genes``, e.g. Ensembl ID) -> GO term IDs, e.g. :func:`load_gene2go`.
    genes
        The vocabulary in token order; the order decides ties at the neighbour cut (earlier sources win).
    threshold
        Pairs need a Jaccard index strictly above this.
    n_neighbors
        Neighbours kept per target gene besides itself (``n_neighbors + 1`` edges at most).
    progress
        Show a tqdm progress bar over blocks of target genes.

    Returns
    -------
    DataFrame with columns ``source``, ``target`` (gene IDs) and ``importance`` (float64 Jaccard index), rows in the
    reference order (grouped by target in sorted-ID order, importance descending, ties by source position).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    if n_neighbors < 0:
        raise ValueError(f"n_neighbors must be >= 0, got {n_neighbors}")
    if not 0 <= threshold:
        raise ValueError(f"threshold must be >= 0 (pairs without shared GO terms are never edges), got {threshold}")
    genes = [str(g) for g in genes]
    positions, annotation = _annotation_matrix(gene2go, genes)
    n = positions.size
    sizes = np.asarray(annotation.sum(axis=1), dtype=np.float64).ravel()
    keep = n_neighbors + 1
    annotation_t = sparse.csr_matrix(annotation.T)
    targets, sources, weights, counts = [], [], [], np.zeros(n, dtype=np.int64)
    for start in tqdm(range(0, n, _BLOCK), desc="GO graph", unit="block", disable=not progress):
        stop = min(start + _BLOCK, n)
        offsets, cols, jaccard = _block_candidates(annotation, annotation_t, sizes, start, stop, threshold)
        counts[start:stop] = np.diff(offsets)
        kept = _top_per_target(offsets, cols, jaccard, keep) if keep > 0 else np.zeros(cols.size, dtype=bool)
        targets.append(np.repeat(np.arange(start, stop), np.diff(offsets))[kept])
        sources.append(cols[kept])
        weights.append(jaccard[kept])
    target = np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64)
    source = np.concatenate(sources) if sources else np.zeros(0, dtype=np.int64)
    importance = np.concatenate(weights) if weights else np.zeros(0)

    annotated_ids = np.asarray([genes[p] for p in positions], dtype=object)
    target_rank = np.argsort(np.argsort(annotated_ids.astype(str), kind="stable"), kind="stable")
    order = np.lexsort((source, -importance, target_rank[target]))
    _reorder_whole_groups(order, target, source, importance, counts, keep)
    return pd.DataFrame(
        {
            "source": annotated_ids[source[order]].astype(str) if order.size else np.zeros(0, dtype=str),
            "target": annotated_ids[target[order]].astype(str) if order.size else np.zeros(0, dtype=str),
            "importance": importance[order],
        }
    )


def _reorder_whole_groups(
    order: np.ndarray,
    target: np.ndarray,
    source: np.ndarray,
    importance: np.ndarray,
    n_candidates: np.ndarray,
    keep: int,
) -> None:
    """Apply :func:`_pandas_whole_group_order` in place to target groups with ties that were kept whole."""
    if order.size == 0:
        return
    sorted_target = target[order]
    starts = np.flatnonzero(np.r_[True, sorted_target[1:] != sorted_target[:-1]])
    stops = np.r_[starts[1:], sorted_target.size]
    for start, stop in zip(starts, stops, strict=True):
        if n_candidates[sorted_target[start]] > keep or stop - start < 2:
            continue
        group = order[start:stop]
        by_source = group[np.argsort(source[group], kind="stable")]  # the reference's rows: source order
        values = importance[by_source]
        if np.unique(values).size == values.size:
            continue  # no ties: already in the reference order
        order[start:stop] = by_source[_pandas_whole_group_order(values)]


def go_graph_edges(graph: pd.DataFrame, genes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Turn a GO graph edge list into model tensors over vocabulary positions.

    Edge order follows the reference (``networkx.DiGraph`` built from the rows: sources grouped by the order in
    which genes first appear in the rows, each source's edges in row order). The order only changes the float
    summation order of the graph convolution.

    Parameters
    ----------
    graph
        Edge list with columns ``source``, ``target``, ``importance`` (e.g. from :func:`build_go_graph`).
    genes
        The vocabulary in token order.

    Returns
    -------
    ``edge_index`` int64 (2, E) (row 0 source, row 1 target; vocabulary positions) and ``edge_weight`` float32 (E,).
    A repeated (source, target) pair is one edge (its first position, its last weight), as in networkx.
    """
    missing = {"source", "target", "importance"} - set(graph.columns)
    if missing:
        raise ValueError(f"graph lacks column(s) {sorted(missing)}")
    position = {str(g): i for i, g in enumerate(genes)}
    try:
        source = np.fromiter((position[str(g)] for g in graph["source"]), dtype=np.int64, count=len(graph))
        target = np.fromiter((position[str(g)] for g in graph["target"]), dtype=np.int64, count=len(graph))
    except KeyError as error:
        raise ValueError(f"graph gene {error.args[0]!r} is not in the vocabulary") from None
    weight = graph["importance"].to_numpy(dtype=np.float64)

    # networkx adds nodes in order of first appearance (row by row, source then target)
    interleaved = np.empty(2 * source.size, dtype=np.int64)
    interleaved[0::2] = source
    interleaved[1::2] = target
    nodes, node_first = np.unique(interleaved, return_index=True)
    first_seen = np.empty(len(position), dtype=np.int64)
    first_seen[nodes] = node_first

    pair = source * len(position) + target
    _, row, inverse = np.unique(pair, return_index=True, return_inverse=True)
    last = np.zeros(row.size, dtype=np.int64)
    np.maximum.at(last, inverse, np.arange(pair.size))
    source, target, weight = source[row], target[row], weight[last]
    order = np.lexsort((row, first_seen[source]))
    edge_index = np.stack([source[order], target[order]])
    return edge_index, weight[order].astype(np.float32)


def go_graph_members(edge_index: np.ndarray, n_nodes: int) -> np.ndarray:
    """Boolean per node: it has a GO-graph edge to another node (genes a perturbation model can reach).

    Parameters
    ----------
    edge_index
        ``(2, E)`` edges over vocabulary positions (e.g. :attr:`sclong_tl.ScLongModel.edge_index`).
    n_nodes
        Number of nodes (vocabulary size).

    Returns
    -------
    bool array of length ``n_nodes``.
    """
    edge_index = np.asarray(edge_index)
    member = np.zeros(n_nodes, dtype=bool)
    other = edge_index[0] != edge_index[1]
    member[edge_index[0, other]] = True
    member[edge_index[1, other]] = True
    return member
