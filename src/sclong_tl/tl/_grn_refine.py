"""DeepSEM refinement of an initial adjacency (step 3 of the recipe in :mod:`sclong_tl.tl._grn`).

DeepSEM's beta-VAE (:class:`sclong_tl.model.deepsem.DeepSEM`) is trained on the cells' expression of the
selected genes (model-space values) with the adjacency as its GRN layer; the trained adjacency is the network.
A non-negative adjacency whose columns sum to 1 makes ``I - A`` singular, so, as DeepSEM's own uniform start
``1/(n-1)`` does, training starts from the adjacency plus U(0, 2e-4) noise (``jitter``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sclong_tl._progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover
    import torch

# DeepSEM's cell-type-specific GRN settings (its main.py defaults; lr_adjacency = 0.2 * lr)
REFINE_DEFAULTS: dict[str, Any] = {
    "alpha": 1.0,  # L1 weight on A
    "beta": 0.01,  # KL weight
    "hidden": 128,
    "batch_size": 8,
    "lr": 1e-4,
    "lr_adjacency": 2e-5,
    "lr_decay": 0.95,  # per epoch, MLP optimiser
    "mlp_epochs": 1,  # DeepSEM alternates 1 epoch on the MLPs ...
    "adjacency_epochs": 2,  # ... with 2 epochs on A
    "jitter": 2e-4,  # U(0, jitter) added to A before training, as DeepSEM's uniform initialisation does
}


def standardise_expression(expression: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeepSEM's input: per gene, z-score with the mean / std of its non-zero values, clipped to [-10, 10].

    Returns the standardised values and the 0/1 mask of non-zero (observed) entries.
    """
    expression = np.asarray(expression, dtype=np.float64)
    observed = expression != 0
    counts = observed.sum(axis=0)
    sums = np.where(observed, expression, 0.0).sum(axis=0)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    squares = np.where(observed, (expression - means) ** 2, 0.0).sum(axis=0)
    stds = np.sqrt(np.divide(squares, counts, out=np.zeros_like(squares), where=counts > 0))
    scaled = np.divide(expression - means, stds, out=np.zeros_like(expression), where=stds > 0)
    return np.clip(scaled, -10.0, 10.0).astype(np.float32), observed.astype(np.float32)


