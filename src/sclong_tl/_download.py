"""Shared download plumbing for model weights and datasets (pooch, sha256 checks, cache, mirror, offline use).

Environment variables
---------------------
``SCLONG_TL_CACHE``
    Cache directory (default :func:`pooch.os_cache` ``("sclong_tl")``; also :attr:`sclong_tl.settings.cache_dir`).
    Weights go to ``<cache>/weights/``, datasets to ``<cache>/datasets/``.
``SCLONG_TL_MIRROR``
    A mirror that replaces every download location: an ``http(s)://`` base URL or a local directory holding the
    files under their registry file names (``<mirror>/<file name>``, flat). Hashes are checked as usual.
``SCLONG_TL_OFFLINE``
    When set to a non-empty value other than ``0``, nothing is downloaded: files must already be cached.

A file already in the cache with the expected hash is used without any network access, so once pre-fetched
(``sclong-tl download NAME`` on a login node) everything works offline.
"""

from __future__ import annotations

import logging
import os
import shutil
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ENV_CACHE = "SCLONG_TL_CACHE"
ENV_MIRROR = "SCLONG_TL_MIRROR"
ENV_OFFLINE = "SCLONG_TL_OFFLINE"

#: Extra attempts after a failed download or hash check (pooch waits 1 s, 2 s, ... in between).
DEFAULT_RETRIES = 2
#: Seconds without data before an HTTP download is abandoned.
TIMEOUT_S = 60


def cache_dir(subdir: str | None = None, *, cache: str | os.PathLike | None = None) -> Path:
    """Directory where downloads are kept.

    Parameters
    ----------
    subdir
        Sub-folder (``"weights"``, ``"datasets"``).
    cache
        Explicit cache root; default :attr:`sclong_tl.settings.cache_dir` (``SCLONG_TL_CACHE`` or pooch's OS cache).

    Returns
    -------
    The directory (not created).
    """
    if cache is None:
        from ._settings import settings

        root = settings.cache_dir
    else:
        root = Path(cache).expanduser()
    return root / subdir if subdir else root


def offline() -> bool:
    """Whether ``SCLONG_TL_OFFLINE`` forbids downloads."""
    return os.environ.get(ENV_OFFLINE, "").strip() not in ("", "0")


def resolve_url(url: str, file_name: str) -> str:
    """The location ``url`` is downloaded from: ``<SCLONG_TL_MIRROR>/<file_name>`` when a mirror is set.

    Local paths (in ``url`` or as the mirror) become ``file://`` URLs.
    """
    mirror = os.environ.get(ENV_MIRROR, "").strip()
    if mirror:
        if "://" not in mirror:
            return Path(mirror).expanduser().resolve().joinpath(file_name).as_uri()
        return f"{mirror.rstrip('/')}/{urllib.parse.quote(file_name)}"
    if "://" not in url and not url.startswith("doi:"):
        return Path(url).expanduser().resolve().as_uri()
    return url


def _copy_local_file(url: str, output_file: str | Any, pooch: Any = None, check_only: bool = False) -> bool | None:
    """Pooch downloader for ``file://`` URLs: copies the file (pooch then checks its hash)."""
    source = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    if check_only:
        return source.is_file()
    if not source.is_file():
        raise FileNotFoundError(f"no file at {source}")
    with open(source, "rb") as src:
        if hasattr(output_file, "write"):
            shutil.copyfileobj(src, output_file)
        else:
            with open(output_file, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return None


def _downloader(url: str, progress: bool) -> Callable[..., Any] | None:
    import pooch

    from ._version import __version__

    scheme = urllib.parse.urlparse(url).scheme
    if scheme == "file":
        return _copy_local_file
    if scheme in ("http", "https"):
        return pooch.HTTPDownloader(
            progressbar=progress, timeout=TIMEOUT_S, headers={"User-Agent": f"sclong_tl/{__version__} (pooch)"}
        )
    return None  # ftp, sftp, doi: pooch's own choice


def retrieve(
    url: str,
    *,
    file_name: str,
    known_hash: str | None,
    subdir: str,
    progress: bool = True,
    retries: int = DEFAULT_RETRIES,
    cache: str | os.PathLike | None = None,
) -> Path:
    """Download ``url`` into the cache once (hash-checked) and return the cached path.

    Parameters
    ----------
    url
        Where the file lives (``http(s)://``, ``ftp://``, ``doi:``, ``file://`` or a local path); replaced by
        ``<SCLONG_TL_MIRROR>/<file_name>`` when that variable is set.
    file_name
        Name of the file in the cache (and on a mirror).
    known_hash
        ``"<sha256 hex>"`` (or ``"md5:<hex>"`` ...); None skips the check (the caller must validate the file).
    subdir
        Cache sub-folder.
    progress
        Show a tqdm progress bar while downloading.
    retries
        Extra attempts after a connection error or a hash mismatch.
    cache
        Cache root; default :attr:`sclong_tl.settings.cache_dir`.

    Returns
    -------
    Path of the cached file. A file already cached with the expected hash is returned without network access.

    Raises
    ------
    ValueError
        The downloaded file does not match ``known_hash`` (it is deleted, never kept in the cache).
    RuntimeError
        The download failed (network error, HTTP error), or ``SCLONG_TL_OFFLINE`` is set and the file is not
        cached.
    FileNotFoundError
        A ``file://`` source or local mirror does not hold the file.
    """
    import pooch
    import requests
    from pooch.hashes import hash_matches

    folder = cache_dir(subdir, cache=cache)
    target = folder / file_name
    if offline() and not target.is_file():
        raise RuntimeError(
            f"{file_name} is not in the cache ({target}) and {ENV_OFFLINE} forbids downloads; "
            f"pre-fetch it with `sclong-tl download` on a machine with network access"
        )
    source = resolve_url(url, file_name)
    store = pooch.create(
        path=folder,
        base_url="",
        registry={file_name: known_hash},
        urls={file_name: source},
        retry_if_failed=max(0, int(retries)),
    )
    if offline() and not hash_matches(str(target), known_hash):
        raise RuntimeError(
            f"the cached {target} does not match its sha256 {known_hash} and {ENV_OFFLINE} forbids downloading it again"
        )
    try:
        path = store.fetch(file_name, downloader=_downloader(source, progress))
    except ValueError as error:  # pooch: hash mismatch after every attempt
        raise ValueError(
            f"{file_name} from {source} failed its checksum ({error}); the download was deleted, nothing was cached"
        ) from error
    except requests.exceptions.RequestException as error:
        raise RuntimeError(
            f"could not download {file_name} from {source} (tried {1 + max(0, int(retries))} "
            f"time(s)): {error}. Check the network, or set {ENV_MIRROR} to a mirror, or pre-fetch "
            f"with `sclong-tl download` where the network is reachable"
        ) from error
    _readable(Path(path))
    logger.debug("%s cached at %s", file_name, path)
    return Path(path)


def _readable(path: Path) -> None:
    """Give a downloaded file (pooch writes through a 0600 temporary file) the permissions of a new file."""
    from ._io import default_file_mode

    mode = default_file_mode()
    if path.stat().st_mode & 0o777 != mode:
        try:
            path.chmod(mode)
        except OSError:  # a cached file owned by somebody else: leave it
            logger.debug("could not change the permissions of %s", path)


def remove_cached(path: str | os.PathLike) -> None:
    """Delete a cached file or folder (used when a file without a known hash fails validation)."""
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
