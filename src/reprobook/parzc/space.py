"""The NAS-Bench-201 cell search space (Dong & Yang, ICLR 2020, Sec. 2; ParZC Sec. 4.1).

A cell is a DAG on 4 nodes: node 0 is the cell input, node 3 its output, and every node
``j`` sums one operation applied to each earlier node ``i < j``:

    x_j = sum_{i < j} o_{ij}(x_i),   o_{ij} in {none, skip_connect, nor_conv_1x1,
                                                nor_conv_3x3, avg_pool_3x3}.

Six edges with five operations give 5^6 = 15,625 cells. Many compute the same function: an
edge from a node that is always zero adds nothing, ``skip_connect`` merges its input's terms
into the sum, and a node that does not reach the output is dead. Two cells are *isomorphic*
here when NAS-Bench-201's ``to_unique_str(consider_zero=True)`` gives them the same string
(:func:`canonical`); this leaves 6,466 unique cells. 341 cells have no
path from input to output through non-``none`` edges (their output is identically zero).

Encoding: a cell is a tuple of 6 op indices in the order of :data:`EDGES`, the order of
NAS-Bench-201's architecture string ``|o10~0|+|o20~0|o21~1|+|o30~0|o31~1|o32~2|``.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache
from typing import Iterable, Sequence

from reprobook.core.errors import ReprobookError

#: The five candidate operations, in NAS-Bench-201's order (index = encoding value).
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Edges (target j, source i) in the order of the architecture string.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
N_NODES = 4
#: Operations with weights (each one Conv2d: one *node* of the zero-cost proxies).
CONV_OPS = frozenset({"nor_conv_1x1", "nor_conv_3x3"})

Cell = tuple[int, ...]


class CellError(ReprobookError, ValueError):
    """An encoding or architecture string that is not a NAS-Bench-201 cell."""


def validate(cell: Sequence[int] | str) -> Cell:
    """The cell as a tuple of 6 op indices; raises :class:`CellError` naming what is wrong.

    Accepts an op-index sequence or an architecture string (see :func:`from_arch_str`).
    """
    if isinstance(cell, str):
        return from_arch_str(cell)
    try:
        values = tuple(cell)
    except TypeError as exc:
        raise CellError(f"cell encoding {cell!r} is not a sequence of 6 op indices") from exc
    if len(values) != len(EDGES):
        raise CellError(f"cell encoding {values!r} has {len(values)} entries; a NAS-Bench-201 "
                        f"cell has {len(EDGES)} edges {EDGES}")
    for k, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < len(OPS):
            raise CellError(f"cell encoding {values!r}: entry {k} (edge {EDGES[k]}) is {v!r}, "
                            f"not an op index 0..{len(OPS) - 1} of {OPS}")
    return tuple(int(v) for v in values)


def to_arch_str(cell: Sequence[int]) -> str:
    """NAS-Bench-201's string, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``."""
    c = validate(cell)
    parts, k = [], 0
    for j in range(1, N_NODES):
        ops = []
        for i in range(j):
            ops.append(f"{OPS[c[k]]}~{i}")
            k += 1
        parts.append("|" + "|".join(ops) + "|")
    return "+".join(parts)


_TOKEN = re.compile(r"^([a-z0-9_]+)~(\d+)$")


def from_arch_str(s: str) -> Cell:
    """Parse NAS-Bench-201's architecture string; raises :class:`CellError` if malformed."""
    groups = s.strip().split("+")
    if len(groups) != N_NODES - 1:
        raise CellError(f"architecture string {s!r}: {len(groups)} node groups, expected "
                        f"{N_NODES - 1} separated by '+'")
    out = []
    for j, g in enumerate(groups, start=1):
        tokens = [t for t in g.strip("|").split("|")]
        if len(tokens) != j:
            raise CellError(f"architecture string {s!r}: node {j} has {len(tokens)} inputs, "
                            f"expected {j}")
        for i, t in enumerate(tokens):
            m = _TOKEN.match(t)
            if not m or m.group(1) not in OPS or int(m.group(2)) != i:
                raise CellError(f"architecture string {s!r}: token {t!r} is not "
                                f"'<op>~{i}' with op in {OPS}")
            out.append(OPS.index(m.group(1)))
    return tuple(out)


