"""Time building the GO gene graph of the default vocabulary from the shipped annotations.

Usage: python benchmarks/go_graph_build.py [--threads N] [--repeats R]
Prints the vocabulary size, graph size and wall time of each build (target: under a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="BLAS / OpenMP threads (default 2)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)

    from sclong_tl.genes import build_go_graph, default_vocabulary, go_graph_edges, load_gene2go

    start = time.perf_counter()
    genes = default_vocabulary()
    gene2go = load_gene2go()
    print(
        f"loaded vocabulary ({len(genes):,} genes) and annotations ({len(gene2go):,} genes) in "
        f"{time.perf_counter() - start:.2f} s"
    )
    annotated = sum(1 for g in genes if gene2go.get(g))
    for repeat in range(args.repeats):
        start = time.perf_counter()
        graph = build_go_graph(gene2go, genes)
        built = time.perf_counter() - start
        edge_index, edge_weight = go_graph_edges(graph, genes)
        total = time.perf_counter() - start
        print(
            f"run {repeat + 1}: build_go_graph {built:.2f} s, + go_graph_edges {total:.2f} s; "
            f"{annotated:,} annotated genes, {len(graph):,} edges, "
            f"{(graph['source'] == graph['target']).sum():,} self-loops, "
            f"weights {edge_weight.min():.4f}..{edge_weight.max():.4f}, edge_index {edge_index.shape}"
        )
    print(f"threads={args.threads} cpu_count={os.cpu_count()}")


if __name__ == "__main__":
    main()
