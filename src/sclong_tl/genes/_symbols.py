"""Gene identifiers: Ensembl ID parsing and symbol -> Ensembl resolution through the shipped HGNC tables.

Resolution rules (the tables are built by ``scripts/build_gene_tables.py``; see ``data/README.md``):

1. A **current** symbol (HGNC approved symbol, or a GENCODE v44 / org.Hs.eg.db name no HGNC gene claims) maps to
   its gene. A current symbol is never reinterpreted as somebody else's alias: current symbols win.
2. Otherwise a **previous** or **alias** symbol maps to the gene it belongs to, but only when it belongs to
   exactly one gene; a synonym of two or more genes is **ambiguous** and refused (no guessing).
3. A name written entirely in upper case that matches nothing exactly is retried case-insensitively
   (``C1ORF112`` -> ``C1orf112``), with the same ambiguity rule. Mixed-case names (mouse style ``Actb``) are
   never case-folded.
4. A gene can carry several Ensembl IDs (HGNC's first); with a vocabulary the first ID present in it is used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from ._data import read_rows

if TYPE_CHECKING:
    import pandas as pd

_ENSEMBL_GENE = re.compile(r"^(ENS[A-Z]*G\d{11})(?:\.\d+)?(?:_PAR_Y)?$")
_MOUSE_SYMBOL = re.compile(r"^[A-Z][a-z][a-z0-9]*(?:-[a-z0-9]+)*$|^\d+[A-Z]\d+Rik$|^Gm\d+$")

#: Resolution kinds reported by :func:`symbol_to_ensembl`.
KINDS = ("ensembl", "current", "previous", "alias", "ambiguous", "unknown")


def ensembl_base(name: str) -> str | None:
    """The versionless Ensembl gene ID of ``name`` (``ENSG00000141510.17`` -> ``ENSG00000141510``), else ``None``."""
    match = _ENSEMBL_GENE.match(name.strip())
    return match.group(1) if match else None


def strip_ensembl_version(names: Iterable[str]) -> list[str]:
    """Remove version (``.17``) and ``_PAR_Y`` suffixes from Ensembl gene IDs; other names are returned unchanged.

    Parameters
    ----------
    names
        Gene identifiers.

    Returns
    -------
    The identifiers, Ensembl IDs without their version.
    """
    return [ensembl_base(str(name)) or str(name) for name in names]


def fraction_ensembl(names: Sequence[str]) -> float:
    """Fraction of non-empty ``names`` that are Ensembl gene IDs (any species)."""
    names = [str(n) for n in names if str(n).strip()]
    return sum(ensembl_base(n) is not None for n in names) / len(names) if names else 0.0


def looks_like_ensembl(names: Sequence[str]) -> bool:
    """Whether at least half of ``names`` are Ensembl gene IDs (the auto-detection used by :mod:`sclong_tl.pp`).

    Parameters
    ----------
    names
        Gene names.

    Returns
    -------
    True when at least half of the names look like ``ENSG...`` IDs (with or without a version).
    """
    return fraction_ensembl(names) >= 0.5


def mouse_hint(names: Sequence[str]) -> str | None:
    """A sentence saying why ``names`` look like mouse genes (ENSMUSG IDs or ``Actb``-style symbols), else ``None``."""
    names = [str(n).strip() for n in names if str(n).strip()]
    if not names:
        return None
    n_mouse_ids = sum(n.startswith("ENSMUSG") for n in names)
    if n_mouse_ids >= 0.5 * len(names):
        return (
            f"{n_mouse_ids:,} of {len(names):,} names are mouse Ensembl IDs (ENSMUSG...); scLong is a human "
            "model: map mouse genes to human orthologs first"
        )
    examples = [n for n in names if _MOUSE_SYMBOL.match(n) and "orf" not in n]
    if len(examples) >= 0.5 * len(names):
        shown = ", ".join(repr(n) for n in examples[:3])
        return (
            f"{len(examples):,} of {len(names):,} names look like mouse gene symbols (title case, e.g. {shown}); "
            "scLong is a human model: map mouse genes to human orthologs (upper-case human symbols) first"
        )
    return None


@dataclass(frozen=True)
class _Resolved:
    symbol: str  # the current symbol ("" when unresolved)
    kind: str
    case_folded: bool = False


class SymbolTable:
    """The shipped symbol tables, indexed for resolution (build once through :func:`symbol_table`)."""

    def __init__(self, current: dict[str, tuple[str, ...]], synonyms: Iterable[tuple[str, str, str]]) -> None:
        self.current = current
        by_synonym: dict[str, dict[str, str]] = {}
        for synonym, symbol, kind in synonyms:
            if synonym in current or symbol not in current:
                continue  # current symbols win; dangling synonyms are dropped
            by_synonym.setdefault(synonym, {}).setdefault(symbol, kind)
        #: synonym -> (current symbol, kind) for synonyms of exactly one gene
        self.synonyms = {syn: next(iter(t.items())) for syn, t in by_synonym.items() if len(t) == 1}
        #: synonym -> the current symbols it could mean (refused)
        self.ambiguous = {syn: tuple(sorted(t)) for syn, t in by_synonym.items() if len(t) > 1}
        self._upper_current = _unique_upper(current)
        self._upper_synonyms = _unique_upper(self.synonyms)

    def resolve(self, name: str) -> _Resolved:
        """Resolve one symbol to its current symbol following the module's rules."""
        name = name.strip()
        found = self._resolve_exact(name)
        if found.kind != "unknown" or not name.isupper():
            return found
        key = self._upper_current.get(name)
        if key is None:
            key = self._upper_synonyms.get(name)
            if key:
                symbol, kind = self.synonyms[key]
                return _Resolved(symbol, kind, case_folded=True)
        elif key:
            return _Resolved(key, "current", case_folded=True)
        return _Resolved("", "ambiguous", case_folded=True) if key == "" else found

    def _resolve_exact(self, name: str) -> _Resolved:
        if name in self.current:
            return _Resolved(name, "current")
        if name in self.synonyms:
            symbol, kind = self.synonyms[name]
            return _Resolved(symbol, kind)
        if name in self.ambiguous:
            return _Resolved("", "ambiguous")
        return _Resolved("", "unknown")

    def ensembl_ids(self, symbol: str) -> tuple[str, ...]:
        """Ensembl IDs of a current symbol, preferred first (empty when it has none)."""
        return self.current.get(symbol, ())


