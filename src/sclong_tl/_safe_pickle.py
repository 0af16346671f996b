"""A restricted unpickler for the official scLong release files.

Only plain containers, numbers, strings, numpy arrays and torch tensors can be rebuilt; any other global a
pickle asks for (functions such as ``os.system``, arbitrary classes) is refused with :class:`UnsafePickleError`
before anything runs. Nothing a pickle calls may allocate more than the pickle itself holds: ``bytearray`` is
refused, ``bytes`` only converts data already in the stream (``bytes(300_000_000)`` is refused), and the container
constructors accept only containers already built from the stream (``list(range(10**9))`` is refused). Sources
larger than :data:`MAX_PICKLE_BYTES` are refused before reading.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import IO, Any

#: Largest pickle :func:`load_restricted` reads (the official hyper-parameter file is a few MB).
MAX_PICKLE_BYTES = 1 << 30
# (module, name) pairs a pickle may reference: builtin scalars and what torch / numpy need to rebuild arrays;
# container constructors and ``bytes`` are admitted through :func:`_guarded` (no amplification)
_SAFE_BUILTINS = {"str", "int", "float", "complex", "bool", "slice", "range"}
_GUARDED_BUILTINS = {"set", "frozenset", "dict", "list", "tuple", "bytes"}
_MATERIALISED = (list, tuple, set, frozenset, dict, str, bytes)
_SAFE_GLOBALS: set[tuple[str, str]] = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch", "Size"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
_TORCH_STORAGES = {
    "FloatStorage",
    "DoubleStorage",
    "HalfStorage",
    "BFloat16Storage",
    "LongStorage",
    "IntStorage",
    "ShortStorage",
    "CharStorage",
    "ByteStorage",
    "BoolStorage",
}


class UnsafePickleError(pickle.UnpicklingError):
    """Raised when a pickle references anything but plain data, arrays and tensors."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only an allow-list of globals; torch storages are rebuilt from the byte stream."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # protocol 0-2 pickles name the Python 2 module
            module = "builtins"
        if module == "builtins" and name in _SAFE_BUILTINS:
            return super().find_class(module, name)
        if module == "builtins" and name in _GUARDED_BUILTINS:
            return _guarded(super().find_class(module, name))
        if (module, name) == ("_codecs", "encode"):  # how protocol 0-2 pickles store bytes
            return _latin1_bytes
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        if module == "torch" and name in _TORCH_STORAGES:
            return super().find_class(module, name)
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            # ``pickle.dump`` of a tensor stores its storage as torch.save bytes; torch's own hook would
            # torch.load them without weights_only, so read them with weights_only=True instead
            return _storage_from_bytes
        raise UnsafePickleError(
            f"refusing to unpickle {module}.{name}: only plain containers, numbers, strings, numpy arrays and "
            "torch tensors are allowed in scLong release files"
        )

    def persistent_load(self, pid: Any) -> Any:
        # torch.save'd legacy storages: ("storage", storage_type, key, location, numel)
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            raise UnsafePickleError("legacy torch storages inside a plain pickle are not supported")
        raise UnsafePickleError(f"unsupported persistent id in pickle: {pid!r}")


def _guarded(constructor: type) -> Any:
    """``constructor`` admitting only arguments already materialised from the stream (no size amplification)."""

    def build(*args: Any) -> Any:
        if len(args) > 2 or any(not isinstance(arg, _MATERIALISED) for arg in args[:1]):
            shown = ", ".join(type(arg).__name__ for arg in args)
            raise UnsafePickleError(
                f"refusing {constructor.__name__}({shown}) in a pickle: only containers already "
                "held by the pickle may be converted (no allocation beyond the file's size)"
            )
        if len(args) == 2 and not (constructor is bytes and isinstance(args[0], str) and isinstance(args[1], str)):
            raise UnsafePickleError(f"refusing {constructor.__name__} with {len(args)} arguments in a pickle")
        return constructor(*args)

    return build


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode`` limited to what protocol 0-2 pickles use it for: text held by the stream to bytes."""
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafePickleError("refusing _codecs.encode other than of a string to latin1 bytes")
    return text.encode("latin1")


def _storage_from_bytes(data: bytes) -> Any:
    """Rebuild a torch storage saved inside a plain pickle, loading it with ``weights_only=True``."""
    import torch

    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def load_restricted(source: str | os.PathLike | IO[bytes] | bytes, *, max_bytes: int = MAX_PICKLE_BYTES) -> Any:
    """Unpickle ``source`` allowing only plain data, numpy arrays and torch tensors.

    Parameters
    ----------
    source
        A path, an open binary file or the pickle's bytes.
    max_bytes
        Largest pickle accepted (paths and bytes).

    Returns
    -------
    The rebuilt object.

    Raises
    ------
    UnsafePickleError
        If the pickle references any other global (for example a function it would call), asks an admitted one
        to allocate more than the pickle holds, or is larger than ``max_bytes``.
    """
    if isinstance(source, bytes | bytearray):
        _check_size(len(source), max_bytes)
        return _RestrictedUnpickler(io.BytesIO(source)).load()
    if isinstance(source, str | os.PathLike):
        _check_size(os.path.getsize(source), max_bytes)
        with open(source, "rb") as handle:
            return _RestrictedUnpickler(handle).load()
    return _RestrictedUnpickler(source).load()


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise UnsafePickleError(f"refusing a {size:,}-byte pickle (limit {max_bytes:,} bytes)")
