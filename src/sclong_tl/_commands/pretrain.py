"""``sclong-tl pretrain``: masked-value pretraining on ``.h5ad`` shards (also ``torchrun -m sclong_tl.train``)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from sclong_tl.train import PretrainConfig

    defaults = PretrainConfig(data=[], out="")
    parser.add_argument("--data", nargs="+", required=True, metavar="SHARD", help=".h5ad shards (raw counts or log1p)")
    parser.add_argument("--config", default=defaults.config, help="model preset (tiny, sclong-1b) or a JSON file")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--init", default=None, metavar="CHECKPOINT", help="start from this .safetensors model")
    parser.add_argument("--genes", default=None, help="vocabulary file (one Ensembl ID a line)")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="cells per micro-batch per process")
    parser.add_argument("--grad-accum", type=int, default=defaults.grad_accum)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--warmup", type=int, default=defaults.warmup_steps, help="warm-up steps")
    parser.add_argument("--min-lr-ratio", type=float, default=defaults.min_lr_ratio)
    parser.add_argument("--clip-grad-norm", type=float, default=defaults.clip_grad_norm)
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--bf16", dest="bf16", action="store_true", default=None, help="bf16 autocast")
    precision.add_argument("--fp32", dest="bf16", action="store_false", help="no autocast (default on CPU)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--val-fraction", type=float, default=defaults.validation_fraction)
    parser.add_argument("--val-cells", type=int, default=defaults.validation_cells)
    parser.add_argument("--validate-every", type=int, default=defaults.validate_every)
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    parser.add_argument("--log-every", type=int, default=defaults.log_every)
    parser.add_argument("--min-genes", type=int, default=defaults.min_genes)
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in OUT")
    parser.add_argument("--fsdp", action="store_true", help="shard the model with FSDP (CUDA)")
    parser.add_argument("--device", default=defaults.device)
    parser.add_argument("--storage-dtype", default=None, choices=["float16", "bfloat16"])
    parser.add_argument("--name", default=defaults.name, help="model name recorded in the output")
    parser.add_argument(
        "--thinning",
        type=float,
        default=defaults.thinning,
        help="fraction of training cells binomially thinned (depth augmentation; count shards)",
    )
    parser.add_argument(
        "--thinning-min-keep",
        type=float,
        default=defaults.thinning_min_keep,
        help="smallest keep probability of the thinning",
    )
    parser.add_argument(
        "--pooling",
        type=float,
        default=defaults.pooling,
        help="fraction of training cells summed with other cells of their shard (deeper cells; count shards)",
    )
    parser.add_argument("--pooling-max-cells", type=int, default=defaults.pooling_max_cells, help="most cells summed")
    parser.add_argument(
        "--gene-subset",
        type=float,
        default=defaults.gene_subset,
        help="fraction of training cells that keep only a random part of their genes (gene-panel augmentation)",
    )
    parser.add_argument(
        "--gene-subset-min-keep",
        type=float,
        default=defaults.gene_subset_min_keep,
        help="smallest fraction of genes kept",
    )
    parser.add_argument(
        "--gene-init",
        default=defaults.gene_init,
        choices=["go", "coexpression", "go+coexpression"],
        help="initial gene tables of a new model",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``pretrain`` command."""
    parser = subparsers.add_parser("pretrain", help="pretrain an scLong model on .h5ad shards", description=__doc__)
    _add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run pretraining from parsed arguments."""
    from sclong_tl.train import PretrainConfig, pretrain

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = PretrainConfig(
        data=args.data,
        out=args.out,
        config=args.config,
        init=args.init,
        genes=args.genes,
        steps=args.steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        lr=args.lr,
        warmup_steps=args.warmup,
        min_lr_ratio=args.min_lr_ratio,
        clip_grad_norm=args.clip_grad_norm,
        bf16=args.bf16,
        seed=args.seed,
        validation_fraction=args.val_fraction,
        validation_cells=args.val_cells,
        validate_every=args.validate_every,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        min_genes=args.min_genes,
        resume=args.resume,
        fsdp=args.fsdp,
        device=args.device,
        storage_dtype=args.storage_dtype,
        name=args.name,
        thinning=args.thinning,
        thinning_min_keep=args.thinning_min_keep,
        pooling=args.pooling,
        pooling_max_cells=args.pooling_max_cells,
        gene_subset=args.gene_subset,
        gene_subset_min_keep=args.gene_subset_min_keep,
        gene_init=args.gene_init,
    )
    print(pretrain(config))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sclong_tl.train`` (what ``torchrun`` launches)."""
    parser = argparse.ArgumentParser(prog="python -m sclong_tl.train", description=__doc__)
    _add_arguments(parser)
    return run(parser.parse_args(argv))
