"""The user-facing scLong model: :class:`ScLongModel` (the torch network plus its vocabulary, GO graph and I/O)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sclong_tl._device import autocast_context, resolve_device, resolve_dtype

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from sclong_tl.model import ScLong, ScLongConfig

logger = logging.getLogger(__name__)

# memory budget (bytes) for the activations of one forward pass when choosing a batch size; on CPU small batches
# keep the full-length blocks' activations in cache (measured with sclong-default: 2 cells/batch 28.5 cells/s, 8: 18.6;
# with the fused inference path on a 2-core Intel Xeon, 1, 2 and 4 cells/batch were within noise of each other)
_CPU_ACTIVATION_BUDGET = 1 << 30
_GPU_ACTIVATION_BUDGET = 8 << 30
_CPU_MAX_BATCH = 2
_GPU_MAX_BATCH = 256


class ScLongModel:
    """A loaded scLong model: the torch module plus its vocabulary and GO graph.

    Parameters
    ----------
    module
        The network.
    genes
        Vocabulary (Ensembl IDs) in token order, without the pad position.
    name
        Name recorded in the outputs of the tools.
    path
        File the weights came from (for the checksum).
    provenance
        Where the weights come from.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    dtype
        Precision of the weights: None or ``"float32"`` keeps them as they are; ``"bfloat16"`` converts the
        matrix-product weights once (:meth:`~sclong_tl.model.ScLong.set_weights_dtype_`), for inference in
        bfloat16 without recasting them on every call.

    Attributes
    ----------
    config
        :class:`~sclong_tl.model.ScLongConfig`.
    genes
        Vocabulary in token order.
    module
        The :class:`~sclong_tl.model.ScLong` torch module (in eval mode).
    """

    def __init__(
        self,
        module: ScLong,
        genes: list[str],
        *,
        name: str = "scLong",
        path: str | None = None,
        provenance: dict[str, Any] | None = None,
        device: str = "auto",
        dtype: str | None = None,
    ) -> None:
        if len(genes) != module.config.n_genes:
            raise ValueError(f"{len(genes)} genes for a model with n_genes={module.config.n_genes}")
        self.genes = list(genes)
        self.name = name
        self.path = None if path is None else str(path)
        self.provenance = dict(provenance or {})
        self._sha256: str | None = None
        self.device = resolve_device(device)
        self.module = module.to(self.device).eval()
        if dtype is not None:
            self.module.set_weights_dtype_(resolve_dtype(dtype, self.device))

    def __repr__(self) -> str:
        config = self.config
        return (
            f"ScLongModel(name={self.name!r}, genes={config.n_genes}, d={config.base_dim}, "
            f"top_k={config.top_k}, large={config.large_depth}x{config.large_dim}, device={self.device}"
            f"{'' if self.weights_dtype == 'float32' else f', dtype={self.weights_dtype}'})"
        )

    @property
    def config(self) -> ScLongConfig:
        """The model's configuration."""
        return self.module.config

    @property
    def weights_dtype(self) -> str:
        """Precision of the matrix-product weights: ``"float32"`` or ``"bfloat16"`` (see :meth:`to`)."""
        return str(self.module.weights_dtype).removeprefix("torch.")

    def compute_dtype(self, dtype: str | torch.dtype | None = None) -> torch.dtype:
        """The precision a forward pass runs in for a requested ``dtype``.

        Parameters
        ----------
        dtype
            None: bfloat16 when the weights are bfloat16 or the model is on CUDA, else float32. ``"float32"`` needs
            float32 weights; ``"bfloat16"`` with float32 weights runs under autocast, which casts the weights
            again on every call (load the model with ``dtype="bfloat16"`` to cast them once).

        Returns
        -------
        ``torch.float32`` or ``torch.bfloat16``.

        Raises
        ------
        ValueError
            For ``"float32"`` on a model holding bfloat16 weights (the precision they lost cannot come back).
        """
        import torch

        held = self.module.weights_dtype
        if dtype is None:
            return torch.bfloat16 if held == torch.bfloat16 else resolve_dtype(None, self.device)
        resolved = resolve_dtype(dtype, self.device)
        if resolved == torch.float32 and held != torch.float32:
            raise ValueError(
                f"dtype='float32' requested, but this model holds {self.weights_dtype} weights: load it "
                "again with dtype='float32' (the default) for float32 results"
            )
        return resolved

    @property
    def _graph_module(self) -> Any:
        """The module holding the GO graph buffers (``go_conv``)."""
        return self.module.go_conv

    @property
    def edge_index(self) -> np.ndarray:
        """GO graph edges over vocabulary positions, ``(2, E)`` (row 0 source, row 1 target)."""
        return self._graph_module.edge_index.cpu().numpy()

    @property
    def edge_weight(self) -> np.ndarray:
        """GO graph edge weights (Jaccard indices), ``(E,)``."""
        return self._graph_module.edge_weight.cpu().numpy()

    @property
    def sha256(self) -> str | None:
        """SHA-256 of the weights file, computed at load time from the bytes read (None for an unsaved model)."""
        if self._sha256 is None and self.path is not None:
            from sclong_tl._io import file_sha256

            self._sha256 = file_sha256(self.path)
        return self._sha256

    def nonfinite_weights(self) -> list[str]:
        """Names of the weights holding NaN or infinite values (empty for a healthy model)."""
        import torch

        return [
            name
            for name, tensor in self.module.state_dict().items()
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
        ]

    def to(self, device: str | None = None, *, dtype: str | None = None) -> ScLongModel:
        """Move the model to ``device`` and / or store its weights in ``dtype`` (in place) and return it.

        The move is atomic: when ``device`` is unusable (``"mps"`` on a CPU build, a CUDA index that does not
        exist) or the move fails part-way, the model stays where it was, weights and :attr:`device` alike,
        and the error is raised.

        Parameters
        ----------
        device
            ``"auto"``, ``"cpu"``, ``"cuda"``, ...; None keeps the current device.
        dtype
            ``"bfloat16"`` converts the matrix-product weights once for bfloat16 inference (half their memory,
            no per-call recast); ``"float32"`` converts them back (the rounding stays). None keeps them.

        Returns
        -------
        The model itself.
        """
        if device is not None:
            target = resolve_device(device)
            previous = self.device
            try:
                self.module.to(target)
            except BaseException:
                self.module.to(previous)
                raise
            self.device = target
        if dtype is not None:
            self.module.set_weights_dtype_(resolve_dtype(dtype, self.device))
        return self

    # --------------------------------------------------------------------------------------- construction
    @classmethod
    def from_config(
        cls,
        preset: str | ScLongConfig | dict[str, Any],
        *,
        genes: Sequence[str],
        seed: int = 0,
        gene_vectors: np.ndarray | None = None,
        name: str | None = None,
        graph: tuple[np.ndarray, np.ndarray] | None = None,
        device: str = "cpu",
        **overrides: Any,
    ) -> ScLongModel:
        """A randomly initialised model over a vocabulary: vocabulary -> GO graph -> random network.

        Parameters
        ----------
        preset
            Preset name (see :data:`sclong_tl.model.PRESETS`), :class:`~sclong_tl.model.ScLongConfig` or dict of
            fields; ``n_genes`` is set from ``genes``.
        genes
            Vocabulary (Ensembl IDs in token order).
        seed
            Seed of the initialisation (a local generator state; the global RNG is restored afterwards).
        gene_vectors
            Initial gene tables ``(n_genes, d)``; random if None.
        name
            Model name recorded in outputs (default ``"random-<preset>"``).
        graph
            GO graph ``(edge_index, edge_weight)`` over vocabulary positions; None builds it from the shipped GO
            annotations (:func:`sclong_tl.genes.build_go_graph`, seconds for the full vocabulary).
        device
            Where the model lives.
        **overrides
            Config fields to change (e.g. ``top_k=128``).

        Returns
        -------
        The model in eval mode.
        """
        import torch

        from sclong_tl.model import ScLong, get_config

        genes = [str(gene) for gene in genes]
        config = get_config(preset, **{**overrides, "n_genes": len(genes)})
        edge_index, edge_weight = go_graph(genes) if graph is None else graph
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = ScLong(
                config, torch.as_tensor(edge_index), torch.as_tensor(edge_weight), gene_vectors=gene_vectors
            )
        label = name or f"random-{preset if isinstance(preset, str) else 'custom'}"
        return cls(module, genes, name=label, device=device)

    # --------------------------------------------------------------------------------------- persistence
    def save(
        self, path: str | os.PathLike, *, provenance: dict[str, Any] | None = None, storage_dtype: str | None = None
    ) -> Path:
        """Write the model to ``path`` in our safetensors format (see :mod:`sclong_tl.weights`).

        Parameters
        ----------
        path
            Destination ``.safetensors`` file.
        provenance
            Extra provenance entries recorded in the file.
        storage_dtype
            ``"float16"`` or ``"bfloat16"`` stores floating-point weights at half size (loaded back into
            float32); None keeps each tensor's dtype.

        Returns
        -------
        The path written.
        """
        import torch

        from sclong_tl.weights._format import Checkpoint, save_checkpoint

        state_dict = dict(self.module.state_dict())
        if storage_dtype is not None:
            if storage_dtype not in ("float16", "bfloat16"):
                raise ValueError(f"storage_dtype must be 'float16' or 'bfloat16', got {storage_dtype!r}")
            half = getattr(torch, storage_dtype)
            state_dict = {
                key: value.to(half) if value.is_floating_point() else value for key, value in state_dict.items()
            }
        checkpoint = Checkpoint(
            state_dict=state_dict,
            config=self.config.to_dict(),
            genes=self.genes,
            edge_index=self._graph_module.edge_index,
            edge_weight=self._graph_module.edge_weight,
            provenance={"name": self.name, **self.provenance, **(provenance or {})},
        )
        written = save_checkpoint(path, checkpoint)
        self.path, self._sha256 = str(written), None
        return written

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str = "auto", dtype: str | None = None) -> ScLongModel:
        """Read a model written by :meth:`save` (or converted by :func:`sclong_tl.weights.convert_official`).

        Parameters
        ----------
        path
            A ``.safetensors`` file in our format (either layout, see :mod:`sclong_tl.weights`).
        device
            ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ...
        dtype
            Precision of the weights in memory: None / ``"float32"`` (default) or ``"bfloat16"`` (see :meth:`to`).

        Returns
        -------
        The model in eval mode, built through its constructor from the stored configuration and graph.
        """
        import torch

        from sclong_tl.model import ScLong, ScLongConfig
        from sclong_tl.weights._format import read_checkpoint

        checkpoint = read_checkpoint(path)
        try:
            config = ScLongConfig.from_dict(checkpoint.config)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: invalid model configuration in the header: {error}") from None
        edge_index = checkpoint.edge_index
        too_far = edge_index.numel() > 0 and int(edge_index.max()) >= config.n_positions
        if too_far or len(checkpoint.genes) != config.n_genes:
            raise ValueError(
                f"{path}: the GO graph or gene list ({len(checkpoint.genes)} genes) does not fit the "
                f"configuration (n_genes={config.n_genes})"
            )
        with torch.random.fork_rng(devices=[]):  # construction draws random features; they are overwritten
            module = ScLong(config, checkpoint.edge_index.clone(), checkpoint.edge_weight.clone())
        try:
            missing, unexpected = module.load_state_dict(checkpoint.state_dict, strict=False)
        except RuntimeError as error:  # shape mismatches
            first = str(error).strip().splitlines()[1:3]
            raise ValueError(
                f"{path}: weights do not fit the configuration stored in the file: "
                f"{' '.join(line.strip() for line in first)}"
            ) from None
        if missing or unexpected:
            raise ValueError(
                f"{path}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        name = checkpoint.provenance.get("name", Path(path).stem)
        model = cls(
            module,
            checkpoint.genes,
            name=name,
            path=str(path),
            provenance=checkpoint.provenance,
            device=device,
            dtype=dtype,
        )
        model._sha256 = checkpoint.sha256
        logger.debug("loaded %r from %s", model, path)
        return model

    # ------------------------------------------------------------------------------------------ inference
    def default_batch_size(self) -> int:
        """Cells per forward pass: activations within ~1 GB and at most 2 cells on CPU (8 GB, 256 on GPU)."""
        from sclong_tl._settings import settings

        if settings.batch_size is not None:
            return settings.batch_size
        config = self.config
        widest = max(config.ff_mult * config.base_dim, config.features_per_head(config.dec_dim_head) * config.dec_heads)
        per_cell = 4 * (
            config.n_positions * (6 * config.base_dim + 2 * widest)
            + config.top_k * 3 * config.ff_mult * config.large_dim
        )
        on_gpu = self.device.type == "cuda"
        budget = _GPU_ACTIVATION_BUDGET if on_gpu else _CPU_ACTIVATION_BUDGET
        return int(max(1, min(_GPU_MAX_BATCH if on_gpu else _CPU_MAX_BATCH, budget // per_cell)))

    def forward_batch(
        self, values: np.ndarray | torch.Tensor, *, dtype: str | torch.dtype | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run one batch through the network without the pad position.

        Parameters
        ----------
        values
            ``(cells, n_genes)`` model-space inputs.
        dtype
            ``"float32"`` or ``"bfloat16"``; default bfloat16 on CUDA or with bfloat16 weights, float32 otherwise
            (see :meth:`compute_dtype`).

        Returns
        -------
        Representations ``(cells, n_genes, d)`` and reconstruction ``(cells, n_genes)`` as float32 tensors on
        the model's device.
        """
        import torch

        values = torch.as_tensor(values, dtype=torch.float32)
        if values.ndim != 2 or values.shape[1] != self.config.n_genes:
            raise ValueError(f"values must have shape (cells, {self.config.n_genes}), got {tuple(values.shape)}")
        if not torch.isfinite(values).all():
            raise ValueError("values contain NaN or infinite entries")
        from sclong_tl._cpu import torch_threads, warn_if_bf16_is_emulated

        padded = torch.nn.functional.pad(values, (0, 1)).to(self.device)
        compute_dtype = self.compute_dtype(dtype)
        if compute_dtype == torch.bfloat16 and self.device.type == "cpu":
            warn_if_bf16_is_emulated()
        with torch_threads(), torch.inference_mode(), autocast_context(self.device, compute_dtype):
            output = self.module(padded)
        n_genes = self.config.n_genes
        return (output.representations[:, :n_genes].float(), output.reconstruction[:, :n_genes].float())

    def iter_encode(
        self,
        values: np.ndarray | Any,
        *,
        batch_size: int | None = None,
        dtype: str | torch.dtype | None = None,
        progress: bool | None = False,
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Encode cells batch by batch.

        Parameters
        ----------
        values
            ``(cells, n_genes)`` model-space inputs (dense array or scipy sparse matrix; rows are densified one
            batch at a time).
        batch_size
            Cells per forward pass (default: :meth:`default_batch_size`).
        dtype
            Compute precision (see :meth:`forward_batch`).
        progress
            Show a progress bar (None: :attr:`sclong_tl.settings.progress`).

        Yields
        ------
        ``(start, representations (b, n_genes, d), reconstruction (b, n_genes))`` as float32 numpy arrays,
        ``start`` being the index of the batch's first cell.
        """
        from sclong_tl._progress import progress_bar

        n_cells = values.shape[0]
        batch_size = batch_size or self.default_batch_size()
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        with progress_bar(total=n_cells, enabled=progress, desc="scLong", unit="cell") as bar:
            for start in range(0, n_cells, batch_size):
                chunk = values[start : start + batch_size]
                if hasattr(chunk, "toarray"):
                    chunk = chunk.toarray()
                representations, reconstruction = self.forward_batch(np.asarray(chunk), dtype=dtype)
                bar.update(representations.shape[0])
                yield start, representations.cpu().numpy(), reconstruction.cpu().numpy()

    def encode(
        self,
        values: np.ndarray | Any,
        *,
        batch_size: int | None = None,
        dtype: str | torch.dtype | None = None,
        progress: bool | None = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-gene representations and reconstructed values of cells.

        Parameters
        ----------
        values
            ``(cells, n_genes)`` float array already in model space: vocabulary order, preprocessed as
            :func:`sclong_tl.pp.normalize` does, -10 (any value <= -1) for masked genes.
        batch_size, dtype, progress
            See :meth:`iter_encode`.

        Returns
        -------
        representations
            ``(cells, n_genes, d)`` float32.
        reconstruction
            ``(cells, n_genes)`` float32.

        Notes
        -----
        Deterministic, and a cell's result does not depend on the batch size or the other cells in its batch.
        """
        n_cells, d = values.shape[0], self.config.base_dim
        representations = np.empty((n_cells, self.config.n_genes, d), dtype=np.float32)
        reconstruction = np.empty((n_cells, self.config.n_genes), dtype=np.float32)
        for start, batch_repr, batch_recon in self.iter_encode(
            values, batch_size=batch_size, dtype=dtype, progress=progress
        ):
            representations[start : start + len(batch_repr)] = batch_repr
            reconstruction[start : start + len(batch_recon)] = batch_recon
        return representations, reconstruction


def go_graph(genes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The GO gene graph of a vocabulary from the shipped GO annotations: ``(edge_index, edge_weight)``."""
    from sclong_tl.genes import build_go_graph, go_graph_edges, load_gene2go

    return go_graph_edges(build_go_graph(load_gene2go(), genes), genes)
