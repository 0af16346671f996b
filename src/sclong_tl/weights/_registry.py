"""The registry of pretrained scLong weights: :func:`available`, :func:`fetch`, :func:`register`.

Every entry says how its file is obtained:

``"download"``
    pooch downloads ``url`` into the cache (``SCLONG_TL_CACHE``; ``SCLONG_TL_MIRROR`` replaces the location) and
    checks its sha256; a cached file is used without network access. Each entry has its own cache folder,
    ``<cache>/weights/<first 16 hex digits of sha256(url)>/<file name>``, so two entries whose URLs end in the
    same file name never evict each other (a file cached by earlier versions directly under ``weights/`` is still
    used when its sha256 matches).
``"bundled"``
    the file ships inside the package under :data:`BUNDLED_DIR`; its sha256 is checked once per process.
``"convert"``
    the authors' release cannot be downloaded by a program; the user converts it once (``sclong-tl convert``).
    :func:`fetch` returns the converted file when it was written into the cache (``<cache>/weights/<file
    name>``), and otherwise raises an error listing the exact steps.
``"local"``
    a file on this machine, added with :func:`register`.

An entry without a sha256 cannot be fetched: it is listed as unavailable with the reason. Adding the default
model once it is trained is a one-line change: set ``_DEFAULT_SHA256`` below to the file's sha256 and commit the
file as ``BUNDLED_DIR / "sclong-default.safetensors"``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sclong_tl import _download

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

logger = logging.getLogger(__name__)

#: Package folder holding bundled weights (``src/sclong_tl/weights/data/``).
BUNDLED_DIR = Path(__file__).resolve().parent / "data"
#: Cache sub-folder for weights.
CACHE_SUBDIR = "weights"

Source = Literal["download", "bundled", "convert", "local"]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

OFFICIAL_RELEASE_FILES = (
    "gocont_4096_48m_pretrain_1b_mix_2024-02-05_16-23-37.pth",
    "gocont_4096_48m_pretrain_1b_mix.pkl",
    "selected_genes_27k.txt",
)


class WeightsUnavailableError(RuntimeError):
    """A registered model that this installation cannot provide (the message says how to obtain it)."""


@dataclass(frozen=True)
class WeightsEntry:
    """One registered set of weights.

    Attributes
    ----------
    name
        Registry name (what :func:`sclong_tl.load_model` accepts).
    description
        One line about the model.
    file_name
        File name in the cache, in :data:`BUNDLED_DIR` or on a mirror.
    source
        How the file is obtained: ``"download"``, ``"bundled"``, ``"convert"`` or ``"local"``.
    url
        Download location (``"download"``) or local path (``"local"``).
    sha256
        Hex digest of the file; required for ``"download"`` and ``"bundled"`` entries to be fetchable.
    size
        File size in bytes, when known.
    licence
        Licence of the weights.
    reason
        Why the entry cannot be fetched yet (shown by :func:`available` and in the error of :func:`fetch`).
    """

    name: str
    description: str
    file_name: str
    source: Source
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    licence: str = "unknown"
    reason: str | None = None

    @property
    def fetchable(self) -> bool:
        """Whether :func:`fetch` can provide the file without further steps by the user."""
        if self.reason is not None:
            return False
        if self.source == "download":
            return bool(self.url and self.sha256)
        if self.source == "bundled":
            return self.sha256 is not None and (BUNDLED_DIR / self.file_name).is_file()
        if self.source == "local":
            return self.url is not None and Path(self.url).is_file()
        return False  # "convert": only after the user converted the release


_CONVERT_STEPS = f"""\
The official scLong 1B weights are hosted on the authors' SharePoint folder (linked from
github.com/BaiDing1234/scLong; the paper also names figshare article 30105148), which programs cannot download.
Convert them once:
  1. download these three files of the authors' release by hand:
       {OFFICIAL_RELEASE_FILES[0]}
       {OFFICIAL_RELEASE_FILES[1]}
       {OFFICIAL_RELEASE_FILES[2]}
  2. sclong-tl convert --checkpoint {OFFICIAL_RELEASE_FILES[0]} \\
         --hyperparams {OFFICIAL_RELEASE_FILES[1]} \\
         --genes {OFFICIAL_RELEASE_FILES[2]} --out sclong-1b.safetensors
  3. sl.load_model("path/to/sclong-1b.safetensors")
