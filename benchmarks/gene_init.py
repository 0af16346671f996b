"""Initial gene tables scored on the Gene2vec paper's gene-gene interaction benchmark (GGIPNN), before training.

For each initialisation of ``sclong-tl pretrain --gene-init`` (``go``, ``coexpression``, ``go+coexpression``) at
the default model's width, the vectors of the default vocabulary are built exactly as a run builds them (the
co-expression ones from the run's training cells), and each labelled gene pair of GGIPNN's test split (Du et al.,
BMC Genomics 2019; pairs of symbols with 0/1 interaction labels) is scored by the cosine similarity of its two
genes' vectors. Printed: ROC AUC over the pairs whose genes are both in the vocabulary (0.5 = no information).

Usage: python benchmarks/gene_init.py --data corpus/*.h5ad [--dim 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "gene2vec_vocab"


def ggipnn_pairs(genes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Vocabulary positions of GGIPNN test pairs and their labels (pairs with an unknown gene dropped)."""
    from sclong_tl.genes import symbol_to_ensembl

    pairs = [line.split() for line in (SHARED / "GGIPNN_test_text.txt").read_text().splitlines() if line.strip()]
    labels = np.array([int(x) for x in (SHARED / "GGIPNN_test_label.txt").read_text().split()])
    symbols = sorted({s for pair in pairs for s in pair})
    table = symbol_to_ensembl(symbols, vocabulary=genes)
    position = {gene: i for i, gene in enumerate(genes)}
    index = {s: position.get(e) for s, e in zip(table["name"], table["ensembl_id"], strict=True)}
    keep = [i for i, (a, b) in enumerate(pairs) if index[a] is not None and index[b] is not None]
    return np.array([[index[pairs[i][0]], index[pairs[i][1]]] for i in keep]), labels[keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--dim", type=int, default=16)
    args = parser.parse_args()
    from sklearn.metrics import roc_auc_score

    from sclong_tl.genes import default_vocabulary, load_gene2go
    from sclong_tl.train import PretrainConfig
    from sclong_tl.train._initial_model import _gene_vectors

    genes = default_vocabulary()
    pairs, labels = ggipnn_pairs(genes)
    print(f"GGIPNN test pairs in the vocabulary: {len(pairs)} ({labels.mean():.1%} positive)")
    gene2go = load_gene2go()
    with tempfile.TemporaryDirectory() as tmp:
        for init in ("go", "coexpression", "go+coexpression"):
            started = time.perf_counter()
            config = PretrainConfig(data=args.data, out=tmp, gene_init=init)
            vectors = _gene_vectors(config, genes, args.dim, gene2go)
            unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            cosine = (unit[pairs[:, 0]] * unit[pairs[:, 1]]).sum(axis=1)
            print(
                f"{init:<18} ROC AUC {roc_auc_score(labels, cosine):.4f}   ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
