"""``sclong-tl convert``: official scLong release -> our safetensors format."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``convert`` command."""
    parser = subparsers.add_parser(
        "convert",
        help="convert the official scLong checkpoint to a .safetensors file",
        description="Convert the official scLong release (.pth weights, .pkl hyper-parameters, gene list) into "
        "one .safetensors file that sclong_tl.load_model reads. Pickles are read with a restricted "
        "unpickler; no GPU is needed.",
    )
    parser.add_argument("--checkpoint", required=True, help="the release .pth file")
    parser.add_argument("--hyperparams", required=True, help="the release .pkl file")
    parser.add_argument("--genes", required=True, help="selected_genes_27k.txt")
    parser.add_argument("--out", required=True, help="destination .safetensors file")
    parser.add_argument("--name", default="sclong-1b", help="model name recorded in the file")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sclong_tl.weights._convert import convert_official

    path = convert_official(args.checkpoint, args.hyperparams, args.genes, args.out, name=args.name)
    print(path)
    return 0
