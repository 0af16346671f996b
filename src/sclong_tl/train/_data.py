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

import numpy as np
import scipy.sparse as sp

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
    gene_match: object = None
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
    """

    paths: Sequence[str | os.PathLike]
    genes: Sequence[str]
    seed: int = 0
    validation_fraction: float = 0.02
    min_genes: int = 200
    rank: int = 0
    world_size: int = 1
    shards: list[ShardInfo] = field(init=False)
    skipped_cells: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if not self.paths:
            raise ValueError("no data shards given")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        self.shards = [self._describe(Path(path), index) for index, path in enumerate(self.paths)]

    def _describe(self, path: Path, index: int) -> ShardInfo:
        import anndata as ad

        from ..pp import detect_counts, match_genes

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
        return ShardInfo(path, n_cells, np.sort(order[n_validation:]), np.sort(order[:n_validation]),
                         match.n_matched, match, is_counts)

    @property
    def n_train_cells(self) -> int:
        """Training cells over all shards (before the ``min_genes`` filter)."""
        return sum(len(shard.train_rows) for shard in self.shards)

    def _model_space(self, shard: ShardInfo, rows: np.ndarray) -> sp.csr_matrix:
        """Rows of a shard aligned to the vocabulary and normalised (sparse)."""
        import anndata as ad

        from ..pp import normalize

        adata = ad.read_h5ad(shard.path, backed="r")
        try:
            matrix = adata.X
            chunk = sp.csr_matrix(matrix[np.sort(rows)] if len(rows) else matrix[:0])
        finally:
            adata.file.close()
        aligned = shard.gene_match.to_model_space(chunk)
        return sp.csr_matrix(normalize(aligned, is_counts=shard.is_counts))

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

    def iter_epoch(self, position: StreamPosition, batch_size: int) -> Iterator[tuple[np.ndarray, StreamPosition]]:
        """Yield dense batches ``(cells, n_genes)`` of this rank's training cells from ``position`` on.

        Each batch comes with the stream position after it (for checkpoints). Skipped cells (``min_genes``) are
        counted in :attr:`skipped_cells`.
        """
        rng = np.random.default_rng([self.seed, position.epoch])
        blocks: list[tuple[int, np.ndarray]] = []
        for shard_index, shard in enumerate(self.shards):
            order = rng.permutation(shard.train_rows)[self.rank :: self.world_size]
            blocks.extend((shard_index, order[start : start + BLOCK_CELLS])
                          for start in range(0, len(order), BLOCK_CELLS))
        consumed = 0
        pending: list[np.ndarray] = []
        for block in rng.permutation(len(blocks)):
            shard_index, rows = blocks[block]
            if consumed + len(rows) <= position.consumed:  # block already seen before a resume
                consumed += len(rows)
                continue
            start = max(0, position.consumed - consumed)
            rows = rows[start:]
            consumed += start
            matrix = self._model_space(self.shards[shard_index], rows)
            # _model_space reads rows sorted; restore the shuffled order
            matrix = matrix[np.argsort(np.argsort(rows))]
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
