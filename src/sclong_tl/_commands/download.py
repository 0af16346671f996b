"""``sclong-tl download``: pre-fetch registered weights or datasets into the cache (for example on a login node)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``download`` command."""
    parser = subparsers.add_parser(
        "download",
        help="download registered weights or a dataset into the cache and print its path",
        description="Download registered model weights (sclong_tl.weights.available()) or a dataset "
        "(sclong_tl.datasets.available()) into the cache, check it, and print the cached path. "
        "Run it where the network is reachable; afterwards the file is used offline. Environment: "
        "SCLONG_TL_CACHE (cache folder), SCLONG_TL_MIRROR (mirror replacing the download location).",
    )
    parser.add_argument("name", nargs="?", help="weights or dataset name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the registered weights and datasets")
    parser.add_argument(
        "--cache", metavar="DIR", default=None, help="cache folder (default: SCLONG_TL_CACHE or the OS cache)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)


def _format_size(size: object) -> str:
    try:
        value = float(size)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "?"
    if value != value:  # NaN / NA
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return "?"  # pragma: no cover


def _print_list() -> None:
    from sclong_tl import datasets
    from sclong_tl.weights import _registry

    rows = [("NAME", "KIND", "HOW", "READY", "SIZE", "FILE")]
    for name, entry in _registry.available().iterrows():
        rows.append(
            (
                str(name),
                "weights",
                entry["source"],
                "yes" if entry["fetchable"] else "no",
                _format_size(entry["size"]),
                entry["file_name"],
            )
        )
    for name, entry in datasets.available().iterrows():
        rows.append((str(name), "dataset", "download", "yes", "?", entry["file_name"]))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _run(args: argparse.Namespace) -> int:
    if args.list:
        _print_list()
        return 0
    if not args.name:
        raise ValueError("give a NAME to download, or --list")
    from sclong_tl import datasets
    from sclong_tl.weights import _registry

    progress = not args.no_progress
    if args.name in _registry.available().index:
        path = _registry.fetch(args.name, progress=progress, cache_dir=args.cache)
    elif args.name in datasets.available().index:
        path = datasets.fetch(args.name, progress=progress, cache_dir=args.cache)
    else:
        raise ValueError(f"no weights or dataset named {args.name!r}; see `sclong-tl download --list`")
    print(path)
    return 0
