"""Perturbation conditions in GEARS notation.

``"ctrl"`` for control cells, ``"GENE+ctrl"`` for a single
perturbation, ``"GENEA+GENEB"`` for a double perturbation (``"ctrl+GENE"`` and a bare ``"GENE"`` are read as
singles).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def parse_condition(condition: str, *, control: str = "ctrl") -> tuple[str, ...]:
    """The perturbed genes of a condition in GEARS notation.

    Parameters
    ----------
    condition
        ``"ctrl"``, ``"A+ctrl"``, ``"ctrl+A"``, ``"A"`` or ``"A+B"``.
    control
        Name of the control condition (and of the placeholder in singles).

    Returns
    -------
    The perturbed genes in the order written (empty for the control).
    """
    if not isinstance(condition, str) or not condition.strip():
        raise ValueError(f"a condition must be a non-empty string, got {condition!r}")
    parts = [part.strip() for part in condition.split("+")]
    if any(not part for part in parts):
        raise ValueError(f"malformed condition {condition!r}: empty gene name around '+'")
    genes = tuple(part for part in parts if part != control)
    if len(set(genes)) != len(genes):
        raise ValueError(f"condition {condition!r} names a gene twice")
    return genes


def parse_conditions(conditions: Iterable[str], *, control: str = "ctrl") -> list[tuple[str, ...]]:
    """Perturbed genes of conditions to predict or train on: singles and doubles only, never the control.

    Raises
    ------
    ValueError
        For a malformed condition, the control itself (it is the reference, not a prediction) or more than two
        perturbed genes.
    """
    parsed = []
    for condition in conditions:
        genes = parse_condition(condition, control=control)
        if not genes:
            raise ValueError(
                f"{condition!r} is the control condition: it is the reference of the predictions "
                "(uns['control_mean']), not a perturbation to predict"
            )
        if len(genes) > 2:
            raise ValueError(f"{condition!r}: only single and double perturbations are supported")
        parsed.append(genes)
    return parsed


def canonical_condition(genes: Sequence[str], *, control: str = "ctrl") -> str:
    """GEARS name of a condition: ``control``, ``"A+ctrl"`` or ``"A+B"``.

    Parameters
    ----------
    genes
        The perturbed genes (none, one or two).
    control
        Name of the control condition.

    Returns
    -------
    The condition name (two genes in the given order).
    """
    genes = tuple(genes)
    if not genes:
        return control
    if len(genes) == 1:
        return f"{genes[0]}+{control}"
    return "+".join(genes)


def seen_category(condition: str, train_genes: Iterable[str], *, control: str = "ctrl") -> str:
    """``"Seen k/n"``: how many of a condition's ``n`` perturbed genes are among ``train_genes``.

    Parameters
    ----------
    condition
        A condition in GEARS notation (``"A+ctrl"``, ``"A+B"``).
    train_genes
        Genes perturbed in the training conditions.
    control
        Name of the control condition.

    Returns
    -------
    ``"Seen 0/1"``, ``"Seen 1/1"``, ``"Seen 0/2"``, ``"Seen 1/2"`` or ``"Seen 2/2"``.
    """
    genes = parse_condition(condition, control=control)
    if not genes:
        raise ValueError("the control condition has no Seen category")
    known = set(train_genes)
    return f"Seen {sum(g in known for g in genes)}/{len(genes)}"
