"""Erasure coding of snapshots across nodes (paper Sec. 3: EC protects against node failures).

A group of n = k + m nodes. Each node's snapshot bytes (its ranks' slot regions, concatenated)
are cut into k equal chunks. There are n stripes; stripe i keeps its m parity blocks on nodes
P_i = {(i + t) mod n : t < m} (rotating parity, RAID-5 style for m = 1) and takes one chunk from
each of the other k nodes. Every node is a data node of exactly k stripes (one chunk each) and a
parity node of m stripes, so parity costs m / k of a node's snapshot in extra memory. Losing any
<= m nodes leaves every stripe with >= k of its n blocks: the lost chunks are rebuilt from them.
More than m lost nodes is :class:`Unrecoverable`.

Codecs: ``"xor"`` (m = 1: parity = XOR of the k chunks, NumPy) and ``"rs"`` (Reed-Solomon over
GF(2^8) by ``zfec``, any m; the first k blocks are the data themselves, systematic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CODECS = ("xor", "rs")


class Unrecoverable(RuntimeError):
    """More nodes lost than the code tolerates (or a needed parity block is missing)."""


@dataclass(frozen=True)
class Layout:
    """The stripe layout of one group of ``n`` nodes with ``m`` parity blocks per stripe."""

    n: int
    m: int

    def __post_init__(self) -> None:
        if not 1 <= self.m < self.n:
            raise ValueError(f"need 1 <= m < n, got n={self.n}, m={self.m}")

    @property
    def k(self) -> int:
        """Data blocks per stripe: n - m."""
        return self.n - self.m

    def parity_nodes(self, stripe: int) -> list[int]:
        """The nodes holding stripe ``stripe``'s m parity blocks (rotating with the stripe)."""
        return [(stripe + t) % self.n for t in range(self.m)]

    def data_nodes(self, stripe: int) -> list[int]:
        """The nodes whose data chunks make up stripe ``stripe``."""
        p = set(self.parity_nodes(stripe))
        return [q for q in range(self.n) if q not in p]

    def data_stripes(self, node: int) -> list[int]:
        """The k stripes that take a chunk of ``node`` (chunk j goes to the j-th of them)."""
        return [i for i in range(self.n) if node in self.data_nodes(i)]

    def parity_stripes(self, node: int) -> list[tuple[int, int]]:
        """(stripe, t) of the parity blocks ``node`` stores."""
        return [(i, self.parity_nodes(i).index(node)) for i in range(self.n) if node in self.parity_nodes(i)]


