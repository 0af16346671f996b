"""A restricted unpickler for the official scLong release files.

Only plain containers, numbers, strings, numpy arrays and torch tensors can be rebuilt; any other global a
pickle asks for (functions such as ``os.system``, arbitrary classes) is refused with :class:`UnsafePickleError`
before anything runs.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import IO, Any

# (module, name) pairs a pickle may reference: builtin containers and what torch / numpy need to rebuild arrays
_SAFE_BUILTINS = {"set", "frozenset", "dict", "list", "tuple", "str", "bytes", "bytearray", "int", "float",
                  "complex", "bool", "slice", "range"}
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
_TORCH_STORAGES = {"FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage",
                   "IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage"}


class UnsafePickleError(pickle.UnpicklingError):
    """Raised when a pickle references anything but plain data, arrays and tensors."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only an allow-list of globals; torch storages are rebuilt from the byte stream."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _SAFE_BUILTINS:
            return super().find_class(module, name)
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


def _storage_from_bytes(data: bytes) -> Any:
    """Rebuild a torch storage saved inside a plain pickle, loading it with ``weights_only=True``."""
    import torch

    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def load_restricted(source: str | os.PathLike | IO[bytes] | bytes) -> Any:
    """Unpickle ``source`` allowing only plain data, numpy arrays and torch tensors.

    Parameters
    ----------
    source
        A path, an open binary file or the pickle's bytes.

    Returns
    -------
    The rebuilt object.

    Raises
    ------
    UnsafePickleError
        If the pickle references any other global (for example a function it would call).
    """
    if isinstance(source, bytes | bytearray):
        return _RestrictedUnpickler(io.BytesIO(source)).load()
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            return _RestrictedUnpickler(handle).load()
    return _RestrictedUnpickler(source).load()
