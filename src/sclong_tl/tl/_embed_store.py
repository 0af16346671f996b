"""Embed ``.h5ad`` files of any size into a zarr store, chunk by chunk: resumable, and split across torchrun ranks.

The store's layout, and reading it back, are in :mod:`sclong_tl.tl._zarr_store`. Each row block is computed,
written to ``embedding`` and only then marked in ``done`` (every zarr chunk is written to a temporary file and
renamed into place), so a killed run leaves complete blocks marked and nothing else; running it again computes
the unmarked blocks only. ``request`` records what determines the numbers (the model's weights, the options, the
inputs' shapes, sizes and names); a store made for another request is refused. The store itself is created in a
temporary folder and renamed into place.

Under ``torchrun`` every rank opens the inputs, the ranks agree on the blocks still to do and each takes a
contiguous range of them. Batches start at multiples of the batch size from each input's first cell, as in
:func:`~sclong_tl.embed`, so the result is bit-identical to one :func:`~sclong_tl.embed` call per file with
the same batch size, precision, device type and threads, however the work is split or interrupted.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sclong_tl._anndata import expression_matrix
from sclong_tl._progress import progress_bar
from sclong_tl.pp._values import Values, check_values_option

from ._embed import DEFAULT_OBSM_KEY, DEFAULT_POOLING, Pooling, _check_options
from ._zarr_store import DONE, EMBEDDING, FORMAT, OBS_NAMES, VERSION, array, attributes, read_all, read_root, subgroup

if TYPE_CHECKING:  # pragma: no cover
    import zarr
    from anndata import AnnData

    from sclong_tl.models import ScLongModel
    from sclong_tl.train._distributed import DistributedContext

logger = logging.getLogger(__name__)

#: how long a rank waits for the others (rank 0 scans every input before the work starts)
_BARRIER_TIMEOUT = datetime.timedelta(hours=12)
#: seconds between two refreshes of the overall progress bar
_POLL_SECONDS = 1.0
_CHUNK_KEYS: Any = {"name": "default", "separator": "/"}


def embed_to_zarr(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    model: ScLongModel | str | os.PathLike = "default",
    *,
    layer: str | None = None,
    values: Values = "auto",
    gene_key: str | None = None,
    pooling: Pooling = DEFAULT_POOLING,
    batch_size: int | None = None,
    chunk_size: int | None = None,
    device: str = "auto",
    dtype: str | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
) -> Path:
    """Embed ``.h5ad`` files into a zarr store as :func:`~sclong_tl.embed` would, streaming them from disk.

    Every file is opened with ``backed="r"`` and read one block of rows at a time; each block's embeddings are
    written to the store as soon as they are computed, so memory does not grow with the number of cells, also
    for the wide ``"paper"`` pooling. A killed run continues where it stopped when called again with the same
    arguments (blocks finished before the kill are kept, the others computed once). Launched by ``torchrun``
    (``WORLD_SIZE`` > 1, on one machine or several sharing ``out``'s file system), the blocks are split across
    the processes, each on its own GPU (``LOCAL_RANK``) or on the CPU; the store is the same. This is what
    ``sclong-tl embed`` runs.

    Parameters
    ----------
    inputs
        One or more ``.h5ad`` files (cells x genes, as :func:`~sclong_tl.embed` accepts).
    out
        The zarr store to write (a folder, by convention ``*.zarr``).
    model
        A loaded :class:`~sclong_tl.ScLongModel`, a ``.safetensors`` path or a registered name.
    layer
        Use ``layers[layer]`` instead of ``X``.
    values
        What the matrices hold (see :func:`~sclong_tl.embed`); detected per file.
    gene_key
        Column of ``var`` with the gene names (default ``var_names``).
    pooling
        ``"paper"`` (one column per matched gene) or ``"mean"`` (``d`` columns); see :func:`~sclong_tl.embed`.
    batch_size
        Cells per forward pass (default: the model's choice). Results are bit-identical to
        :func:`~sclong_tl.embed` with the same batch size; other batch sizes agree to rounding.
    chunk_size
        Cells per row block, the unit of writing and resuming (default 256), rounded up to a multiple of the
        batch size.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...; under ``torchrun`` each rank uses the GPU of its ``LOCAL_RANK``.
    dtype
        ``"float32"`` or ``"bfloat16"``; default bfloat16 on CUDA, float32 on CPU.
    overwrite
        Replace a store made for other inputs, model or options (by default it is refused). A store of the
        same request is always continued, never recomputed.
    progress
        Show progress bars (None: :attr:`sclong_tl.settings.progress`): this process's blocks, and on rank 0
        all ranks together, with throughput and remaining time.

    Returns
    -------
    The store's path. Written there (layout on the "Large datasets and GPUs" page): per input ``i``, the group
    ``i`` with ``embedding`` (float32 ``(n_obs, n_dims)``, as ``.obsm["X_sclong"]``), ``obs_names`` and the
    attribute ``uns`` (the ``.uns["sclong"]`` record of :func:`~sclong_tl.embed`: params, genes,
    feature_genes); the root attribute ``complete`` is true once every block is written. Read it back with
    :func:`~sclong_tl.tl.read_embedding`.

    Raises
    ------
    FileNotFoundError
        When an input does not exist.
    FileExistsError
        When ``out`` exists and is not a store of this request (unless ``overwrite``).
    ValueError
        When an option is invalid, or an input holds NaN, infinite or negative values or no vocabulary gene
        (checked before the model runs).
    """
    from sclong_tl._cpu import torch_threads
    from sclong_tl._device import resolve_device, resolve_dtype
    from sclong_tl.models import ScLongModel, load_model
    from sclong_tl.tl._embed import chunk_cells

    _check_options(pooling=pooling, key_added=None, gene_key_added=None, batch_size=batch_size)
    check_values_option(values)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    paths = _input_paths(inputs)
    out = Path(out).expanduser()
    with _distributed(device) as context, contextlib.ExitStack() as files:
        model_device = str(context.device) if context.enabled else device
        if isinstance(model, ScLongModel):
            model = load_model(model, device=model_device)
        else:  # loaded for this run: hold the weights in the compute precision (as sl.embed does)
            wanted = resolve_dtype(dtype, resolve_device(model_device))
            model = load_model(model, device=model_device, dtype=str(wanted).removeprefix("torch."))
        compute_dtype = model.compute_dtype(dtype)
        batch_size = batch_size or model.default_batch_size()
        adatas = [files.enter_context(_open_backed(path)) for path in paths]
        request = {
            "model": model.name,
            "model_sha256": _model_digest(model),
            "pooling": pooling,
            "values": values,
            "layer": layer,
            "gene_key": gene_key,
            "dtype": str(compute_dtype).removeprefix("torch."),
            "device_type": model.device.type,
            "batch_size": batch_size,
            "chunk_size": chunk_cells(batch_size, chunk_size),
            "inputs": [_input_identity(path, adata) for path, adata in zip(paths, adatas, strict=True)],
        }
        state = _existing_state(out, request, overwrite=overwrite)
        _barrier(context)  # every rank has read the old store before rank 0 replaces it
        if context.is_main and state != "resume":
            _create_store(out, request, paths, adatas, model, dtype=compute_dtype)
        _barrier(context)
        root = _open_store(out, request)
        parts = [
            _Part.open(out, root, index, adata, model, layer=layer, gene_key=gene_key)
            for index, adata in enumerate(adatas)
        ]
        remaining = [(part, int(block)) for part in parts for block in np.flatnonzero(read_all(part.done) == 0)]
        _barrier(context)  # every rank has the same view of the finished blocks before any writes
        mine = remaining[
            len(remaining) * context.rank // context.world_size : len(remaining)
            * (context.rank + 1)
            // context.world_size
        ]
        with torch_threads():
            _run_blocks(
                mine,
                parts,
                model,
                context,
                pooling=pooling,
                batch_size=batch_size,
                dtype=compute_dtype,
                progress=progress,
            )
        _barrier(context)
        if context.is_main:
            _mark_complete(root, parts)
    return out


# ------------------------------------------------------------------------------------------------ inputs
def _input_paths(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    if not items:
        raise ValueError("give at least one input .h5ad file")
    paths = []
    for item in items:
        path = Path(item).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no input file at {path}" + (" (a directory)" if path.is_dir() else ""))
        paths.append(path.resolve())
    repeated = sorted({str(path) for path in paths if paths.count(path) > 1})
    if repeated:
        raise ValueError(f"inputs given more than once: {repeated}")
    return paths


@contextlib.contextmanager
def _open_backed(path: Path) -> Iterator[AnnData]:
    import anndata as ad

    try:
        adata = ad.read_h5ad(path, backed="r")
    except OSError as error:
        raise ValueError(f"cannot read {path} as an .h5ad file: {error}") from error
    try:
        if adata.n_obs == 0 or adata.n_vars == 0:
            raise ValueError(f"{path}: embed needs at least one cell and one gene, got {adata.n_obs} x {adata.n_vars}")
        yield adata
    finally:
        adata.file.close()


def _input_identity(path: Path, adata: AnnData) -> dict[str, Any]:
    """What identifies an input (its path is left out: the same file may be mounted elsewhere on other nodes)."""
    digest = hashlib.sha256()
    for names in (adata.obs_names, adata.var_names):
        digest.update("\n".join(map(str, names)).encode())
        digest.update(b"\0")
    return {
        "n_obs": int(adata.n_obs),
        "n_vars": int(adata.n_vars),
        "size": path.stat().st_size,
        "names_sha256": digest.hexdigest(),
    }


def _model_digest(model: ScLongModel) -> str:
    """The weights' sha256: the file's when loaded from one, else of the tensors (an unsaved model)."""
    if model.sha256 is not None:
        return model.sha256
    import torch

    digest = hashlib.sha256()
    for key, value in sorted(model.module.state_dict().items()):
        if key.endswith("calls_since_last_redraw"):  # a counter, not a weight
            continue
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return "tensors:" + digest.hexdigest()


# ---------------------------------------------------------------------------------------- processes
@contextlib.contextmanager
def _distributed(device: str) -> Iterator[DistributedContext]:
    """The process's place under torchrun (a single process otherwise); leaves a group it created."""
    from sclong_tl.train._distributed import init_distributed

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield init_distributed(device)
        return
    import torch.distributed as dist

    created = not dist.is_initialized()
    # gloo for the barriers: nothing but synchronisation crosses processes, and NCCL's timeout is short
    context = init_distributed(device, backend="gloo", timeout=_BARRIER_TIMEOUT)
    try:
        yield context
    finally:
        if created and dist.is_initialized():
            dist.destroy_process_group()


def _barrier(context: DistributedContext) -> None:
    if context.enabled:
        import torch.distributed as dist

        dist.barrier()


# ------------------------------------------------------------------------------------------- the store
def _existing_state(out: Path, request: dict[str, Any], *, overwrite: bool) -> str:
    """``"new"`` (nothing there), ``"resume"`` (a store of this request) or ``"replace"``; refuses the rest."""
    if not out.exists():
        return "new"
    root = read_root(out) if out.is_dir() else None
    if root is None:
        if out.is_dir() and not any(out.iterdir()):
            return "replace"
        # never deleted, even with overwrite: it may be anything (a typo in the output path)
        raise FileExistsError(
            f"{out} exists and is not an sclong_tl embedding store; choose another output (or remove it yourself)"
        )
    stored_attributes = attributes(root)
    if int(stored_attributes.get("version", 0)) > VERSION:
        raise FileExistsError(
            f"{out} was written by a newer sclong_tl (store version {stored_attributes['version']}); "
            "upgrade sclong_tl or choose another output"
        )
    stored = dict(stored_attributes.get("request", {}))
    if stored == request:
        return "resume"
    if overwrite:
        return "replace"
    raise FileExistsError(
        f"{out} holds embeddings of other inputs, model or options ({_differences(stored, request)}"
        "); choose another output, or pass --overwrite (overwrite=True) to replace it"
    )


def _differences(stored: dict[str, Any], request: dict[str, Any]) -> str:
    changes = []
    for key in sorted(set(stored) | set(request)):
        old, new = stored.get(key), request.get(key)
        if old == new:
            continue
        if key == "inputs":
            old_inputs, new_inputs = old or [], new or []
            if len(old_inputs) != len(new_inputs):
                changes.append(f"{len(old_inputs)} inputs, now {len(new_inputs)}")
            else:
                which = [i for i, (a, b) in enumerate(zip(old_inputs, new_inputs, strict=True)) if a != b]
                changes.append(f"input(s) {which} differ in cells, genes, size or names")
        else:
            changes.append(f"{key} {old!r}, now {new!r}")
    return "; ".join(changes)


def _create_store(
    out: Path, request: dict[str, Any], paths: list[Path], adatas: list[AnnData], model: ScLongModel, *, dtype: Any
) -> None:
    """Check and describe every input, then build the store in a temporary folder and rename it to ``out``."""
    import zarr

    from sclong_tl.pp import detect_values, match_genes

    from ._embed import feature_positions, uns_record

    layer, gene_key, chunk = request["layer"], request["gene_key"], request["chunk_size"]
    described = []
    for path, adata in zip(paths, adatas, strict=True):
        what = f"{path.name}: " + ("the expression matrix" if layer is None else f"layer {layer!r}")
        value_kind = detect_values(expression_matrix(adata, layer), values=request["values"], what=what)
        match = match_genes(adata, model.genes, gene_key=gene_key)
        positions = feature_positions(match)
        uns = uns_record(
            model,
            match,
            positions,
            pooling=request["pooling"],
            dtype=dtype,
            value_kind=value_kind,
            layer=layer,
            gene_key=gene_key,
            key_added=DEFAULT_OBSM_KEY,
        )
        described.append((value_kind, int(uns["params"]["n_dims"]), _jsonable(uns)))

    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        root = zarr.open_group(
            partial,
            mode="w-",
            attributes={
                "format": FORMAT,
                "version": VERSION,
                "request": request,
                "sources": [str(path) for path in paths],
                "complete": False,
            },
        )
        for index, (path, adata, (value_kind, n_dims, uns)) in enumerate(zip(paths, adatas, described, strict=True)):
            n_obs = int(adata.n_obs)
            n_chunks = -(-n_obs // chunk)
            group = root.create_group(
                str(index),
                attributes={
                    "source": str(path),
                    "n_obs": n_obs,
                    "n_chunks": n_chunks,
                    "chunk_size": chunk,
                    "is_counts": bool(value_kind.is_counts),
                    "uns": uns,
                },
            )
            group.create_array(
                EMBEDDING,
                shape=(n_obs, n_dims),
                chunks=(chunk, n_dims),
                dtype="float32",
                fill_value=np.nan,
                chunk_key_encoding=_CHUNK_KEYS,
            )
            names = group.create_array(
                OBS_NAMES, shape=(n_obs,), chunks=(min(n_obs, 1 << 16),), dtype=str, chunk_key_encoding=_CHUNK_KEYS
            )
            obs_names = np.asarray(adata.obs_names.astype(str))
            for start in range(0, n_obs, 1 << 16):
                names[start : start + (1 << 16)] = obs_names[start : start + (1 << 16)]
            group.create_array(
                DONE, shape=(n_chunks,), chunks=(1,), dtype="uint8", fill_value=0, chunk_key_encoding=_CHUNK_KEYS
            )
        if out.is_dir():  # an empty folder or a store checked by _existing_state
            shutil.rmtree(out)
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _jsonable(value: Any) -> Any:
    """A ``.uns`` record as JSON (numpy scalars and arrays become Python numbers and lists)."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _open_store(out: Path, request: dict[str, Any]) -> zarr.Group:
    import zarr

    root = zarr.open_group(out, mode="r+")
    if attributes(root).get("request") != request:  # pragma: no cover - another run replaced it meanwhile
        raise RuntimeError(f"{out} changed while this run was starting (another run writing to it?)")
    return root


@dataclass
class _Part:
    """One input's share of the store, ready to compute."""

    index: int
    folder: Path
    group: zarr.Group
    adata: AnnData
    X: Any
    match: Any
    is_counts: bool
    n_obs: int
    chunk: int

    @classmethod
    def open(
        cls,
        out: Path,
        root: zarr.Group,
        index: int,
        adata: AnnData,
        model: ScLongModel,
        *,
        layer: str | None,
        gene_key: str | None,
    ) -> _Part:
        from sclong_tl.pp import match_genes
        from sclong_tl.pp._chunks import as_row_sliceable

        group = subgroup(root, str(index))
        stored = attributes(group)
        match = match_genes(adata, model.genes, gene_key=gene_key)
        return cls(
            index=index,
            folder=out / str(index),
            group=group,
            adata=adata,
            X=as_row_sliceable(expression_matrix(adata, layer)),
            match=match,
            is_counts=bool(stored["is_counts"]),
            n_obs=int(stored["n_obs"]),
            chunk=int(stored["chunk_size"]),
        )

    @property
    def done(self) -> zarr.Array:
        return array(self.group, DONE)

    @property
    def embedding(self) -> zarr.Array:
        return array(self.group, EMBEDDING)

    def rows(self, block: int) -> tuple[int, int]:
        start = int(block) * self.chunk
        return start, min(start + self.chunk, self.n_obs)

    def cells_done(self) -> int:
        """Cells of the blocks marked done (counted from the marker files: cheap to poll)."""
        try:  # the marker of block b is the file DONE/c/b (zarr's default chunk keys, pinned at creation)
            blocks = [int(entry.name) for entry in os.scandir(self.folder / DONE / "c") if entry.name.isdigit()]
        except FileNotFoundError:
            return 0
        n_chunks = self.done.shape[0]
        return sum(self.rows(block)[1] - self.rows(block)[0] for block in blocks if block < n_chunks)


def _run_blocks(
    mine: list[tuple[_Part, int]],
    parts: list[_Part],
    model: ScLongModel,
    context: DistributedContext,
    *,
    pooling: str,
    batch_size: int,
    dtype: Any,
    progress: bool | None,
) -> None:
    """Compute, write and mark this rank's blocks, with its progress bar (and the overall one on rank 0)."""
    from sclong_tl.pp._chunks import read_rows
    from sclong_tl.pp._inputs import chunk_model_inputs

    from ._embed import ChunkPooler, feature_positions, nonfinite_message

    poolers = {
        part.index: ChunkPooler(
            model, feature_positions(part.match), pooling=pooling, batch_size=batch_size, dtype=dtype
        )
        for part in parts
    }
    for part in parts:
        if poolers[part.index].dims != part.embedding.shape[1]:
            raise RuntimeError(
                f"input {part.index} ({attributes(part.group)['source']}) now matches "
                f"{poolers[part.index].dims} genes, the store {part.embedding.shape[1]}"
            )
    total = sum(part.n_obs for part in parts)
    my_cells = sum(part.rows(block)[1] - part.rows(block)[0] for part, block in mine)
    started, n_empty = time.perf_counter(), 0
    with contextlib.ExitStack() as bars:
        overall = None
        if context.is_main:
            overall = bars.enter_context(
                progress_bar(
                    total=total,
                    initial=sum(part.cells_done() for part in parts),
                    enabled=progress,
                    unit="cell",
                    desc="scLong embed" + (f" (all {context.world_size} ranks)" if context.enabled else ""),
                    position=0,
                    dynamic_ncols=True,
                )
            )
        own = None
        if context.enabled:
            own = bars.enter_context(
                progress_bar(
                    total=my_cells,
                    enabled=progress,
                    unit="cell",
                    desc=f"rank {context.rank}",
                    position=context.rank + 1,
                    dynamic_ncols=True,
                )
            )
        polled = time.monotonic()
        for part, block in mine:
            start, stop = part.rows(block)
            inputs, empty = chunk_model_inputs(read_rows(part.X, start, stop), part.match, is_counts=part.is_counts)
            cells = poolers[part.index](inputs)
            if not np.isfinite(cells).all():
                raise FloatingPointError(
                    f"{attributes(part.group)['source']}, cells {start}-{stop}: "
                    + nonfinite_message(model, cells, dtype)
                )
            part.embedding[start:stop] = cells  # the data first ...
            part.done[int(block)] = 1  # ... then its mark: a killed run never marks a block it did not write
            n_empty += empty
            if own is not None:
                own.update(stop - start)
            if overall is not None:
                if not context.enabled:
                    overall.update(stop - start)
                elif time.monotonic() - polled >= _POLL_SECONDS:
                    overall.update(sum(p.cells_done() for p in parts) - overall.n)
                    polled = time.monotonic()
        if overall is not None and context.enabled and not overall.disable:
            while overall.n < total:  # keep the overall bar moving while the other ranks finish
                time.sleep(_POLL_SECONDS)
                overall.update(sum(p.cells_done() for p in parts) - overall.n)
    elapsed = time.perf_counter() - started
    if n_empty:
        logger.warning(
            "%d of %d cells have no expression over the vocabulary genes; their inputs are all-zero", n_empty, my_cells
        )
    if mine:
        logger.info(
            "embed: rank %d of %d wrote %d cells in %d blocks (%.1f cells/s)",
            context.rank,
            context.world_size,
            my_cells,
            len(mine),
            my_cells / max(elapsed, 1e-9),
        )


def _mark_complete(root: zarr.Group, parts: list[_Part]) -> None:
    missing = {part.index: int((read_all(part.done) == 0).sum()) for part in parts}
    missing = {index: count for index, count in missing.items() if count}
    if missing:  # pragma: no cover - every rank wrote its blocks before the barrier
        raise RuntimeError(f"blocks missing after the run: {missing} (input: count); run the command again")
    root.attrs["complete"] = True
    n_cells = sum(part.n_obs for part in parts)
    logger.info(
        "embed: wrote %s (%d cells from %d input(s), %s)",
        parts[0].folder.parent,
        n_cells,
        len(parts),
        ", ".join(f"{part.embedding.shape[1]} dims" for part in parts),
    )
