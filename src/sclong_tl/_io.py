"""The one persistence layer: atomic writes, file checksums and safetensors files with a versioned JSON header.

Every file the package writes goes through :func:`atomic_write` (a temporary file in the destination folder,
flushed to disk, then renamed into place), so a process killed at any moment never leaves a half-written file.

Safetensors files carry one metadata entry, ``"sclong_tl"``: a JSON object

``{"format": "sclong_tl", "version": 2, "kind": KIND, ...content}``

where ``kind`` says which object the file holds (``"sclong"`` for :class:`~sclong_tl.ScLongModel`,
``"perturbation"`` for :class:`~sclong_tl.models.PerturbationModel`) and ``content`` is that object's JSON part
(its init parameters and metadata). A single entry keeps the header byte-stable (safetensors writes several
metadata entries in hash order), so writing the same inputs twice gives byte-identical files. Files of the
first layout (``"format": "sclong_tl/1"`` or ``"sclong_tl.perturbation/1"``, no ``version``) are still read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

FORMAT = "sclong_tl"
VERSION = 2
METADATA_KEY = "sclong_tl"
#: first-layout format strings -> the kind of object they hold
LEGACY_FORMATS = {"sclong_tl/1": "sclong", "sclong_tl.perturbation/1": "perturbation"}


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Context manager yielding a temporary path that is renamed to ``path`` when the block succeeds.

    Parameters
    ----------
    path
        Destination file (its folder is created).

    Yields
    ------
    The temporary file to write (in the destination folder, so the final rename is atomic). On error it is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield temporary
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def file_sha256(path: str | os.PathLike, *, chunk_size: int = 1 << 22) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], *, kind: str,
                      content: Mapping[str, Any]) -> Path:
    """Write ``tensors`` and a versioned JSON header to a ``.safetensors`` file, atomically.

    Parameters
    ----------
    path
        Destination file.
    tensors
        Tensors by name (moved to the CPU and made contiguous).
    kind
        What the file holds (``"sclong"``, ``"perturbation"``, ...).
    content
        JSON-serialisable header entries (must not use ``format``, ``version`` or ``kind``).

    Returns
    -------
    The path written.
    """
    from safetensors.torch import save_file

    reserved = {"format", "version", "kind"} & set(content)
    if reserved:
        raise ValueError(f"header entries {sorted(reserved)} are reserved")
    header = {"format": FORMAT, "version": VERSION, "kind": kind, **content}
    metadata = {METADATA_KEY: json.dumps(header, sort_keys=True)}
    cpu = {key: value.detach().cpu().contiguous() for key, value in tensors.items()}
    path = Path(path)
    with atomic_write(path) as temporary:
        save_file(cpu, str(temporary), metadata=metadata)
    return path


def _normalise_header(raw: str | None) -> dict[str, Any]:
    header = json.loads(raw) if raw else {}
    if not isinstance(header, dict):
        return {}
    legacy = LEGACY_FORMATS.get(str(header.get("format")))
    if legacy is not None:
        return {**header, "format": FORMAT, "version": 1, "kind": legacy}
    return header


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of a file written by :func:`write_safetensors` (first-layout files normalised).

    Returns
    -------
    The header with ``format``, ``version`` and ``kind``; an empty dict for a file without our header.
    """
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return _normalise_header((handle.metadata() or {}).get(METADATA_KEY))


def read_safetensors(path: str | os.PathLike, *, kind: str, device: str = "cpu", what: str | None = None,
                     hint: str = "") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by :func:`write_safetensors` (or in the first layout), checking what it holds.

    Parameters
    ----------
    path
        The ``.safetensors`` file.
    kind
        The kind of object expected.
    device
        Where to place the tensors.
    what
        How the error message names the expected object (default ``"<kind> file"``).
    hint
        Appended to the error message when the file is not of ``kind``.

    Returns
    -------
    tensors
        Tensors by name.
    header
        The JSON header (``format``, ``version``, ``kind`` and the content).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is not ours, holds another kind of object or was written by a newer version.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    with safe_open(str(path), framework="pt", device=device) as handle:
        header = _normalise_header((handle.metadata() or {}).get(METADATA_KEY))
        if header.get("format") != FORMAT or header.get("kind") != kind:
            found = header.get("kind") or "no sclong_tl header"
            raise ValueError(f"{path} is not an sclong_tl {what or kind + ' file'} ({found}){hint}")
        if int(header.get("version", 0)) > VERSION:
            raise ValueError(f"{path} was written by a newer sclong_tl (file format version {header['version']}, "
                             f"this version reads up to {VERSION}); upgrade sclong_tl")
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    return tensors, header
