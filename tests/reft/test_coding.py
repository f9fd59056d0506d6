"""Erasure coding across nodes: every loss pattern up to m is rebuilt exactly, m + 1 is refused."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from reprobook.reft import coding

CASES = [(2, 1, "xor"), (3, 1, "xor"), (4, 1, "xor"), (3, 1, "rs"), (4, 2, "rs"), (5, 2, "rs"), (6, 3, "rs")]


def _data(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8) for _ in range(n)]


def _held(layout: coding.Layout, parity: dict, lost: tuple[int, ...]) -> dict:
    return {k: v for k, v in parity.items() if layout.parity_nodes(k[0])[k[1]] not in lost}


@pytest.mark.parametrize("n,m,codec", CASES)
def test_every_pattern_up_to_m_is_rebuilt_exactly(n, m, codec):
    data = _data(n, n * 10 + m)
    parity, _ = coding.encode(data, m, codec)
    layout = coding.Layout(n, m)
    lengths = {q: len(d) for q, d in enumerate(data)}
    for r in range(1, m + 1):
        for lost in itertools.combinations(range(n), r):
            survivors = {q: d for q, d in enumerate(data) if q not in lost}
            out = coding.decode(n, m, survivors, _held(layout, parity, lost), lengths, codec)
            assert sorted(out) == list(lost)
            for q in lost:
                assert out[q].tobytes() == data[q].tobytes()


@pytest.mark.parametrize("n,m,codec", CASES)
def test_more_than_m_lost_is_unrecoverable(n, m, codec):
    data = _data(n, 1)
    parity, _ = coding.encode(data, m, codec)
    lost = tuple(range(m + 1))
    survivors = {q: d for q, d in enumerate(data) if q not in lost}
    with pytest.raises(coding.Unrecoverable, match="tolerates m"):
        coding.decode(n, m, survivors, _held(coding.Layout(n, m), parity, lost),
                      {q: len(d) for q, d in enumerate(data)}, codec)


@pytest.mark.parametrize("n,m", [(3, 1), (5, 2), (6, 3)])
def test_parity_rotates_and_costs_m_over_k(n, m):
    layout = coding.Layout(n, m)
    holders = [layout.parity_nodes(i) for i in range(n)]
    assert all(len(set(h)) == m for h in holders)
    for q in range(n):  # each node: k data chunks, m parity blocks
        assert len(layout.data_stripes(q)) == layout.k
        assert len(layout.parity_stripes(q)) == m


def test_one_smp_computes_exactly_its_share_of_the_parity():
    data = _data(5, 7)
    parity, size = coding.encode(data, 2, "rs")
    layout = coding.Layout(5, 2)
    mine = {}
    for q in range(5):
        mine.update(coding.node_parity(layout, q, dict(enumerate(data)), "rs", size))
    assert mine.keys() == parity.keys()
    assert all(np.array_equal(mine[k], parity[k]) for k in parity)


def test_xor_parity_is_the_xor_and_rs_is_systematic():
    a, b = np.arange(8, dtype=np.uint8), np.arange(8, 16, dtype=np.uint8)
    assert np.array_equal(coding.encode_stripe([a, b], 1, "xor")[0], a ^ b)
    with pytest.raises(ValueError, match="one lost node"):
        coding.encode_stripe([a, b], 2, "xor")
    with pytest.raises(ValueError, match="unknown codec"):
        coding.encode_stripe([a, b], 1, "lz4")
