"""Molecule graphs from SMILES (RDKit): the drug input of the drug-response and drug-combination models.

Atoms are nodes, bonds are undirected edges (stored in both directions). Every atom gets
:data:`N_ATOM_FEATURES` numbers, the usual one-hot atom description of graph networks for molecules (the
feature families of DeepChem's ``ConvMolFeaturizer`` and OGB's ``atom_to_feature_vector``; this code is our own):

========================  ===================================================================  ======
family                    values                                                               width
========================  ===================================================================  ======
element                   :data:`ELEMENTS` (43 symbols), then "other"                         44
degree                    heavy-atom neighbours 0, 1, 2, 3, 4, 5 or more                       6
formal charge             -2 or less, -1, 0, +1, +2 or more                                    5
hybridisation             SP, SP2, SP3, SP3D, SP3D2, other                                     6
aromatic                  0 / 1                                                                1
hydrogens                 total attached H 0, 1, 2, 3, 4 or more                               5
in a ring                 0 / 1                                                                1
========================  ===================================================================  ======

RDKit is an optional dependency: ``pip install 'sclong-tl[drug]'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Element symbols with their own one-hot position (any other element shares the final "other" position).
ELEMENTS = (
    "C",
    "N",
    "O",
    "S",
    "F",
    "Si",
    "P",
    "Cl",
    "Br",
    "Mg",
    "Na",
    "Ca",
    "Fe",
    "As",
    "Al",
    "I",
    "B",
    "V",
    "K",
    "Tl",
    "Yb",
    "Sb",
    "Sn",
    "Ag",
    "Pd",
    "Co",
    "Se",
    "Ti",
    "Zn",
    "H",
    "Li",
    "Ge",
    "Cu",
    "Au",
    "Ni",
    "Cd",
    "In",
    "Mn",
    "Zr",
    "Cr",
    "Pt",
    "Hg",
    "Pb",
)
_HYBRIDISATIONS = ("SP", "SP2", "SP3", "SP3D", "SP3D2")
_WIDTHS = {
    "element": len(ELEMENTS) + 1,
    "degree": 6,
    "formal_charge": 5,
    "hybridisation": 6,
    "aromatic": 1,
    "hydrogens": 5,
    "in_ring": 1,
}
#: Width of an atom's feature vector.
N_ATOM_FEATURES = sum(_WIDTHS.values())


@dataclass(frozen=True)
class MoleculeGraph:
    """A molecule as a graph.

    Attributes
    ----------
    x
        ``(atoms, N_ATOM_FEATURES)`` float32 atom features.
    edge_index
        ``(2, 2 * bonds)`` int64 atom indices, every bond in both directions.
    """

    x: np.ndarray
    edge_index: np.ndarray

    @property
    def n_atoms(self) -> int:
        """Number of atoms (hydrogens only when written explicitly in the SMILES)."""
        return int(self.x.shape[0])


def _one_hot(index: int, width: int) -> list[float]:
    row = [0.0] * width
    row[min(max(index, 0), width - 1)] = 1.0
    return row


def atom_features(atom: Any) -> list[float]:
    """The feature vector of an RDKit atom (see the module notes for the layout)."""
    symbol = atom.GetSymbol()
    element = ELEMENTS.index(symbol) if symbol in ELEMENTS else len(ELEMENTS)
    hybridisation = str(atom.GetHybridization())
    return [
        *_one_hot(element, _WIDTHS["element"]),
        *_one_hot(atom.GetDegree(), _WIDTHS["degree"]),
        *_one_hot(atom.GetFormalCharge() + 2, _WIDTHS["formal_charge"]),
        *_one_hot(
            _HYBRIDISATIONS.index(hybridisation) if hybridisation in _HYBRIDISATIONS else len(_HYBRIDISATIONS),
            _WIDTHS["hybridisation"],
        ),
        float(atom.GetIsAromatic()),
        *_one_hot(atom.GetTotalNumHs(), _WIDTHS["hydrogens"]),
        float(atom.IsInRing()),
    ]


def _rdkit_chem() -> Any:
    try:
        from rdkit import Chem, RDLogger
    except ImportError as error:  # pragma: no cover - exercised only without rdkit
        raise ImportError("drug models need RDKit to read SMILES: pip install 'sclong-tl[drug]' (or rdkit)") from error
    RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]  # invalid SMILES get our own error instead
    return Chem


def molecule_graph(smiles: str, *, name: str | None = None) -> MoleculeGraph:
    """The graph of one molecule.

    Parameters
    ----------
    smiles
        SMILES string (salts and mixtures keep all their components).
    name
        The drug's name, used in error messages.

    Returns
    -------
    A :class:`MoleculeGraph`.

    Raises
    ------
    ValueError
        When the SMILES is missing, empty or cannot be parsed (the message names the drug).
    """
    label = f"drug {name!r}" if name is not None else "a drug"
    if smiles is None or (isinstance(smiles, float) and np.isnan(smiles)) or not str(smiles).strip():
        raise ValueError(f"{label} has no SMILES; every drug needs a SMILES string to build its molecule graph")
    molecule = _rdkit_chem().MolFromSmiles(str(smiles).strip())
    if molecule is None or molecule.GetNumAtoms() == 0:
        raise ValueError(f"{label} has an invalid SMILES that RDKit cannot parse: {smiles!r}")
    x = np.asarray([atom_features(atom) for atom in molecule.GetAtoms()], dtype=np.float32)
    bonds = [(bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()) for bond in molecule.GetBonds()]
    edges = [pair for begin, end in bonds for pair in ((begin, end), (end, begin))]
    edge_index = np.asarray(edges, dtype=np.int64).T.reshape(2, -1)
    return MoleculeGraph(x=x, edge_index=edge_index)


def molecule_graphs(drugs: Mapping[str, str]) -> dict[str, MoleculeGraph]:
    """Graphs of named drugs, checking every SMILES first.

    Parameters
    ----------
    drugs
        Drug name -> SMILES.

    Returns
    -------
    Drug name -> :class:`MoleculeGraph`.

    Raises
    ------
    ValueError
        Naming every drug whose SMILES is missing or invalid.
    """
    graphs: dict[str, MoleculeGraph] = {}
    problems: list[str] = []
    for name, smiles in drugs.items():
        try:
            graphs[str(name)] = molecule_graph(smiles, name=str(name))
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise ValueError(f"{len(problems)} drug(s) cannot be read: " + "; ".join(problems))
    return graphs