def check_refine_params(params: dict[str, Any], n_epochs: int) -> dict[str, Any]:
    """:data:`REFINE_DEFAULTS` updated with ``params``, validated (what :func:`sclong_tl.grn` checks up front).

    Raises
    ------
    ValueError
        For unknown names, a negative ``n_epochs`` or a value of the wrong type or range.
    """
    unknown = set(params) - set(REFINE_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown refinement parameters {sorted(unknown)}; known: {sorted(REFINE_DEFAULTS)}")
    if isinstance(n_epochs, bool) or not isinstance(n_epochs, int | np.integer) or n_epochs < 0:
        raise ValueError(f"n_epochs must be an integer >= 0, got {n_epochs!r}")
    settings = {**REFINE_DEFAULTS, **params}
    for name in ("hidden", "batch_size", "mlp_epochs", "adjacency_epochs"):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < (0 if "epochs" in name else 1):
            raise ValueError(f"refine_params[{name!r}] must be a positive integer, got {value!r}")
    if settings["mlp_epochs"] + settings["adjacency_epochs"] < 1:
        raise ValueError("refine_params mlp_epochs + adjacency_epochs must be at least 1")
    for name in ("alpha", "beta", "lr", "lr_adjacency", "lr_decay", "jitter"):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
            raise ValueError(f"refine_params[{name!r}] must be a finite number >= 0, got {value!r}")
    return settings


def refine_adjacency(
    expression: np.ndarray,
    adjacency: np.ndarray,
    *,
    n_epochs: int,
    random_state: int,
    device: torch.device | str = "cpu",
    progress: bool | None = False,
    **params: Any,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Train DeepSEM on ``(cells, genes)`` expression starting from ``adjacency``; return the trained A.

    ``params`` override :data:`REFINE_DEFAULTS`. The MLP optimiser (RMSprop, ``lr``, decayed by ``lr_decay``
    every epoch) and the adjacency optimiser (RMSprop, ``lr_adjacency``) take turns: ``mlp_epochs`` epochs on
    the MLPs with A frozen, then ``adjacency_epochs`` epochs on A with the MLPs frozen. All randomness (weight
    initialisation, jitter, shuffling, reparameterisation noise) comes from one generator seeded with
    ``random_state``; the global RNG is untouched.

    Parameters
    ----------
    expression
        ``(cells, genes)`` expression (standardised per gene here).
    adjacency
        ``(genes, genes)`` starting adjacency (:func:`initial_adjacency`).
    n_epochs
        Training epochs.
    random_state
        Seed of every random draw.
    device
        Torch device.
    progress
        Show a progress bar.
    **params
        Overrides of :data:`REFINE_DEFAULTS`.

    Returns
    -------
    The trained adjacency (diagonal zero) and one dict of mean losses per epoch.
    """
    import torch

    from sclong_tl.model.deepsem import DeepSEM

    settings = check_refine_params(params, n_epochs)
    device = torch.device(device)
    generator = torch.Generator().manual_seed(int(random_state))
    values, observed = standardise_expression(expression)
    values_t = torch.from_numpy(values).to(device)
    observed_t = torch.from_numpy(observed).to(device)
    start = torch.as_tensor(adjacency, dtype=torch.float32)
    start = start + torch.rand(start.shape, generator=generator) * settings["jitter"]
    module = DeepSEM(start, hidden=int(settings["hidden"]), generator=generator).to(device)
    networks = [*module.encoder.parameters(), *module.decoder.parameters()]
    mlp_optimiser = torch.optim.RMSprop(networks, lr=settings["lr"])
    schedule = torch.optim.lr_scheduler.ExponentialLR(mlp_optimiser, gamma=settings["lr_decay"])
    adjacency_optimiser = torch.optim.RMSprop([module.adjacency], lr=settings["lr_adjacency"])
    n_cells, batch_size = values.shape[0], int(settings["batch_size"])
    cycle = int(settings["mlp_epochs"]) + int(settings["adjacency_epochs"])
    history: list[dict[str, Any]] = []
    module.train()
    for epoch in progress_bar(range(n_epochs), enabled=progress, desc="DeepSEM", unit="epoch"):
        train_adjacency = epoch % cycle >= int(settings["mlp_epochs"])
        module.adjacency.requires_grad_(train_adjacency)
        for parameter in networks:
            parameter.requires_grad_(not train_adjacency)
        optimiser = adjacency_optimiser if train_adjacency else mlp_optimiser
        frozen = None if train_adjacency else module.frozen_layers()
        order = torch.randperm(n_cells, generator=generator)
        sums = dict.fromkeys(("total", "reconstruction", "kl", "sparsity"), 0.0)
        for batch_start in range(0, n_cells, batch_size):
            index = order[batch_start : batch_start + batch_size].to(device)
            x, mask = values_t[index], observed_t[index]
            noise = torch.randn(x.shape, generator=generator).to(device)
            optimiser.zero_grad(set_to_none=True)
            output = module(x, noise, frozen)
            losses = module.loss(x, mask, output, alpha=settings["alpha"], beta=settings["beta"])
            losses.total.backward()
            optimiser.step()
            for name, value in losses._asdict().items():
                sums[name] += float(value.detach()) * len(index) / n_cells
        schedule.step()
        history.append({"epoch": epoch, "phase": "adjacency" if train_adjacency else "mlp", **sums})
        if not np.isfinite(sums["total"]):
            raise FloatingPointError(f"DeepSEM training diverged at epoch {epoch} (loss {sums['total']})")
    with torch.no_grad():
        trained = module.network().cpu().numpy().astype(np.float64)
    return trained, history
