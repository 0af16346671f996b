"""``sclong_tl.grn``: gene regulatory networks from scLong gene representations, refined by DeepSEM.

Recipe (paper Fig. 5 and its reference code):

1. Each selected gene's scLong representations over all cells form one vector (flattened, ``cells * d``).
   Their gene-gene similarity is accumulated batch by batch (a ``genes x genes`` Gram matrix of the
   selected genes only; the ``cells x genes x d`` array is never held).
2. Initial adjacency: the similarity with a zero diagonal, L1-normalised over the sources of each target
   (the reference's row normalisation in DeepSEM's ``[target, source]`` orientation).
3. Refinement (optional): DeepSEM's beta-VAE (:class:`sclong_tl.model.deepsem.DeepSEM`) trained on the cells'
   expression of the selected genes (model-space values: log1p-normalised, scaled to a per-cell maximum of 10)
   with the adjacency as its GRN layer; the trained adjacency is the network. A non-negative adjacency whose
   columns sum to 1 makes ``I - A`` singular, so, as DeepSEM's own uniform start ``1/(n-1)`` does, training
   starts from the adjacency plus U(0, 2e-4) noise (``jitter``).

Orientation everywhere: ``A[i, j]`` is the weight of the edge gene i (source) -> gene j (target).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch
    from anndata import AnnData

    from .._api import ScLongModel

logger = logging.getLogger(__name__)

SIMILARITIES = ("dot", "cosine", "mean_cosine")
MIN_CELLS = 10
MIN_GENES = 3
MAX_GENES = 5000

# DeepSEM's cell-type-specific GRN settings (its main.py defaults; lr_adjacency = 0.2 * lr)
REFINE_DEFAULTS: dict[str, Any] = {
    "alpha": 1.0,  # L1 weight on A
    "beta": 0.01,  # KL weight
    "hidden": 128,
    "batch_size": 8,
    "lr": 1e-4,
    "lr_adjacency": 2e-5,
    "lr_decay": 0.95,  # per epoch, MLP optimiser
    "mlp_epochs": 1,  # DeepSEM alternates 1 epoch on the MLPs ...
    "adjacency_epochs": 2,  # ... with 2 epochs on A
    "jitter": 2e-4,  # U(0, jitter) added to A before training, as DeepSEM's uniform initialisation does
}


# ------------------------------------------------------------------------------------- initial adjacency
class _SimilarityStatistics:
    """Running sums over cells from which the gene-gene similarities are computed.

    ``gram[i, j]`` = sum over cells and features of ``r[c, i, k] * r[c, j, k]`` (the dot product of the genes'
    flattened representations), ``l1[i]`` = sum of ``|r[c, i, k]|``, ``mean_gram`` = the Gram matrix of the
    representations averaged over the feature axis (one value per cell).
    """

    def __init__(self, n_genes: int) -> None:
        self.gram = np.zeros((n_genes, n_genes))
        self.mean_gram = np.zeros((n_genes, n_genes))
        self.l1 = np.zeros(n_genes)
        self.n_cells = 0

    def update(self, representations: np.ndarray) -> None:
        """Add a batch of ``(cells, genes, d)`` representations."""
        cells, genes, d = representations.shape
        flat = np.ascontiguousarray(representations.transpose(1, 0, 2), dtype=np.float64).reshape(genes, cells * d)
        self.gram += flat @ flat.T
        self.l1 += np.abs(flat).sum(axis=1)
        means = representations.mean(axis=2, dtype=np.float64)
        self.mean_gram += means.T @ means
        self.n_cells += cells

    def similarity(self, kind: str) -> np.ndarray:
        """Gene-gene similarity (symmetric, diagonal untouched)."""
        if kind == "dot":  # dot product of the L1-normalised vectors (the reference)
            norms = self.l1
            gram = self.gram
        elif kind in ("cosine", "mean_cosine"):
            gram = self.gram if kind == "cosine" else self.mean_gram
            norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
        else:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {kind!r}")
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        return gram * inverse[:, None] * inverse[None, :]


def _normalise_adjacency(similarity: np.ndarray) -> np.ndarray:
    """Zero diagonal, then each target's incoming weights L1-normalised (uniform when all are zero)."""
    adjacency = np.array(similarity, dtype=np.float64)
    np.fill_diagonal(adjacency, 0.0)
    totals = np.abs(adjacency).sum(axis=0)
    empty = totals == 0
    adjacency[:, ~empty] /= totals[~empty]
    if empty.any():
        n = adjacency.shape[0]
        adjacency[:, empty] = 1.0 / (n - 1)
        adjacency[np.arange(n)[empty], np.arange(n)[empty]] = 0.0
    return adjacency