Write --out to {{cached}} instead and sl.load_model("sclong-1b") finds it by name."""

#: sha256 of BUNDLED_DIR / "sclong-default.safetensors"; None until the trained default model is committed.
_DEFAULT_SHA256: str | None = "3d94f43dcd8525dcdfa03239436edf8d9ba6bf6c139c667084af19ce56276e9e"
_DEFAULT_PENDING = (
    "the default model is still being pretrained and is not part of this installation yet; pass "
    "a checkpoint path instead (e.g. the converted official model: see "
    "sclong_tl.weights.fetch('sclong-1b') for the steps)"
)

_BUILTIN: tuple[WeightsEntry, ...] = (
    WeightsEntry(
        name="sclong-default",
        source="bundled",
        file_name="sclong-default.safetensors",
        licence="BSD-3-Clause",
        description="sclong_tl's default model: full vocabulary, pretrained on public human data (not the "
        "evaluation sets), small enough for CPUs; shipped inside the package",
        sha256=_DEFAULT_SHA256,
        reason=None if _DEFAULT_SHA256 else _DEFAULT_PENDING,
    ),
    WeightsEntry(
        name="sclong-1b",
        source="convert",
        file_name="sclong-1b.safetensors",
        size=None,
        licence="set by the authors' release (not redistributed)",
        description="the official scLong 1B model (Bai et al., Nat Commun 2026), converted from the authors' "
        "release with `sclong-tl convert`",
    ),
)

_registry: dict[str, WeightsEntry] = {entry.name: entry for entry in _BUILTIN}


def _entry(name: str) -> WeightsEntry:
    try:
        return _registry[name]
    except KeyError:
        raise ValueError(
            f"no registered weights named {name!r}; registered: {', '.join(sorted(_registry))} "
            f"(see sclong_tl.weights.available())"
        ) from None


def available() -> pd.DataFrame:
    """The registered weights.

    Returns
    -------
    A data frame indexed by ``name`` with columns ``description``, ``file_name``, ``size`` (bytes, NA when
    unknown), ``sha256``, ``licence``, ``source`` (how the file is obtained: ``"download"``, ``"bundled"``,
    ``"convert"``, ``"local"``), ``url``, ``fetchable`` (whether :func:`fetch` can provide it now) and
    ``reason`` (why not, when known).
    """
    import pandas as pd

    rows = [{**asdict(entry), "fetchable": entry.fetchable} for entry in _registry.values()]
    frame = pd.DataFrame(rows).set_index("name")
    frame["size"] = frame["size"].astype("Int64")
    return frame[["description", "file_name", "size", "sha256", "licence", "source", "url", "fetchable", "reason"]]


def register(
    name: str,
    url: str | os.PathLike,
    sha256: str | None,
    *,
    file_name: str | None = None,
    description: str = "",
    licence: str = "unknown",
    size: int | None = None,
    overwrite: bool = False,
) -> WeightsEntry:
    """Add weights to the registry (for this process), so that ``fetch(name)`` / ``load_model(name)`` find them.

    Parameters
    ----------
    name
        Registry name.
    url
        ``http(s)://``, ``ftp://`` or ``file://`` URL (downloaded into the cache with pooch), or a path to a file
        on this machine (used in place).
    sha256
        Hex digest of the file; required for URLs. For a local path None skips the check.
    file_name
        Name in the cache and on a mirror; default the last part of ``url`` (``<name>.safetensors`` when that has
        no file extension). A plain file name: names with a folder part, ``..`` or an absolute path are refused.
    description, licence, size
        Shown by :func:`available`.
    overwrite
        Replace an existing entry of the same name (built-in entries included).

    Returns
    -------
    The new entry.
    """
    if name in _registry and not overwrite:
        raise ValueError(f"weights named {name!r} are already registered; pass overwrite=True to replace them")
    if sha256 is not None:
        sha256 = sha256.lower().removeprefix("sha256:")
        if not _SHA256.match(sha256):
            raise ValueError(f"sha256 must be 64 hexadecimal characters, got {sha256!r}")
    url = os.fspath(url)
    is_url = "://" in url or url.startswith("doi:")
    if is_url and sha256 is None:
        raise ValueError("a sha256 is required to register a download URL (pooch checks every download)")
    if file_name is None:
        last = url.rstrip("/").rsplit("/", 1)[-1] if is_url else Path(url).name
        file_name = last if "." in last else f"{name}.safetensors"
    check_file_name(file_name)
    source: Source = "download" if is_url else "local"
    if source == "local":
        url = str(Path(url).expanduser().resolve())
    entry = WeightsEntry(
        name=name,
        description=description,
        file_name=file_name,
        source=source,
        url=url,
        sha256=sha256,
        size=size,
        licence=licence,
    )
    _registry[name] = entry
    logger.info("registered weights %r (%s: %s)", name, source, url)
    return entry


def unregister(name: str) -> None:
    """Remove an entry added by :func:`register` (built-in entries come back with their original content).

    Parameters
    ----------
    name
        The registered name.
    """
    _entry(name)
    builtin = {entry.name: entry for entry in _BUILTIN}
    if name in builtin:
        _registry[name] = builtin[name]
    else:
        del _registry[name]


def check_file_name(file_name: str) -> None:
    """Refuse a cache file name that is not a plain name inside the cache (``../x``, ``/abs``, ``a/b``, ``.``)."""
    if (
        not isinstance(file_name, str)
        or not file_name
        or file_name in (".", "..")
        or "/" in file_name
        or "\\" in file_name
        or "\0" in file_name
        or Path(file_name).name != file_name
    ):
        raise ValueError(f"file_name must be a plain file name (no folders, '..' or absolute paths), got {file_name!r}")


def _cache_subdir(entry: WeightsEntry) -> str:
    """Cache sub-folder of an entry: downloads are keyed by their URL, other sources use ``weights/``."""
    if entry.source == "download" and entry.url:
        return f"{CACHE_SUBDIR}/{hashlib.sha256(entry.url.encode()).hexdigest()[:16]}"
    return CACHE_SUBDIR


def cached_path(name: str, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the weights named ``name`` are (or would be) kept in the cache.

    Parameters
    ----------
    name
        A registered name (:func:`available`).
    cache_dir
        Cache root; default :attr:`sclong_tl.settings.cache_dir`.

    Returns
    -------
    ``<cache_dir>/weights[/<URL hash>]/<file name>``; the file need not exist (nothing is downloaded).
    """
    entry = _entry(name)
    check_file_name(entry.file_name)
    return _download.cache_dir(_cache_subdir(entry), cache=cache_dir) / entry.file_name