def all_cells() -> list[Cell]:
    """All 5^6 = 15,625 encodings, in lexicographic order."""
    return [tuple(c) for c in itertools.product(range(len(OPS)), repeat=len(EDGES))]


def _node_strings(cell: Cell) -> list[str]:
    """NAS-Bench-201's ``to_unique_str(consider_zero=True)`` for every node: ``"#"`` marks a
    zero term, ``skip_connect`` passes its input's string through, other ops wrap it as
    ``(input)@op``; each node joins its sorted terms with ``+``."""
    nodes = ["0"]
    k = 0
    for j in range(1, N_NODES):
        terms = []
        for i in range(j):
            op = OPS[cell[k]]
            k += 1
            if op == "none" or nodes[i] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[i])
            else:
                terms.append(f"({nodes[i]})@{op}")
        nodes.append("+".join(sorted(terms)))
    return nodes


def canonical(cell: Sequence[int]) -> str:
    """The isomorphism key of NAS-Bench-201 (``to_unique_str(consider_zero=True)``): two cells
    with the same key compute the same function when corresponding edges share weights (at
    initialisation, where an op applied to a zero input outputs zero). It is conservative (it
    does not merge every algebraic equivalence), and it is the definition behind the 6,466."""
    return _node_strings(validate(cell))[-1]


def edge_terms(cell: Sequence[int]) -> list[str | None]:
    """Per edge, the term it contributes to its target node (``None`` for a zero term)."""
    c = validate(cell)
    nodes = _node_strings(c)
    out: list[str | None] = []
    for k, (j, i) in enumerate(EDGES):
        op = OPS[c[k]]
        if op == "none" or nodes[i] == "#":
            out.append(None)
        elif op == "skip_connect":
            out.append(nodes[i])
        else:
            out.append(f"({nodes[i]})@{op}")
    return out


def has_path(cell: Sequence[int]) -> bool:
    """True if a chain of non-``none`` edges joins the input to the output."""
    c = validate(cell)
    reach = [True, False, False, False]
    k = 0
    for j in range(1, N_NODES):
        for i in range(j):
            if OPS[c[k]] != "none" and reach[i]:
                reach[j] = True
            k += 1
    return reach[-1]


@lru_cache(maxsize=1)
def unique_cells() -> tuple[Cell, ...]:
    """One representative (the smallest encoding) per isomorphism class: 6,466 cells."""
    seen: dict[str, Cell] = {}
    for c in all_cells():
        seen.setdefault(canonical(c), c)
    return tuple(sorted(seen.values()))


def live_edges(cell: Sequence[int]) -> list[int]:
    """Indices of edges whose op is applied to a non-zero input and reaches the output."""
    c = validate(cell)
    nonzero = [True, False, False, False]
    k = 0
    for j in range(1, N_NODES):
        for i in range(j):
            if OPS[c[k]] != "none" and nonzero[i]:
                nonzero[j] = True
            k += 1
    reaches = [False, False, False, True]
    for k in reversed(range(len(EDGES))):
        j, i = EDGES[k]
        if OPS[c[k]] != "none" and reaches[j]:
            reaches[i] = True
    return [k for k, (j, i) in enumerate(EDGES)
            if OPS[c[k]] != "none" and nonzero[i] and reaches[j]]


def n_convs(cell: Sequence[int]) -> int:
    """Number of convolutions on live edges (a stratum of the benchmark's sample)."""
    c = validate(cell)
    return sum(OPS[c[k]] in CONV_OPS for k in live_edges(c))


def describe(cells: Iterable[Sequence[int]]) -> dict[str, int]:
    """Counts of a set of cells: total, unique up to isomorphism, without an input-output path."""
    cs = [validate(c) for c in cells]
    return {"cells": len(cs), "unique": len({canonical(c) for c in cs}),
            "no_path": sum(not has_path(c) for c in cs)}
