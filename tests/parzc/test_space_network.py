"""The NAS-Bench-201 cell space and the macro network."""

from __future__ import annotations

import random

import pytest
import torch

from reprobook.parzc import constants as K
from reprobook.parzc import space
from reprobook.parzc.network import TinyNB201, nodes_of, slot_names


def test_counts_match_nas_bench_201():
    cells = space.all_cells()
    d = space.describe(cells)
    assert d == {"cells": K.NB201_CELLS, "unique": K.NB201_UNIQUE, "no_path": K.NB201_NO_PATH}
    assert len(space.unique_cells()) == K.NB201_UNIQUE


def test_encoding_round_trips_through_the_architecture_string():
    for c in random.Random(0).sample(space.all_cells(), 200):
        s = space.to_arch_str(c)
        assert space.from_arch_str(s) == c
        assert s.count("+") == 2 and s.startswith("|") and s.endswith("|")
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert space.to_arch_str(space.from_arch_str(s)) == s


@pytest.mark.parametrize("bad", [(0, 1, 2), (0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, -1),
                                 (0, 0, 0, 0, 0, 1.5), "|conv~0|+|none~0|none~1|+|a~0|b~1|c~2|",
                                 "|none~0|+|none~0|", 42])
def test_invalid_encodings_are_rejected_with_the_value(bad):
    with pytest.raises(space.CellError) as e:
        space.validate(bad)
    assert "cell" in str(e.value) or "architecture string" in str(e.value)


def test_no_path_cells_are_zero_functions():
    zero = [c for c in space.all_cells() if not space.has_path(c)]
    assert len(zero) == K.NB201_NO_PATH
    torch.manual_seed(0)
    net = TinyNB201(zero[17], c=4)
    x = torch.randn(3, 4, 8, 8)
    assert torch.count_nonzero(net.body[0](x)) == 0  # the cell outputs zeros


def _copy_by_terms(src: TinyNB201, dst: TinyNB201) -> None:
    """Give dst's cell edges the weights of src's edges that contribute the same term."""
    dst.load_state_dict({k: v for k, v in src.state_dict().items() if ".edges." not in k},
                        strict=False)
    ts, td = space.edge_terms(src.cell), space.edge_terms(dst.cell)
    for cs, cd in zip([m for m in src.body if hasattr(m, "edges")],
                      [m for m in dst.body if hasattr(m, "edges")]):
        for kd, term in enumerate(td):
            if term is None or term not in ts or not list(cd.edges[kd].parameters()):
                continue  # a zero term, no weights, or a dead edge (its weights cannot matter)
            ks = ts.index(term)
            cd.edges[kd].load_state_dict(cs.edges[ks].state_dict())


def test_isomorphic_cells_give_identical_outputs_with_identical_weights():
    groups: dict[str, list] = {}
    for c in space.all_cells():
        groups.setdefault(space.canonical(c), []).append(c)
    rng = random.Random(1)
    pairs = []
    for g in groups.values():
        if len(g) < 2:
            continue
        a, b = rng.sample(g, 2)
        ta = [t for t, o in zip(space.edge_terms(a), a) if t and o in (2, 3)]
        if len(ta) == len(set(ta)):  # each weighted term once: the weight map is unambiguous
            pairs.append((a, b))
    assert len(pairs) > 100
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    for a, b in rng.sample(pairs, 25):
        torch.manual_seed(0)
        na = TinyNB201(a, c=4).double().eval()
        torch.manual_seed(1)
        nb = TinyNB201(b, c=4).double().eval()
        _copy_by_terms(na, nb)
        assert torch.allclose(na(x), nb(x), atol=1e-10), (a, b)


def test_non_isomorphic_cells_differ():
    a, b = (3, 0, 0, 0, 0, 3), (3, 0, 0, 0, 0, 2)
    assert space.canonical(a) != space.canonical(b)
    torch.manual_seed(0)
    x = torch.randn(4, 1, 8, 8)
    assert not torch.allclose(TinyNB201(a, c=4).eval()(x), TinyNB201(b, c=4).eval()(x))


def test_nodes_fill_their_slots_in_module_order():
    names = slot_names(1)
    assert len(names) == 26
    assert len(slot_names(K.NB201_N)) == K.NB201_NODES  # the official padding length, 98
    full = TinyNB201((3, 3, 3, 3, 3, 3), c=4)
    assert full.slots == list(range(26))
    cell = (2, 0, 4, 1, 3, 0)  # convs on edges 0 and 4
    net = TinyNB201(cell, c=4)
    assert len(nodes_of(net)) == 1 + 3 * 2 + 6 + 1
    assert [names[s] for s in net.slots[:3]] == ["stem", "s0c0.e10", "s0c0.e31"]
    assert net.slots == sorted(net.slots)


def test_pool_reduction_keeps_only_the_shortcut():
    names = slot_names(1, "pool")
    assert len(names) == 22 and [n for n in names if n.startswith("red")] == ["red0.short",
                                                                              "red1.short"]
    full = TinyNB201((3, 3, 3, 3, 3, 3), c=4, reduction="pool")
    assert full.slots == list(range(22))
    skip = TinyNB201((1, 1, 1, 1, 1, 1), c=4, reduction="pool")
    convs = [m for m in nodes_of(skip) if isinstance(m, torch.nn.Conv2d)]
    assert [m.kernel_size for m in convs] == [(3, 3), (1, 1), (1, 1)]  # stem + two 1x1 shortcuts
    x = torch.randn(2, 1, 8, 8)
    assert skip(x).shape == (2, 10) and full(x).shape == (2, 10)
    # the pool block is exactly the residual block's shortcut path followed by BN
    res = TinyNB201((1, 1, 1, 1, 1, 1), c=4)
    blk = skip.body[1]
    blk.downsample[1].load_state_dict(res.body[1].downsample[1].state_dict())
    h = torch.randn(2, 4, 8, 8)
    assert torch.allclose(blk.downsample[:2](h), res.body[1].downsample(h))
    with pytest.raises(ValueError, match="unknown reduction block 'conv'"):
        TinyNB201((1, 1, 1, 1, 1, 1), reduction="conv")