def fetch(
    name: str,
    *,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    retries: int = _download.DEFAULT_RETRIES,
) -> Path:
    """Path of the weights file registered as ``name``, downloading it into the cache once if needed.

    Parameters
    ----------
    name
        A name listed by :func:`available` (``"sclong-default"``, ``"sclong-1b"``, or one added with
        :func:`register`).
    progress
        Show a download progress bar.
    cache_dir
        Cache root; default :attr:`sclong_tl.settings.cache_dir` (``SCLONG_TL_CACHE`` or pooch's OS cache).
    retries
        Extra download attempts after a connection error or a checksum mismatch.

    Returns
    -------
    Path of a sha256-checked ``.safetensors`` file (for :func:`sclong_tl.load_model`).

    Raises
    ------
    ValueError
        Unknown name, or a download / bundled file whose sha256 does not match (nothing is cached then).
    WeightsUnavailableError
        The entry cannot be provided here; the message says how to obtain it (for ``"sclong-1b"``: the
        conversion steps).
    RuntimeError
        The download failed, or ``SCLONG_TL_OFFLINE`` is set and the file is not cached.
    """
    entry = _entry(name)
    if entry.reason is not None:
        raise WeightsUnavailableError(f"weights {name!r} are not available: {entry.reason}")
    if entry.source == "convert":
        converted = cached_path(name, cache_dir=cache_dir)
        if converted.is_file():
            return converted
        raise WeightsUnavailableError(
            f"weights {name!r} cannot be downloaded automatically.\n" + _CONVERT_STEPS.format(cached=converted)
        )
    if entry.source == "download":
        if entry.sha256 is None:  # only reachable for entries built by hand
            raise WeightsUnavailableError(f"weights {name!r} have no sha256 on record; refusing to download")
        assert entry.url is not None
        check_file_name(entry.file_name)
        legacy = _download.cache_dir(CACHE_SUBDIR, cache=cache_dir) / entry.file_name
        if not cached_path(name, cache_dir=cache_dir).is_file() and legacy.is_file():
            try:  # cached by an earlier version (keyed by file name only): use it when it is this entry's file
                _check_sha256(legacy, entry.sha256)
                return legacy
            except ValueError:
                pass
        return _download.retrieve(
            entry.url,
            file_name=entry.file_name,
            known_hash=entry.sha256,
            subdir=_cache_subdir(entry),
            progress=progress,
            retries=retries,
            cache=cache_dir,
        )
    path = Path(str(entry.url)) if entry.source == "local" else BUNDLED_DIR / entry.file_name
    if not path.is_file():
        raise WeightsUnavailableError(f"weights {name!r}: no file at {path}")
    if entry.sha256 is None and entry.source == "bundled":
        raise WeightsUnavailableError(f"bundled weights {name!r} have no sha256 on record")
    _check_sha256(path, entry.sha256)
    return path


_verified: set[tuple[str, str, int, int]] = set()


def _check_sha256(path: Path, sha256: str | None) -> None:
    """Compare a local file with its recorded sha256 (once per process for an unchanged file)."""
    if sha256 is None:
        return
    stat = path.stat()
    key = (str(path), sha256, stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return
    from sclong_tl._io import file_sha256

    actual = file_sha256(path)
    if actual != sha256:
        raise ValueError(
            f"{path} has sha256 {actual}, but the registry records {sha256}: the file was changed or "
            f"corrupted (update the registry's sha256 if the model was retrained on purpose)"
        )
    _verified.add(key)
