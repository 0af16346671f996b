"""Converter from the official scLong release files to our safetensors format.

The release (DESIGN.md section 2) consists of

- ``gocont_4096_48m_pretrain_1b_mix_<timestamp>.pth``: a ``torch.save`` dict whose ``model_state_dict`` holds
  the weights (read with ``torch.load(weights_only=True)``);
- ``gocont_4096_48m_pretrain_1b_mix.pkl``: a pickled dict of constructor arguments, including the GO graph
  (``G_go``, ``G_go_weight``) as tensors and ``device='cuda'`` (read with a restricted unpickler that only
  rebuilds tensors, numbers, strings and plain containers, on the CPU);
- ``selected_genes_27k.txt``: the vocabulary (Ensembl IDs, one a line) in token order.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# official constructor argument -> our config field
_HYPERPARAMETER_FIELDS = {
    "top_seq_len": "top_k",
    "base_dim": "base_dim",
    "mini_enc_depth": "mini_depth",
    "mini_enc_heads": "mini_heads",
    "mini_enc_dim_head": "mini_dim_head",
    "large_dim": "large_dim",
    "large_enc_depth": "large_depth",
    "large_enc_heads": "large_heads",
    "large_enc_dim_head": "large_dim_head",
    "dec_depth": "dec_depth",
    "dec_heads": "dec_heads",
    "dec_dim_head": "dec_dim_head",
    "go_num_layers": "go_layers",
    "mask_token_thres": "mask_threshold",
    "ff_mult": "ff_mult",
    "nb_features": "nb_features",
    "feature_redraw_interval": "feature_redraw_interval",
}
# constructor options our network does not implement; the release uses the listed values
_FIXED_OPTIONS = {
    "local_attn_heads": 0,
    "causal": False,
    "reversible": False,
    "ff_chunks": 1,
    "ff_glu": False,
    "generalized_attention": False,
    "use_scalenorm": False,
    "use_rezero": False,
    "cross_attend": False,
    "no_projection": False,
    "qkv_bias": False,
    "g2v_position_emb": True,
    "go_use_gene2vec": True,
}


def read_official_genes(path: str | os.PathLike) -> list[str]:
    """Read ``selected_genes_27k.txt`` (one Ensembl ID a line) in token order."""
    genes = [line.strip() for line in Path(path).read_text().splitlines()]
    genes = [gene for gene in genes if gene]
    if len(set(genes)) != len(genes):
        raise ValueError(f"{path}: the gene list has duplicates")
    return genes


def official_config(hyperparams: dict[str, Any], *, gene_table_dtype: str) -> dict[str, Any]:
    """Translate the official constructor arguments into our config fields."""
    for option, expected in _FIXED_OPTIONS.items():
        value = hyperparams.get(option, expected)
        if value != expected and not (option == "local_attn_heads" and value in ((0,), [0])):
            raise ValueError(f"unsupported scLong option {option}={value!r} (the release uses {expected!r})")
    if "max_seq_len" not in hyperparams:
        raise ValueError("hyper-parameters lack 'max_seq_len'; is this the official .pkl?")
    config: dict[str, Any] = {"n_genes": int(hyperparams["max_seq_len"]) - 1, "gene_table_dtype": gene_table_dtype}
    for official, ours in _HYPERPARAMETER_FIELDS.items():
        if official in hyperparams and hyperparams[official] is not None:
            value = hyperparams[official]
            config[ours] = float(value) if ours == "mask_threshold" else int(value)
    return config


def convert_official(
    checkpoint: str | os.PathLike,
    hyperparams: str | os.PathLike,
    genes: str | os.PathLike,
    out: str | os.PathLike,
    *,
    name: str = "sclong-1b",
) -> Path:
    """Convert the official scLong release into one ``.safetensors`` file loadable by :func:`sclong_tl.load_model`.

    Parameters
    ----------
    checkpoint
        The release ``.pth`` (``torch.save`` dict with ``model_state_dict``).
    hyperparams
        The release ``.pkl`` of constructor arguments (GO graph included).
    genes
        ``selected_genes_27k.txt``.
    out
        Destination file.
    name
        Model name recorded in the file.

    Returns
    -------
    The path written. Converting the same inputs twice gives byte-identical files.
    """
    import torch

    from sclong_tl._io import file_sha256
    from sclong_tl._safe_pickle import load_restricted
    from sclong_tl.model import ScLong, ScLongConfig

    from ._format import Checkpoint, save_checkpoint

    checkpoint, hyperparams, genes = Path(checkpoint), Path(hyperparams), Path(genes)
    for path in (checkpoint, hyperparams, genes):
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
    logger.info("reading %s", checkpoint)
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        detail = " ".join(str(error).split())[:300]
        raise ValueError(f"{checkpoint} is not a readable PyTorch checkpoint (.pth): {detail}") from error
    state_dict = saved.get("model_state_dict", saved) if isinstance(saved, dict) else None
    if not isinstance(state_dict, dict) or "token_emb.fc1.weight" not in state_dict:
        raise ValueError(f"{checkpoint} does not hold an scLong state dict")
    state_dict = {key.removeprefix("module."): value for key, value in state_dict.items()}  # DDP prefix
    params = load_restricted(hyperparams)
    if not isinstance(params, dict):
        raise ValueError(f"{hyperparams} does not hold a dict of constructor arguments")
    vocabulary = read_official_genes(genes)

    table_dtype = str(state_dict["pos_emb.emb.weight"].dtype).removeprefix("torch.")
    config = ScLongConfig.from_dict(official_config(params, gene_table_dtype=table_dtype))
    if len(vocabulary) != config.n_genes:
        raise ValueError(f"{genes} lists {len(vocabulary)} genes but the model has {config.n_genes} (+1 pad)")
    edge_index = torch.as_tensor(params["G_go"]).long().cpu()
    edge_weight = torch.as_tensor(params["G_go_weight"]).float().cpu()

    expected_keys = _expected_keys(config, ScLong)
    missing, unexpected = expected_keys - set(state_dict), set(state_dict) - expected_keys
    if missing or unexpected:
        raise ValueError(
            f"state dict does not match the hyper-parameters: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    provenance = {
        "name": name,
        "source": "official scLong release (Bai et al., Nat Commun 2026), converted by sclong-tl convert",
        "checkpoint_file": checkpoint.name,
        "checkpoint_sha256": file_sha256(checkpoint),
        "hyperparams_file": hyperparams.name,
        "genes_file": genes.name,
    }
    if isinstance(saved, dict):
        for key in ("epoch", "losses"):
            if isinstance(saved.get(key), str | int | float):
                provenance[f"release_{key}"] = saved[key]
    ordered = {key: state_dict[key] for key in sorted(state_dict)}
    written = save_checkpoint(
        out, Checkpoint(ordered, config.to_dict(), vocabulary, edge_index, edge_weight, provenance)
    )
    logger.info("wrote %s", written)
    return written


def _expected_keys(config: Any, network: type) -> set[str]:
    """State-dict keys of a network with ``config``'s layer counts (built narrow, so it is cheap)."""
    import torch

    narrow = config.replace(
        n_genes=2,
        top_k=1,
        base_dim=2,
        large_dim=2,
        large_heads=1,
        large_dim_head=2,
        mini_heads=1,
        mini_dim_head=2,
        dec_heads=1,
        dec_dim_head=2,
        nb_features=2,
        expression_hidden=config.expression_hidden,
        gene_table_dtype="float32",
    )
    with torch.random.fork_rng(devices=[]):
        module = network(narrow, torch.zeros((2, 0), dtype=torch.long), torch.zeros(0))
    return set(module.state_dict())