def _adjacency_from_representations(representations: np.ndarray, *, similarity: str = "dot") -> np.ndarray:
    """Initial adjacency ``(genes, genes)`` from ``(cells, genes, d)`` representations (see module docs)."""
    representations = np.asarray(representations)
    if representations.ndim != 3:
        raise ValueError(f"representations must be (cells, genes, d), got shape {representations.shape}")
    statistics = _SimilarityStatistics(representations.shape[1])
    statistics.update(representations)
    return _normalise_adjacency(statistics.similarity(similarity))


# ----------------------------------------------------------------------------------------- refinement
def _standardise_expression(expression: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeepSEM's input: per gene, z-score with the mean / std of its non-zero values, clipped to [-10, 10].

    Returns the standardised values and the 0/1 mask of non-zero (observed) entries.
    """
    expression = np.asarray(expression, dtype=np.float64)
    observed = expression != 0
    counts = observed.sum(axis=0)
    sums = np.where(observed, expression, 0.0).sum(axis=0)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    squares = np.where(observed, (expression - means) ** 2, 0.0).sum(axis=0)
    stds = np.sqrt(np.divide(squares, counts, out=np.zeros_like(squares), where=counts > 0))
    scaled = np.divide(expression - means, stds, out=np.zeros_like(expression), where=stds > 0)
    return np.clip(scaled, -10.0, 10.0).astype(np.float32), observed.astype(np.float32)


def _refine_adjacency(expression: np.ndarray, adjacency: np.ndarray, *, n_epochs: int, random_state: int,
                      device: torch.device | str = "cpu", progress: bool = False, **params: Any
                      ) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Train DeepSEM on ``(cells, genes)`` expression starting from ``adjacency``; return the trained A.

    ``params`` override :data:`REFINE_DEFAULTS`. The MLP optimiser (RMSprop, ``lr``, decayed by ``lr_decay``
    every epoch) and the adjacency optimiser (RMSprop, ``lr_adjacency``) take turns: ``mlp_epochs`` epochs on
    the MLPs with A frozen, then ``adjacency_epochs`` epochs on A with the MLPs frozen. All randomness (weight
    initialisation, jitter, shuffling, reparameterisation noise) comes from one generator seeded with
    ``random_state``; the global RNG is untouched.

    Returns
    -------
    The trained adjacency (diagonal zero) and one dict of mean losses per epoch.
    """
    import torch
    from tqdm.auto import tqdm

    from ..model.deepsem import DeepSEM

    unknown = set(params) - set(REFINE_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown refinement parameters {sorted(unknown)}; known: {sorted(REFINE_DEFAULTS)}")
    settings = {**REFINE_DEFAULTS, **params}
    if n_epochs < 0:
        raise ValueError(f"n_epochs must be >= 0, got {n_epochs}")
    device = torch.device(device)
    generator = torch.Generator().manual_seed(int(random_state))
    values, observed = _standardise_expression(expression)
    values_t = torch.from_numpy(values).to(device)
    observed_t = torch.from_numpy(observed).to(device)
    start = torch.as_tensor(adjacency, dtype=torch.float32)
    start = start + torch.rand(start.shape, generator=generator) * settings["jitter"]
    module = DeepSEM(start, hidden=int(settings["hidden"]), generator=generator).to(device)
    networks = [*module.encoder.parameters(), *module.decoder.parameters()]
    mlp_optimiser = torch.optim.RMSprop(networks, lr=settings["lr"])
    schedule = torch.optim.lr_scheduler.ExponentialLR(mlp_optimiser, gamma=settings["lr_decay"])
    adjacency_optimiser = torch.optim.RMSprop([module.adjacency], lr=settings["lr_adjacency"])
    n_cells, batch_size = values.shape[0], int(settings["batch_size"])
    cycle = int(settings["mlp_epochs"]) + int(settings["adjacency_epochs"])
    history: list[dict[str, float]] = []
    module.train()
    for epoch in tqdm(range(n_epochs), disable=not progress, desc="DeepSEM", unit="epoch"):
        train_adjacency = epoch % cycle >= int(settings["mlp_epochs"])
        module.adjacency.requires_grad_(train_adjacency)
        for parameter in networks:
            parameter.requires_grad_(not train_adjacency)
        optimiser = adjacency_optimiser if train_adjacency else mlp_optimiser
        frozen = None if train_adjacency else module.frozen_layers()
        order = torch.randperm(n_cells, generator=generator)
        sums = dict.fromkeys(("total", "reconstruction", "kl", "sparsity"), 0.0)
        for batch_start in range(0, n_cells, batch_size):
            index = order[batch_start : batch_start + batch_size].to(device)
            x, mask = values_t[index], observed_t[index]
            noise = torch.randn(x.shape, generator=generator).to(device)
            optimiser.zero_grad(set_to_none=True)
            output = module(x, noise, frozen)
            losses = module.loss(x, mask, output, alpha=settings["alpha"], beta=settings["beta"])
            losses.total.backward()
            optimiser.step()
            for name, value in losses._asdict().items():
                sums[name] += float(value.detach()) * len(index) / n_cells
        schedule.step()
        history.append({"epoch": epoch, "phase": "adjacency" if train_adjacency else "mlp", **sums})
        if not np.isfinite(sums["total"]):
            raise FloatingPointError(f"DeepSEM training diverged at epoch {epoch} (loss {sums['total']})")
    with torch.no_grad():
        trained = module.network().cpu().numpy().astype(np.float64)
    return trained, history


# --------------------------------------------------------------------------------------------- output
def _top_k_edges(adjacency: np.ndarray, sources: np.ndarray, top_k: int | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns (into ``adjacency``) and weights of each source's ``top_k`` strongest non-zero targets."""
    rows, cols, weights = [], [], []
    n = adjacency.shape[0]
    keep = n - 1 if top_k is None else min(top_k, n - 1)
    for source in sources:
        strength = np.abs(adjacency[source]).astype(np.float64)
        strength[source] = -1.0  # never a self edge
        chosen = np.argsort(-strength, kind="stable")[:keep]
        chosen = chosen[strength[chosen] > 0]
        rows.append(np.full(len(chosen), source))
        cols.append(chosen)
        weights.append(adjacency[source, chosen])
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)


# ------------------------------------------------------------------------------------------ the tool
def grn(
    data: AnnData,
    model: str | ScLongModel = "default",
    *,
    genes: Sequence[str] | None = None,
    tfs: Sequence[str] | None = None,
    refine: bool = True,
    n_epochs: int = 15,
    top_k: int | None = 100,
    similarity: str = "dot",
    refine_params: Mapping[str, Any] | None = None,
    layer: str | None = None,
    gene_key: str | None = None,
    key_added: str = "sclong_grn",
    random_state: int = 0,
    device: str = "auto",
    batch_size: int | None = None,
    copy: bool = False,
    return_net: bool = False,
    progress: bool = True,
) -> AnnData | pd.DataFrame | tuple[AnnData, pd.DataFrame] | None:
    """Infer a gene regulatory network from scLong's per-gene representations (paper Fig. 5).

    Each selected gene's representations over the cells give a gene-gene similarity; with a zero diagonal and
    each target's incoming weights L1-normalised it is the initial adjacency, which DeepSEM's beta-VAE
    (trained on the cells' expression of the selected genes) refines.

    Parameters
    ----------
    data
        Cells x genes; raw counts or log-normalised (``layer`` or ``X``). Gene names are symbols or Ensembl
        IDs (``var_names`` or ``var[gene_key]``).
    model
        A :class:`~sclong_tl.ScLongModel` or a name / path for :func:`sclong_tl.load_model`.
    genes
        ``var_names`` of the genes of the network (default: all genes; at most 5,000, typically TFs plus
        highly variable genes). Genes absent from the model's vocabulary are left out (with a warning).
    tfs
        When given, only these genes (transcription factors) are sources; targets are all selected genes.
    refine
        Refine the initial adjacency with DeepSEM; False returns the scLong similarity network itself.
    n_epochs
        DeepSEM training epochs (the scLong reference reports the networks of epochs 10-14; DeepSEM alone
        trains for 120-150). Each epoch costs about cells x genes x 128^2 multiply-adds, twice.
    top_k
        Targets kept per source, strongest absolute weight first (None: all selected genes).
    similarity
        ``"dot"``: dot product of the genes' L1-normalised flattened representations (the reference);
        ``"cosine"``: cosine of the flattened representations; ``"mean_cosine"``: cosine of the
        representations averaged over the feature axis (one value per cell).
    refine_params
        DeepSEM settings overriding :data:`REFINE_DEFAULTS` (``alpha``, ``beta``, ``hidden``, ``batch_size``,
        ``lr``, ``lr_adjacency``, ``lr_decay``, ``mlp_epochs``, ``adjacency_epochs``, ``jitter``).
    layer
        Expression layer (default ``X``).
    gene_key
        ``var`` column with the gene names to match (default ``var_names``).
    key_added
        Key of the outputs.
    random_state
        Seed of the refinement (the scLong encoding is deterministic).
    device
        Device of the model and of the refinement.
    batch_size
        Cells per scLong forward pass (default: the model's choice).
    copy
        Annotate a copy of ``data`` and return it.
    return_net
        Also return the network as a DataFrame ``source, target, weight`` (the decoupler format).
    progress
        Show progress bars.

    Returns
    -------
    None, the annotated copy (``copy=True``), the network DataFrame (``return_net=True``) or both as a tuple
    ``(copy, network)``. Fields written:

    ``.varp[key_added]``
        ``scipy.sparse.csr_matrix`` ``(n_vars, n_vars)``: entry ``[i, j]`` is the weight of the edge
        gene i -> gene j, keeping each source's ``top_k`` strongest targets (sign kept).
    ``.uns[key_added]``
        ``{"params": {...}, "genes": [...], "gene_match": {...}, "loss": [...]}``: settings, model name and
        checksum, the genes of the network and the DeepSEM loss per epoch (empty without refinement).
    """
    from anndata import AnnData

    from .._api import load_model
    from .._device import resolve_device

    if not isinstance(data, AnnData):
        raise TypeError(f"data must be an AnnData, got {type(data).__name__}")
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be positive or None, got {top_k}")
    if data.n_obs < MIN_CELLS:
        raise ValueError(f"grn needs at least {MIN_CELLS} cells, got {data.n_obs}")
    model = load_model(model, device=device)
    selection = _select_genes(data, model, genes=genes, tfs=tfs, gene_key=gene_key)
    statistics, expression = _encode_genes(data, model, selection, layer=layer, gene_key=gene_key,
                                           batch_size=batch_size, progress=progress)
    adjacency = _normalise_adjacency(statistics.similarity(similarity))
    history: list[dict[str, float]] = []
    if refine:
        adjacency, history = _refine_adjacency(expression, adjacency, n_epochs=n_epochs, random_state=random_state,
                                               device=resolve_device(device), progress=progress,
                                               **dict(refine_params or {}))
    rows, cols, weights = _top_k_edges(adjacency, selection["sources"], top_k)
    var_index = selection["var_index"]
    net = _write(data, rows=var_index[rows], cols=var_index[cols], weights=weights, key_added=key_added,
                 copy=copy, uns=_uns(model, selection, history, similarity=similarity, refine=refine,
                                     n_epochs=n_epochs, top_k=top_k, random_state=random_state,
                                     refine_params=refine_params, layer=layer))
    if return_net:
        return (net[0], net[1]) if copy else net[1]
    return net[0] if copy else None


def _select_genes(data: AnnData, model: ScLongModel, *, genes: Sequence[str] | None, tfs: Sequence[str] | None,
                  gene_key: str | None) -> dict[str, Any]:
    """The network's genes: their var indices, vocabulary positions and which are sources."""
    from ..pp import match_genes

    var_names = data.var_names
    if genes is None:
        wanted = np.arange(data.n_vars)
    else:
        genes = [str(gene) for gene in genes]
        missing = [gene for gene in genes if gene not in var_names]
        if missing:
            raise KeyError(f"{len(missing)} of genes are not in var_names, e.g. {missing[:5]}")
        wanted = np.unique(var_names.get_indexer(genes))
    match = match_genes(data, model.genes, gene_key=gene_key)
    positions = np.asarray(match.var_index)[wanted]
    in_vocabulary = positions >= 0
    _, first = np.unique(positions, return_index=True)
    unique = np.zeros(len(positions), dtype=bool)
    unique[first] = True
    keep = in_vocabulary & unique
    if (~keep).any():
        logger.warning("grn: %d of %d selected genes are left out (%d not in the model's vocabulary, %d "
                       "duplicates of another gene's vocabulary entry)", int((~keep).sum()), len(keep),
                       int((~in_vocabulary).sum()), int((in_vocabulary & ~unique).sum()))
    var_index, positions = wanted[keep], positions[keep]
    if len(var_index) < MIN_GENES:
        raise ValueError(f"grn needs at least {MIN_GENES} genes found in the model's vocabulary, got "
                         f"{len(var_index)} (of {len(wanted)} selected)")
    if len(var_index) > MAX_GENES:
        raise ValueError(f"grn got {len(var_index)} genes; select at most {MAX_GENES} with `genes=` (e.g. "
                         "transcription factors plus highly variable genes)")
    if tfs is None:
        sources = np.arange(len(var_index))
    else:
        tf_set = {str(tf) for tf in tfs}
        sources = np.flatnonzero([var_names[i] in tf_set for i in var_index])
        if len(sources) == 0:
            raise ValueError("none of the selected genes is in tfs")
    return {"var_index": var_index, "names": [str(var_names[i]) for i in var_index], "positions": positions,
            "sources": sources, "match": match}


def _encode_genes(data: AnnData, model: ScLongModel, selection: dict[str, Any], *, layer: str | None,
                  gene_key: str | None, batch_size: int | None, progress: bool
                  ) -> tuple[_SimilarityStatistics, np.ndarray]:
    """Similarity statistics of the selected genes' representations and their model-space expression."""
    from tqdm.auto import tqdm

    from ..pp import iter_model_inputs

    positions = selection["positions"]
    statistics = _SimilarityStatistics(len(positions))
    expression = np.empty((data.n_obs, len(positions)), dtype=np.float32)
    chunks = iter_model_inputs(data, model.genes, layer=layer, gene_key=gene_key, gene_match=selection["match"])
    with tqdm(total=data.n_obs, disable=not progress, desc="scLong", unit="cell") as bar:
        for start, chunk in chunks:
            expression[start : start + len(chunk)] = chunk[:, positions]
            for _, representations, _ in model.iter_encode(chunk, batch_size=batch_size):
                statistics.update(representations[:, positions, :])
                bar.update(len(representations))
    return statistics, expression


def _uns(model: ScLongModel, selection: dict[str, Any], history: list[dict[str, float]], **params: Any
         ) -> dict[str, Any]:
    params["refine_params"] = {**REFINE_DEFAULTS, **dict(params["refine_params"] or {})}
    if params["layer"] is None:
        params.pop("layer")
    return {
        "params": {"model": model.name, "model_sha256": model.sha256 or "", "n_genes": len(selection["positions"]),
                   "n_sources": len(selection["sources"]), **params},
        "genes": selection["names"],
        "gene_match": selection["match"].to_dict(),
        "loss": [float(entry["total"]) for entry in history],
    }


def _write(data: AnnData, *, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, key_added: str, copy: bool,
           uns: dict[str, Any]) -> tuple[AnnData, pd.DataFrame]:
    """Write ``.varp`` / ``.uns`` (into a copy when ``copy``) and build the network DataFrame."""
    import pandas as pd
    from scipy import sparse

    target = data.copy() if copy else data
    n = data.n_vars
    matrix = sparse.csr_matrix((weights.astype(np.float32), (rows, cols)), shape=(n, n))
    matrix.sort_indices()
    names = np.asarray(data.var_names, dtype=object)
    target.varp[key_added] = matrix
    target.uns[key_added] = uns
    net = pd.DataFrame({"source": names[rows], "target": names[cols], "weight": weights.astype(np.float32)})
    logger.info("grn: added .varp[%r] (%d edges from %d sources over %d genes) and .uns[%r]", key_added,
                len(net), uns["params"]["n_sources"], uns["params"]["n_genes"], key_added)
    return target, net
