"""Batch ASW and biology-conservation metrics on the committed CellBench subset (two protocols, three cell lines)."""

from __future__ import annotations

import numpy as np
import pytest

from _embed_helpers import cellbench
from sclong_tl.metrics._integration import bio_conservation, silhouette_batch_asw


@pytest.fixture(scope="module")
def pca():
    """log1p + 20 PCs of the CellBench subset: batch = protocol, label = cell line."""
    import scanpy as sc

    adata = cellbench()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=20, random_state=0)
    return adata


def silhouette_batch_by_hand(X, batch, labels):
    """scIB's definition written with scikit-learn: per label mean of 1 - |silhouette w.r.t. batch|, then mean."""
    from sklearn.metrics import silhouette_samples

    per_label = []
    for label in np.unique(labels):
        mask = labels == label
        if np.unique(batch[mask]).size < 2:
            continue
        per_label.append(np.mean(1 - np.abs(silhouette_samples(X[mask], batch[mask], metric="euclidean"))))
    return float(np.mean(per_label))


def test_batch_asw_follows_the_scib_definition(pca):
    X = pca.obsm["X_pca"]
    batch = pca.obs["batch"].to_numpy().astype(str)
    labels = pca.obs["cell_line"].to_numpy().astype(str)
    expected = silhouette_batch_by_hand(X, batch, labels)
    assert silhouette_batch_asw(pca, "batch", "cell_line", use_rep="X_pca") == pytest.approx(expected, abs=1e-4)
    assert silhouette_batch_asw(X, batch, labels, use_rep=None) == pytest.approx(expected, abs=1e-4)
    raw = silhouette_batch_asw(X, batch, labels, rescale=False)
    assert raw == pytest.approx(1 - expected, abs=1e-4)


def test_batch_asw_ranks_mixing(pca):
    """Shifting one protocol's cells apart lowers the score; removing the protocol effect raises it."""
    X = pca.obsm["X_pca"].copy()
    batch = pca.obs["batch"].to_numpy()
    labels = pca.obs["cell_line"].to_numpy()
    original = silhouette_batch_asw(X, batch, labels)
    shifted = X.copy()
    shifted[batch == "Drop-seq"] += 5 * X.std()
    centred = X.copy()
    for b in np.unique(batch):
        for label in np.unique(labels):
            mask = (batch == b) & (labels == label)
            centred[mask] -= X[mask].mean(axis=0)
    assert silhouette_batch_asw(shifted, batch, labels) < original < silhouette_batch_asw(centred, batch, labels)


def test_batch_asw_errors(pca):
    X = pca.obsm["X_pca"]
    labels = pca.obs["cell_line"].to_numpy()
    with pytest.raises(ValueError, match="two batches"):
        silhouette_batch_asw(X, np.zeros(len(X)), labels)
    with pytest.raises(ValueError, match="one entry per cell"):
        silhouette_batch_asw(X, pca.obs["batch"].to_numpy()[:-1], labels)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        silhouette_batch_asw(bad, pca.obs["batch"].to_numpy(), labels)
    with pytest.raises(KeyError, match="X_missing"):
        silhouette_batch_asw(pca, "batch", "cell_line", use_rep="X_missing")
    confounded = pca.obs["batch"].to_numpy()  # labels identical to batches: no label spans two batches
    with pytest.raises(ValueError, match="no label has cells from two batches"):
        silhouette_batch_asw(X, confounded, confounded)


def test_bio_conservation(pca):
    scores = bio_conservation(pca, "cell_line", use_rep="X_pca")
    assert set(scores) == {"label_asw", "nmi", "ari"}
    assert 0.5 < scores["label_asw"] <= 1
    assert scores["nmi"] > 0.5 and scores["ari"] > 0.3  # cell lines separate (the protocol effect is strong too)
    shuffled = np.random.default_rng(0).permutation(pca.obs["cell_line"].to_numpy())
    random_scores = bio_conservation(pca.obsm["X_pca"], shuffled, use_rep=None)
    assert random_scores["nmi"] < 0.2 and random_scores["label_asw"] < scores["label_asw"]
    assert bio_conservation(pca, "cell_line", use_rep="X_pca") == scores  # seeded
    with pytest.raises(ValueError, match="at least two labels"):
        bio_conservation(pca.obsm["X_pca"], np.zeros(pca.n_obs), use_rep=None)


def test_bio_conservation_nmi_ari_equal_sklearn_on_the_leiden_clusters(pca, monkeypatch):
    """NMI / ARI are scikit-learn's, between the given labels and the Leiden clustering of the best resolution."""
    from scib_metrics.metrics import _nmi_ari
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    clusterings: list[np.ndarray] = []
    original = _nmi_ari._compute_clustering_leiden

    def recording(graph, resolution, seed):
        clusters = original(graph, resolution, seed)
        clusterings.append(np.asarray(clusters))
        return clusters

    monkeypatch.setattr(_nmi_ari, "_compute_clustering_leiden", recording)
    labels = pca.obs["cell_line"].astype(str).to_numpy()
    scores = bio_conservation(pca, "cell_line", use_rep="X_pca")
    assert len(clusterings) == 10  # resolutions 0.2, 0.4, ..., 2.0
    nmis = [normalized_mutual_info_score(labels, clusters) for clusters in clusterings]
    best = int(np.argmax(nmis))
    assert scores["nmi"] == pytest.approx(nmis[best], abs=1e-12)
    assert scores["ari"] == pytest.approx(adjusted_rand_score(labels, clusterings[best]), abs=1e-12)
