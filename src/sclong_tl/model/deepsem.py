"""DeepSEM's beta-VAE with a gene regulatory network layer (Shu et al., Nat Comput Sci 1, 491, 2021).

A linear structural equation model ``X = X A + Z`` links a cell's expression ``X`` (a row over genes) to
independent noise ``Z`` through the adjacency ``A`` (``A[i, j]`` is the weight of the edge gene i -> gene j;
DeepSEM's W is ``A.T``, so its layers ``(I - W^T)`` are ``(I - A)`` here):

- encoder: a per-gene MLP (1 -> hidden -> hidden -> 2, tanh, shared by all genes) maps each expression value
  to a mean and log-variance; the GRN layer maps both through ``(I - A)`` to the posterior of ``Z``;
- a sample of ``Z`` (reparameterisation) goes through the inverse GRN layer ``(I - A)^-1`` and a per-gene MLP
  decoder (1 -> hidden -> hidden -> 1, tanh) back to expression;
- loss = MSE on the observed (non-zero) entries + ``beta`` * KL(q(Z | X) || N(0, I)) + ``alpha`` * mean|A|.

The diagonal of ``A`` is masked to zero. Torch only: nothing here knows about AnnData.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class DeepSEMOutput(NamedTuple):
    """What :meth:`DeepSEM.forward` returns (tensors of shape ``(cells, genes)``)."""

    reconstruction: torch.Tensor
    mean: torch.Tensor
    log_variance: torch.Tensor


class DeepSEMLoss(NamedTuple):
    """The loss terms of one batch (scalars); ``total`` is what is minimised."""

    total: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor
    sparsity: torch.Tensor


def _per_gene_mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_out)
    )


class DeepSEM(nn.Module):
    """DeepSEM's beta-VAE for GRN inference.

    Parameters
    ----------
    adjacency
        Initial ``(genes, genes)`` adjacency, ``adjacency[i, j]`` = weight of gene i -> gene j (its diagonal
        is ignored).
    hidden
        Width of the per-gene MLPs (DeepSEM: 128).
    generator
        Random generator for the Xavier-normal initialisation of the MLP weights (biases start at 0); None
        uses torch's global generator (only then is the global RNG state advanced).
    """

    def __init__(self, adjacency: torch.Tensor, *, hidden: int = 128, generator: torch.Generator | None = None) -> None:
        super().__init__()
        adjacency = torch.as_tensor(adjacency, dtype=torch.float32)
        if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1] or adjacency.shape[0] < 2:
            raise ValueError(f"adjacency must be a square matrix over >= 2 genes, got {tuple(adjacency.shape)}")
        if hidden < 1:
            raise ValueError(f"hidden must be positive, got {hidden}")
        n_genes = adjacency.shape[0]
        self.adjacency = nn.Parameter(adjacency.clone())
        self.register_buffer("off_diagonal", 1.0 - torch.eye(n_genes), persistent=False)
        with torch.random.fork_rng(devices=[]):  # nn.Linear's default init draws from the global RNG
            self.encoder = _per_gene_mlp(1, hidden, 2)
            self.decoder = _per_gene_mlp(1, hidden, 1)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_normal_(module.weight, generator=generator)
                nn.init.zeros_(module.bias)

    @property
    def n_genes(self) -> int:
        """Number of genes."""
        return self.adjacency.shape[0]

    off_diagonal: torch.Tensor

    def network(self) -> torch.Tensor:
        """The adjacency with its diagonal zeroed (``[source, target]``)."""
        return self.adjacency * self.off_diagonal

    def grn_layer(self) -> torch.Tensor:
        """The GRN layer ``(I - A)`` (differentiable in ``A``)."""
        return torch.eye(self.n_genes, device=self.adjacency.device) - self.network()

    def frozen_layers(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(I - A)`` and its inverse without gradients, to reuse over batches while ``A`` is frozen."""
        with torch.no_grad():
            layer = self.grn_layer()
            return layer, torch.linalg.inv(layer)

    def forward(
        self, x: torch.Tensor, noise: torch.Tensor, frozen: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> DeepSEMOutput:
        """Encode, sample and decode a batch of cells.

        Parameters
        ----------
        x
            ``(cells, genes)`` standardised expression.
        noise
            ``(cells, genes)`` standard normal draws for the reparameterisation (zeros give the mean).
        frozen
            :meth:`frozen_layers` while ``A`` is not trained; otherwise the inverse layer is applied by a
            linear solve (differentiable in ``A``).

        Returns
        -------
        The reconstruction and the mean and log-variance of q(Z | X).
        """
        if x.ndim != 2 or x.shape[1] != self.n_genes:
            raise ValueError(f"x must have shape (cells, {self.n_genes}), got {tuple(x.shape)}")
        layer = self.grn_layer() if frozen is None else frozen[0]
        encoded = self.encoder(x.unsqueeze(-1))
        mean = encoded[..., 0] @ layer
        log_variance = encoded[..., 1] @ layer
        z = mean + noise * torch.exp(0.5 * log_variance)
        hidden = torch.linalg.solve(layer, z, left=False) if frozen is None else z @ frozen[1]
        reconstruction = self.decoder(hidden.unsqueeze(-1)).squeeze(-1)
        return DeepSEMOutput(reconstruction, mean, log_variance)

    def loss(
        self, x: torch.Tensor, observed: torch.Tensor, output: DeepSEMOutput, *, alpha: float, beta: float
    ) -> DeepSEMLoss:
        """DeepSEM's loss of a batch.

        Parameters
        ----------
        x
            The batch's standardised expression.
        observed
            1 where the expression was measured non-zero (the reconstruction error counts only there).
        output
            :meth:`forward`'s output for ``x``.
        alpha
            Weight of the L1 penalty on ``A`` (mean absolute entry).
        beta
            Weight of the KL term (beta-VAE).
        """
        squared = (output.reconstruction - x).pow(2) * observed
        reconstruction = squared.sum() / observed.sum().clamp_min(1.0)
        variance = torch.exp(output.log_variance)
        kl = 0.5 * torch.mean(output.mean.pow(2) + variance - output.log_variance - 1.0)
        sparsity = torch.mean(torch.abs(self.adjacency))
        total = reconstruction + beta * kl + alpha * sparsity
        return DeepSEMLoss(total, reconstruction, kl, sparsity)
