"""Readers for the package data in ``sclong_tl/genes/data`` (provenance in its README.md)."""

from __future__ import annotations

import contextlib
import gzip
import io
from collections.abc import Iterator
from functools import cache
from importlib import resources


@contextlib.contextmanager
def open_data(name: str) -> Iterator[io.TextIOWrapper]:
    """Open a gzip-compressed text file shipped in ``sclong_tl/genes/data`` (every handle closed on exit)."""
    resource = resources.files("sclong_tl.genes").joinpath("data").joinpath(name)
    with (
        resource.open("rb") as raw,
        gzip.GzipFile(fileobj=raw, mode="rb") as unzipped,
        io.TextIOWrapper(unzipped, encoding="utf-8") as text,
    ):
        yield text


def read_lines(name: str) -> list[str]:
    """Non-empty lines of a shipped one-entry-per-line file."""
    with open_data(name) as handle:
        return [line.strip() for line in handle if line.strip()]


def read_rows(name: str) -> list[list[str]]:
    """Rows of a shipped tab-separated file, header skipped; missing trailing fields read as ``""``."""
    with open_data(name) as handle:
        header = handle.readline().rstrip("\n").split("\t")
        rows = []
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            rows.append(fields + [""] * (len(header) - len(fields)))
    return rows


@cache
def default_vocabulary_tuple() -> tuple[str, ...]:
    return tuple(row[0] for row in read_rows("vocabulary.tsv.gz"))


@cache
def common_genes_frozenset() -> frozenset[str]:
    return frozenset(read_lines("common_genes.txt.gz"))


@cache
def gene2go_dict() -> dict[str, frozenset[str]]:
    rows = read_rows("gene2go.tsv.gz")
    return {ensembl: frozenset(f"GO:{term}" for term in terms.split()) for ensembl, terms in rows}
