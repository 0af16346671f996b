"""``sclong-tl embed``: embed ``.h5ad`` files of any size into a zarr store (resumable; splits under torchrun)."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Embed the cells of one or more .h5ad files with scLong, as sclong_tl.embed does, into a zarr store. The files
are streamed from disk (backed mode) block by block and each block is written as soon as it is computed, so
memory does not grow with the number of cells. A killed run continues where it stopped when the same command
is run again. Under torchrun (e.g. `torchrun --nproc_per_node 4 -m sclong_tl.cli embed ...`) the blocks are
split across the processes, one GPU each; the store is identical. Read it back with
sclong_tl.tl.read_embedding(OUT, source=i), which also attaches it to an AnnData's .obsm.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``embed`` command."""
    from sclong_tl.pp._values import VALUES
    from sclong_tl.tl._embed import DEFAULT_POOLING, POOLINGS

    parser = subparsers.add_parser(
        "embed",
        help="embed .h5ad files into a zarr store (large datasets, resumable, torchrun)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help=".h5ad files (raw counts, CPM / TPM or log1p)")
    parser.add_argument("--out", required=True, help="the zarr store to write (a folder, e.g. atlas.zarr)")
    parser.add_argument(
        "--model", default="default", help="a .safetensors file or a registered name (default: %(default)s)"
    )
    parser.add_argument(
        "--pooling", default=DEFAULT_POOLING, choices=POOLINGS, help="cell embedding (default: %(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="cells per forward pass (default: the model's)")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="cells per written block, the unit of resuming (default 256, rounded up to a multiple of the batch)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: %(default)s)")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16"], help="default bf16 on CUDA")
    parser.add_argument("--values", default="auto", choices=VALUES, help="what the matrices hold (default: detected)")
    parser.add_argument("--layer", default=None, help="use this layer instead of X")
    parser.add_argument("--gene-key", default=None, help="var column with the gene names (default: var_names)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an OUT made from other inputs, model or options"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command from parsed arguments; prints the store's path (on the first process)."""
    import os

    from sclong_tl.tl._embed_store import embed_to_zarr

    path = embed_to_zarr(
        args.inputs,
        args.out,
        args.model,
        layer=args.layer,
        values=args.values,
        gene_key=args.gene_key,
        pooling=args.pooling,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        device=args.device,
        dtype=args.dtype,
        overwrite=args.overwrite,
        progress=False if args.no_progress else None,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        print(path)
    return 0
