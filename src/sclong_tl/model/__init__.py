"""The scLong network in PyTorch (torch modules only; nothing here knows about AnnData)."""

from .config import PRESETS, ScLongConfig, count_parameters, get_config
from .sclong import ScLong, ScLongOutput

__all__ = ["PRESETS", "ScLong", "ScLongConfig", "ScLongOutput", "build_random_model", "count_parameters",
           "get_config"]


def build_random_model(preset, genes, edge_index, edge_weight, *, seed: int = 0, gene_vectors=None,
                       device: str = "cpu", name: str | None = None, **overrides):
    """Build a randomly initialised :class:`~sclong_tl.ScLongModel` (tests, baselines, pretraining starts).

    Parameters
    ----------
    preset
        Preset name or :class:`ScLongConfig`; ``n_genes`` is set from ``genes``.
    genes
        Vocabulary (Ensembl IDs in token order).
    edge_index, edge_weight
        GO graph over vocabulary positions.
    seed
        Seed of the initialisation (a local generator state; the global RNG is restored afterwards).
    gene_vectors
        Initial gene tables ``(n_genes, d)``; random if None.
    device
        Where the model lives.
    name
        Model name recorded in outputs (default ``"random-<preset>"``).
    **overrides
        Config fields to change.

    Returns
    -------
    The wrapped model in eval mode.
    """
    import torch

    from .._api import ScLongModel

    config = get_config(preset, **{**overrides, "n_genes": len(genes)})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = ScLong(config, edge_index, edge_weight, gene_vectors=gene_vectors)
    label = name or f"random-{preset if isinstance(preset, str) else 'custom'}"
    return ScLongModel(module, list(genes), name=label, device=device)