def _unique_upper(keys: Iterable[str]) -> dict[str, str]:
    """Upper-case key -> the one key with that spelling; ``""`` where two spellings collide (ambiguous)."""
    out: dict[str, str] = {}
    for key in keys:
        upper = key.upper()
        out[upper] = key if upper not in out or out[upper] == key else ""
    return out


@cache
def symbol_table() -> SymbolTable:
    """The shipped HGNC / GENCODE v44 / org.Hs.eg.db symbol table (cached).

    Returns
    -------
    A :class:`SymbolTable` with ``current`` (symbol -> Ensembl IDs), ``synonyms`` (unambiguous previous/alias
    symbol -> (current symbol, kind)) and ``ambiguous`` (synonym -> candidate current symbols).
    """
    current = {symbol: tuple(i for i in ids.split("|") if i) for symbol, ids, _ in read_rows("symbols_current.tsv.gz")}
    synonyms = [(syn, sym, kind) for syn, sym, kind in read_rows("symbols_synonyms.tsv.gz")]
    return SymbolTable(current, synonyms)


def symbol_to_ensembl(names: Sequence[str], *, vocabulary: Iterable[str] | None = None) -> pd.DataFrame:
    """Map gene symbols (or Ensembl IDs) to versionless Ensembl gene IDs.

    Parameters
    ----------
    names
        Gene symbols; entries that are Ensembl IDs are passed through without their version.
    vocabulary
        When given, a gene with several Ensembl IDs maps to the first one in ``vocabulary``, and
        ``ensembl_id`` is empty for genes outside it.

    Returns
    -------
    DataFrame with one row per name (same order) and columns ``name``, ``symbol`` (current symbol),
    ``ensembl_id`` (``""`` when unresolved), ``kind`` (one of ``ensembl``, ``current``, ``previous``,
    ``alias``, ``ambiguous``, ``unknown``) and ``case_folded``.
    """
    import pandas as pd

    table = symbol_table()
    in_vocabulary = None if vocabulary is None else set(vocabulary)
    rows = []
    for raw in names:
        name = str(raw)
        base = ensembl_base(name)
        if base is not None:
            hit = base if in_vocabulary is None or base in in_vocabulary else ""
            rows.append((name, "", hit, "ensembl", False))
            continue
        found = table.resolve(name)
        ids = table.ensembl_ids(found.symbol)
        if in_vocabulary is not None:
            ids = tuple(i for i in ids if i in in_vocabulary)
        rows.append((name, found.symbol, ids[0] if ids else "", found.kind, found.case_folded))
    return pd.DataFrame(rows, columns=["name", "symbol", "ensembl_id", "kind", "case_folded"])
