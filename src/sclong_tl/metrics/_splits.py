"""GEARS' "simulation" split of perturbation conditions with the Seen 0/1, 0/2, 1/2, 2/2 test categories."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ._conditions import parse_condition

SEEN_CATEGORIES = ("Seen 0/1", "Seen 0/2", "Seen 1/2", "Seen 2/2")


@dataclass
class SimulationSplit:
    """A GEARS simulation split of perturbation conditions.

    Attributes
    ----------
    train, test
        Conditions (control excluded).
    train_genes
        Genes whose single perturbations are in ``train``.
    categories
        ``"Seen 0/1"`` (unseen single), ``"Seen 0/2"``, ``"Seen 1/2"``, ``"Seen 2/2"`` (doubles with 0, 1, 2
        genes seen in training alone) -> test conditions.
    """

    train: list[str]
    test: list[str]
    train_genes: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)


def simulation_split(
    conditions: Iterable[str],
    *,
    control: str = "ctrl",
    train_gene_fraction: float = 0.75,
    seen2_train_fraction: float = 0.75,
    random_state: int = 0,
) -> SimulationSplit:
    """GEARS' "simulation" split: hold out perturbed genes, then sort doubles by how many genes were seen.

    A fraction of the perturbed genes is drawn for training; their singles go to training. Doubles of two
    training genes are split at random (``seen2_train_fraction`` to training, the rest tested as Seen 2/2);
    doubles with one or no training gene and singles of held-out genes are tested (Seen 1/2, 0/2, 0/1).
    For a validation split, call it again on ``split.train`` (GEARS uses 0.9 and 0.9).

    Parameters
    ----------
    conditions
        Condition names (the control and duplicates are ignored).
    control
        Name of the control condition.
    train_gene_fraction
        Fraction of the perturbed genes whose singles are trained on.
    seen2_train_fraction
        Fraction of the doubles of two training genes trained on.
    random_state
        Seed (numpy ``default_rng``; the global RNG is not touched).

    Returns
    -------
    The split.
    """
    if not 0 < train_gene_fraction < 1 or not 0 <= seen2_train_fraction <= 1:
        raise ValueError("train_gene_fraction must be in (0, 1) and seen2_train_fraction in [0, 1]")
    unique = [c for c in dict.fromkeys(conditions) if c != control]
    parsed = {c: parse_condition(c, control=control) for c in unique}
    genes = sorted({g for gs in parsed.values() for g in gs})
    if len(genes) < 2:
        raise ValueError("a simulation split needs at least 2 perturbed genes")
    rng = np.random.default_rng(random_state)
    n_train = min(max(int(len(genes) * train_gene_fraction), 1), len(genes) - 1)
    train_genes = sorted(rng.choice(genes, size=n_train, replace=False).tolist())
    known = set(train_genes)
    singles = [c for c in unique if len(parsed[c]) == 1]
    doubles = [c for c in unique if len(parsed[c]) > 1]
    train = [c for c in singles if parsed[c][0] in known]
    categories: dict[str, list[str]] = {name: [] for name in SEEN_CATEGORIES}
    categories["Seen 0/1"] = [c for c in singles if parsed[c][0] not in known]
    seen_two = []
    for c in doubles:
        n_seen = sum(g in known for g in parsed[c])
        if n_seen == len(parsed[c]):
            seen_two.append(c)
        else:
            categories.setdefault(f"Seen {n_seen}/{len(parsed[c])}", []).append(c)
    seen_two = sorted(seen_two)
    n_seen_two_train = int(len(seen_two) * seen2_train_fraction)
    picked = set(rng.choice(seen_two, size=n_seen_two_train, replace=False).tolist()) if seen_two else set()
    train += [c for c in seen_two if c in picked]
    categories["Seen 2/2"] = [c for c in seen_two if c not in picked]
    test = [c for name in categories for c in categories[name]]
    return SimulationSplit(train=train, test=test, train_genes=train_genes, categories=categories)
