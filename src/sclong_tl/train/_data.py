"""Streaming pretraining data from ``.h5ad`` shards.

Shards are opened backed (read-only); cells are read in blocks of :data:`BLOCK_CELLS` rows, aligned to the
model vocabulary and normalised with :mod:`sclong_tl.pp` on the fly, so memory stays flat. Per epoch the cells
of every shard are shuffled and cut into blocks, and the blocks of all shards are shuffled together (a seed
derived from ``(seed, epoch)``): every stretch of training sees a mix of all shards, the stream is reproducible,
and a resumed run skips exactly the cells it has already seen. Under distributed training rank ``r`` of ``w``
takes every ``w``-th cell. A fixed fraction of every shard (chosen by the seed, the same for all epochs) is held
out for validation. Cells with fewer than ``min_genes`` expressed vocabulary genes are skipped and counted.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._augment import pool_counts, subset_genes, thin_counts

logger = logging.getLogger(__name__)

#: cells read from one shard at a time
BLOCK_CELLS = 64


@dataclass
class ShardInfo:
    """What the stream knows about one shard."""

    path: Path
    n_cells: int
    train_rows: np.ndarray
    validation_rows: np.ndarray
    n_matched_genes: int
    gene_match: Any = None
    is_counts: bool = True


@dataclass
class StreamPosition:
    """Where the training stream is: epoch and cells of this rank already consumed in it."""

    epoch: int = 0
    consumed: int = 0


@dataclass
class ShardStream:
    """Training and validation cells of several ``.h5ad`` shards, in model space.

    Parameters
    ----------
    paths
        The shards (raw counts or log1p values; symbols or Ensembl IDs).
    genes
        Model vocabulary.
    seed
        Shuffling seed.
    validation_fraction
        Fraction of each shard's cells held out.
    min_genes
        Cells with fewer expressed vocabulary genes are skipped.
    rank, world_size
        This process's share of the training cells.
    thinning
        Depth augmentation: the fraction of training cells of count shards whose counts are binomially thinned
        before normalisation (each count kept with probability ``p``, ``p`` log-uniform in
        ``[thinning_min_keep, 1]``, drawn per cell). The model then sees each cell type at many depths and must
        read a cell's own level instead of the corpus' typical one. Validation cells are never thinned; log1p
        shards cannot be thinned and are read as they are.
    thinning_min_keep
        The smallest keep probability.
    pooling
        Depth augmentation the other way: the fraction of training cells of count-like shards replaced, before
        thinning, by the sum of the cell and ``k - 1`` other cells of its block of the same shard (``k``
        log-uniform in ``[2, pooling_max_cells]``; :func:`~sclong_tl.train.pool_counts`), so the model also meets
        cells deeper than its corpus' (plate-based and deep-sequenced data).
    pooling_max_cells
        The most cells summed.
    gene_subset
        The fraction of training cells of count-like shards that keep only a random part of their genes (each
        gene kept with probability ``q``, log-uniform in ``[gene_subset_min_keep, 1]``;
        :func:`~sclong_tl.train.subset_genes`), as in data restricted to a gene panel or to highly variable genes.
    gene_subset_min_keep
        The smallest fraction of genes kept.
    """

    paths: Sequence[str | os.PathLike]
    genes: Sequence[str]
    seed: int = 0
    validation_fraction: float = 0.02
    min_genes: int = 200
    rank: int = 0
    world_size: int = 1
    thinning: float = 0.0
    thinning_min_keep: float = 0.1
    pooling: float = 0.0
    pooling_max_cells: int = 8
    gene_subset: float = 0.0
    gene_subset_min_keep: float = 0.05
    shards: list[ShardInfo] = field(init=False)
    skipped_cells: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if not self.paths:
            raise ValueError("no data shards given")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if not 0 <= self.thinning <= 1 or not 0 < self.thinning_min_keep <= 1:
            raise ValueError("thinning must be in [0, 1] and thinning_min_keep in (0, 1]")
        if not 0 <= self.pooling <= 1 or self.pooling_max_cells < 2:
            raise ValueError("pooling must be in [0, 1] and pooling_max_cells at least 2")
        if not 0 <= self.gene_subset <= 1 or not 0 < self.gene_subset_min_keep <= 1:
            raise ValueError("gene_subset must be in [0, 1] and gene_subset_min_keep in (0, 1]")
        self.shards = [self._describe(Path(path), index) for index, path in enumerate(self.paths)]

    def _describe(self, path: Path, index: int) -> ShardInfo:
        import anndata as ad

        from sclong_tl.pp import detect_counts, match_genes

        if not path.is_file():
            raise FileNotFoundError(f"no data shard at {path}")
        adata = ad.read_h5ad(path, backed="r")
        try:
            match = match_genes(adata, self.genes)
            n_cells = adata.n_obs
            is_counts = detect_counts(adata.X)
        finally:
            adata.file.close()
        rng = np.random.default_rng([self.seed, index, 7])
        order = rng.permutation(n_cells)
        n_validation = round(self.validation_fraction * n_cells)
        return ShardInfo(
            path,
            n_cells,
            np.sort(order[n_validation:]),
            np.sort(order[:n_validation]),
            match.n_matched,
            match,
            is_counts,
        )

    @property
    def n_train_cells(self) -> int:
        """Training cells over all shards (before the ``min_genes`` filter)."""
        return sum(len(shard.train_rows) for shard in self.shards)

    def _model_space(
        self, shard: ShardInfo, rows: np.ndarray, augment_seed: Sequence[int] | None = None
    ) -> sp.csr_matrix:
        # augment_seed: the augmentations draw per cell from (*augment_seed, kind, row), so a cell's draws do not
        # depend on which other cells share the read; pooling partners come from the rows read together
        """Rows of a shard (read in ascending order) aligned to the vocabulary, augmented if asked, normalised."""
        import anndata as ad

        from sclong_tl.pp import normalize

        adata = ad.read_h5ad(shard.path, backed="r")
        try:
            matrix = adata.X
            chunk = sp.csr_matrix(matrix[np.sort(rows)] if len(rows) else matrix[:0])
        finally:
            adata.file.close()
        aligned = sp.csr_matrix(shard.gene_match.to_model_space(chunk))
        if augment_seed is not None and shard.is_counts:
            aligned = self._augment(aligned, np.sort(rows), augment_seed)
        return sp.csr_matrix(normalize(aligned, is_counts=shard.is_counts))

    def _augment(self, aligned: sp.csr_matrix, rows: np.ndarray, seed: Sequence[int]) -> sp.csr_matrix:
        def rngs(kind: int) -> list[np.random.Generator]:
            return [np.random.default_rng([*seed, kind, int(row)]) for row in rows]

        # only integer counts can be thinned (CPM / TPM shards are normalised like counts but are not counts)
        integer = aligned.nnz == 0 or bool(np.array_equal(aligned.data, np.rint(aligned.data)))
        if self.pooling > 0:
            aligned = pool_counts(aligned, rngs(1), fraction=self.pooling, max_cells=self.pooling_max_cells)
        if integer and self.thinning > 0:
            aligned = thin_counts(aligned, rngs(0), fraction=self.thinning, min_keep=self.thinning_min_keep)
        if self.gene_subset > 0:
            aligned = subset_genes(aligned, rngs(2), fraction=self.gene_subset, min_keep=self.gene_subset_min_keep)
        return aligned

    def _keep(self, matrix: sp.csr_matrix) -> np.ndarray:
        return np.diff(matrix.indptr) >= self.min_genes

    def validation_cells(self, max_cells: int = 512) -> sp.csr_matrix:
        """The held-out cells (at most ``max_cells``, spread over shards), in model space."""
        per_shard = max(1, max_cells // len(self.shards))
        blocks = []
        for shard in self.shards:
            matrix = self._model_space(shard, shard.validation_rows[:per_shard])
            blocks.append(matrix[self._keep(matrix)])
        return sp.vstack(blocks).tocsr() if blocks else sp.csr_matrix((0, len(self.genes)))

    def training_sample(self, max_cells: int = 20_000) -> sp.csr_matrix:
        """Up to ``max_cells`` training cells (never held-out ones), spread over the shards, in model space."""
        total = max(self.n_train_cells, 1)
        blocks = []
        for index, shard in enumerate(self.shards):
            n_rows = min(len(shard.train_rows), max(1, round(max_cells * len(shard.train_rows) / total)))
            rows = np.random.default_rng([self.seed, index, 13]).choice(shard.train_rows, n_rows, replace=False)
            blocks.append(self._model_space(shard, rows))
        return sp.vstack(blocks).tocsr()

    def iter_epoch(self, position: StreamPosition, batch_size: int) -> Iterator[tuple[np.ndarray, StreamPosition]]:
        """Yield dense batches ``(cells, n_genes)`` of this rank's training cells from ``position`` on.

        Each batch comes with the stream position after it (for checkpoints). Skipped cells (``min_genes``) are
        counted in :attr:`skipped_cells`.
        """
        rng = np.random.default_rng([self.seed, position.epoch])
        blocks: list[tuple[int, np.ndarray]] = []
        for shard_index, shard in enumerate(self.shards):
            order = rng.permutation(shard.train_rows)[self.rank :: self.world_size]
            blocks.extend(
                (shard_index, order[start : start + BLOCK_CELLS]) for start in range(0, len(order), BLOCK_CELLS)
            )
        consumed = 0
        pending: list[np.ndarray] = []
        for block in rng.permutation(len(blocks)):
            shard_index, rows = blocks[block]
            if consumed + len(rows) <= position.consumed:  # block already seen before a resume
                consumed += len(rows)
                continue
            start = max(0, position.consumed - consumed)
            consumed += start
            # the whole block is read (pooling partners are drawn from it), the cells seen before a resume dropped
            matrix = self._model_space(
                self.shards[shard_index], rows, augment_seed=(self.seed, position.epoch, shard_index, 11)
            )
            # _model_space reads rows sorted; restore the shuffled order
            matrix = matrix[np.argsort(np.argsort(rows))[start:]]
            keep = self._keep(matrix)
            self.skipped_cells += int((~keep).sum())
            for row in range(matrix.shape[0]):
                consumed += 1
                if not keep[row]:
                    continue
                pending.append(matrix[row].toarray()[0])
                if len(pending) == batch_size:
                    yield np.stack(pending).astype(np.float32), StreamPosition(position.epoch, consumed)
                    pending = []
        if pending:
            yield np.stack(pending).astype(np.float32), StreamPosition(position.epoch, consumed)
