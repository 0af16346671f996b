"""The one persistence layer: atomic writes, file checksums and safetensors files with a versioned JSON header.

Every file the package writes goes through :func:`atomic_write` (a temporary file in the destination folder,
flushed to disk, given the usual permissions of a new file, then renamed into place), so a process killed at any
moment never leaves a half-written file, and files in a shared cache are readable by the group as ``umask`` says.

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
from dataclasses import dataclass
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
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give the path of the file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield temporary
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary, default_file_mode())  # writers using mkstemp leave 0600: unreadable on a shared cache
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def default_file_mode() -> int:
    """Permission bits of a new file under the process umask (``0o644`` with the usual umask 022)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def file_sha256(path: str | os.PathLike, *, chunk_size: int = 1 << 22) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def write_safetensors(
    path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], *, kind: str, content: Mapping[str, Any]
) -> Path:
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


@dataclass
class LoadedFile:
    """A ``.safetensors`` file read into memory: its tensors (owning their memory), header and checksum."""

    tensors: dict[str, torch.Tensor]
    header: dict[str, Any]
    sha256: str


def load_safetensors(
    path: str | os.PathLike, *, kind: str, device: str = "cpu", what: str | None = None, hint: str = ""
) -> LoadedFile:
    """Read a file written by :func:`write_safetensors` (or in the first layout) into memory, checking it.

    The file is read once: its sha256 is computed from exactly the bytes the tensors are built from, and the
    tensors own their memory (no memory map stays open), so overwriting the file while a model is loaded can
    neither crash the process (SIGBUS) nor make the recorded checksum name other weights. Reading needs about
    twice the file's size in memory for a moment.

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
    A :class:`LoadedFile`.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is truncated, corrupted or not a safetensors file, is not ours, holds another kind of
        object or was written by a newer version (the message names the file and what is wrong).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}" + (" (a directory)" if path.is_dir() else ""))
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    metadata, tensors = _parse_safetensors(data, path)
    del data
    header = _normalise_header(metadata.get(METADATA_KEY))
    if header.get("format") != FORMAT or header.get("kind") != kind:
        found = header.get("kind") or "no sclong_tl header"
        raise ValueError(f"{path} is not an sclong_tl {what or kind + ' file'} ({found}){hint}")
    if int(header.get("version", 0)) > VERSION:
        raise ValueError(
            f"{path} was written by a newer sclong_tl (file format version {header['version']}, "
            f"this version reads up to {VERSION}); upgrade sclong_tl"
        )
    if device != "cpu":
        tensors = {key: value.to(device) for key, value in tensors.items()}
    return LoadedFile(tensors=tensors, header=header, sha256=sha256)


def _parse_safetensors(data: bytes, path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Metadata and tensors of a safetensors file's bytes, with errors that name the file and the damage."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    damaged = (
        f"{path} is not a readable .safetensors file ({len(data):,} bytes): {{}}. The file is truncated, "
        "corrupted or of another format; download, convert or save it again"
    )
    if len(data) < 8:
        raise ValueError(damaged.format("shorter than the 8-byte header length"))
    length = int.from_bytes(data[:8], "little")
    if length > len(data) - 8:
        raise ValueError(damaged.format(f"its header claims {length:,} bytes"))
    try:
        header = json.loads(data[8 : 8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(damaged.format(f"its header is not JSON ({error})")) from None
    if not isinstance(header, dict):
        raise ValueError(damaged.format("its header is not a JSON object"))
    try:
        tensors = load(data)  # per-tensor copies out of ``data``: nothing stays mapped to the file
    except (SafetensorError, ValueError, TypeError, RuntimeError) as error:
        raise ValueError(damaged.format(error)) from None
    metadata = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in metadata.items()}, tensors


def read_safetensors(
    path: str | os.PathLike, *, kind: str, device: str = "cpu", what: str | None = None, hint: str = ""
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and header of a file written by :func:`write_safetensors` (see :func:`load_safetensors`).

    Returns
    -------
    tensors
        Tensors by name (owning their memory).
    header
        The JSON header (``format``, ``version``, ``kind`` and the content).
    """
    loaded = load_safetensors(path, kind=kind, device=device, what=what, hint=hint)
    return loaded.tensors, loaded.header