def chunk_size(lengths: list[int], k: int) -> int:
    """Bytes per chunk so that k chunks hold the longest node region (aligned)."""
    return max(1, -(-max(lengths) // k))


def chunks(data: np.ndarray, k: int, size: int) -> list[np.ndarray]:
    """``data`` zero-padded to k * size bytes, cut into k chunks."""
    padded = np.zeros(k * size, dtype=np.uint8)
    padded[:len(data)] = data
    return [padded[j * size:(j + 1) * size] for j in range(k)]


def _check_codec(codec: str, m: int) -> None:
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; expected one of {CODECS}")
    if codec == "xor" and m != 1:
        raise ValueError(f"the XOR codec tolerates one lost node (m = 1), got m = {m}")


def _stripe_blocks(layout: Layout, stripe: int, node_chunks: dict[int, list[np.ndarray]]) -> list[np.ndarray]:
    """The k data blocks of ``stripe`` in order (each data node's chunk for this stripe)."""
    return [node_chunks[q][layout.data_stripes(q).index(stripe)] for q in layout.data_nodes(stripe)]


def encode_stripe(blocks: list[np.ndarray], m: int, codec: str) -> list[np.ndarray]:
    """The m parity blocks of one stripe's k data blocks."""
    _check_codec(codec, m)
    if codec == "xor":
        out = blocks[0].copy()
        for b in blocks[1:]:
            np.bitwise_xor(out, b, out=out)
        return [out]
    import zfec

    k = len(blocks)
    out = zfec.Encoder(k, k + m).encode(tuple(b.tobytes() for b in blocks), tuple(range(k, k + m)))
    return [np.frombuffer(p, dtype=np.uint8).copy() for p in out]


def encode(node_data: list[np.ndarray], m: int, codec: str = "rs"
           ) -> tuple[dict[tuple[int, int], np.ndarray], int]:
    """Parity blocks {(stripe, t): block} for the n nodes' data, and the chunk size."""
    layout = Layout(len(node_data), m)
    size = chunk_size([len(d) for d in node_data], layout.k)
    node_chunks = {q: chunks(d, layout.k, size) for q, d in enumerate(node_data)}
    parity = {}
    for i in range(layout.n):
        for t, block in enumerate(encode_stripe(_stripe_blocks(layout, i, node_chunks), m, codec)):
            parity[(i, t)] = block
    return parity, size


def node_parity(layout: Layout, node: int, node_data: dict[int, np.ndarray], codec: str,
                size: int) -> dict[tuple[int, int], np.ndarray]:
    """Only the parity blocks that ``node`` stores (what one SMP computes)."""
    mine = layout.parity_stripes(node)
    needed = {q for i, _ in mine for q in layout.data_nodes(i)}
    cut = {q: chunks(node_data[q], layout.k, size) for q in needed}  # each node padded once
    out = {}
    for i, t in mine:
        blocks = [cut[q][layout.data_stripes(q).index(i)] for q in layout.data_nodes(i)]
        out[(i, t)] = encode_stripe(blocks, layout.m, codec)[t]
    return out


def decode(n: int, m: int, survivors: dict[int, np.ndarray], parity: dict[tuple[int, int], np.ndarray],
           lengths: dict[int, int], codec: str = "rs") -> dict[int, np.ndarray]:
    """Rebuild the data of every node not in ``survivors`` (exact bytes, ``lengths[q]`` long).

    ``parity`` holds the parity blocks stored on surviving nodes (blocks of lost nodes are gone).
    """
    layout = Layout(n, m)
    _check_codec(codec, m)
    lost = [q for q in range(n) if q not in survivors]
    if len(lost) > m:
        raise Unrecoverable(f"{len(lost)} of {n} nodes lost ({lost}); the code tolerates m = {m}")
    if not lost:
        return {}
    k = layout.k
    size = chunk_size(list(lengths.values()), k)
    surv_chunks = {q: chunks(d, k, size) for q, d in survivors.items()}
    rebuilt: dict[int, list[np.ndarray | None]] = {q: [None] * k for q in lost}
    for i in range(n):
        dnodes, pnodes = layout.data_nodes(i), layout.parity_nodes(i)
        missing = [q for q in dnodes if q in lost]
        if not missing:
            continue
        have: list[tuple[int, np.ndarray]] = []  # (block number, block)
        for j, q in enumerate(dnodes):
            if q in survivors:
                have.append((j, surv_chunks[q][layout.data_stripes(q).index(i)]))
        for t, q in enumerate(pnodes):
            if q in survivors and (i, t) in parity:
                have.append((k + t, parity[(i, t)]))
        if len(have) < k:
            raise Unrecoverable(f"stripe {i}: only {len(have)} of the k = {k} blocks needed survive")
        if codec == "xor":
            q = missing[0]
            value = encode_stripe([b for _, b in have], 1, "xor")[0]
            rebuilt[q][layout.data_stripes(q).index(i)] = value
        else:
            import zfec

            use = have[:k]
            primary = zfec.Decoder(k, n).decode(tuple(b.tobytes() for _, b in use), tuple(j for j, _ in use))
            for j, q in enumerate(dnodes):
                if q in lost:
                    rebuilt[q][layout.data_stripes(q).index(i)] = np.frombuffer(primary[j], dtype=np.uint8)
    out = {}
    for q in lost:
        parts = rebuilt[q]
        assert all(p is not None for p in parts)
        out[q] = np.concatenate(parts)[:lengths[q]].copy()  # type: ignore[arg-type]
    return out
