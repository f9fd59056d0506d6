"""Radiance fields of the chapter (paper Sec. 3.1; the released code's ``SirenNeRF`` and ``NeRF``).

* :class:`SirenField` — the configuration behind the paper's NeRFBuster results: ``depth`` sine
  layers of ``width`` units (first layer w0 = 30, later w0 = 1, SIREN initialisation), a linear
  density head whose positive outputs are multiplied by ``sigma_mul`` = 20, and a colour branch
  (linear remap, one sine layer over [view direction, remap], one sine layer of width/2, linear
  RGB). The released code passes the density multiplier as the first layer's w0 (so w0 = 20 there);
  ``first_w0_from_sigma_mul=True`` reproduces that.
* :class:`PEField` — NeRF's MLP on positional encodings (10 frequencies for points, 4 for
  directions, a skip at layer 4), with BARF's coarse-to-fine annealing of the encoding
  (:meth:`PositionalEncoding.set_progress`, BARF Eq. 14);
* :class:`GaussField` — GARF's MLP with Gaussian activations exp(-x^2 / (2 s^2)), s = 0.1, on the
  raw coordinates (GARF, Chng et al. 2022, Sec. 3), laid out as the release's ``GaussNeRF`` that
  the CF-NeRF authors ran as their GARF baseline (the first layer centres its outputs on their
  mean before the Gaussian; a skip at layer 4; Xavier initialisation).

Both return raw density (before noise and ReLU, which the renderer applies) and colour logits
(the renderer applies a sigmoid).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SineLayer(nn.Module):
    """sin(w0 (W x + b)) with SIREN's initialisation: U(-1/n, 1/n) for the first layer,
    U(-sqrt(6/n)/w0, sqrt(6/n)/w0) after it (n = fan-in); the bias is drawn the same way, as in the
    released code."""

    def __init__(self, n_in: int, n_out: int, w0: float = 1.0, first: bool = False):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.w0 = float(w0)
        bound = 1.0 / n_in if first else math.sqrt(6.0 / n_in) / self.w0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)
            self.linear.bias.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * self.linear(x))


class SirenField(nn.Module):
    """SIREN-ized NeRF: (x [P, 3], d [P, 3]) -> (raw sigma [P], rgb logits [P, 3])."""

    def __init__(self, depth: int = 8, width: int = 128, w0_first: float = 30.0, w0: float = 1.0,
                 sigma_mul: float = 20.0, use_viewdirs: bool = True, first_w0_from_sigma_mul: bool = False):
        super().__init__()
        if depth < 1 or width < 2:
            raise ValueError(f"SirenField needs depth >= 1 and width >= 2, got {depth} x {width}")
        self.sigma_mul = float(sigma_mul)
        self.use_viewdirs = use_viewdirs
        first_w0 = sigma_mul if first_w0_from_sigma_mul else w0_first
        layers = [SineLayer(3, width, first_w0, first=True)]
        layers += [SineLayer(width, width, w0) for _ in range(depth - 1)]
        self.base = nn.Sequential(*layers)
        self.sigma_head = nn.Linear(width, 1)
        self.remap = nn.Linear(width, width)
        n_view = 3 if use_viewdirs else 0
        self.rgb = nn.Sequential(SineLayer(width + n_view, width, w0), SineLayer(width, width // 2, w0),
                                 nn.Linear(width // 2, 3))

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.base(x)
        sigma = self.sigma_head(h).squeeze(-1)
        sigma = torch.where(sigma > 0, sigma * self.sigma_mul, sigma)
        r = self.remap(h)
        if self.use_viewdirs:
            r = torch.cat([d, r], -1)
        return sigma, self.rgb(r)


class PositionalEncoding(nn.Module):
    """gamma(p) = (p, sin(2^k c p), cos(2^k c p)) for k < L, with c = 1 as in the released code's
    embedder (the default) or c = pi as in NeRF Eq. 4 (``pi=True``), and BARF's weights
    w_k(alpha) = (1 - cos(pi clamp(alpha - k, 0, 1))) / 2 for alpha in [0, L]."""

    def __init__(self, n_freqs: int, pi: bool = False):
        super().__init__()
        self.n_freqs = n_freqs
        scale = math.pi if pi else 1.0
        self.register_buffer("freqs", scale * 2.0 ** torch.arange(n_freqs, dtype=torch.float32), persistent=False)
        self.alpha: float | None = None  # None: every frequency at full weight (plain NeRF)

    @property
    def out_dim(self) -> int:
        return 3 + 6 * self.n_freqs

    def set_progress(self, progress: float, start: float = 0.1, end: float = 0.5) -> None:
        """BARF's schedule: alpha rises linearly from 0 to L while training progress goes from
        ``start`` to ``end`` (fractions of the run)."""
        frac = min(max((progress - start) / max(end - start, 1e-12), 0.0), 1.0)
        self.alpha = frac * self.n_freqs

    def weights(self) -> torch.Tensor:
        if self.alpha is None:
            return torch.ones_like(self.freqs)
        k = torch.arange(self.n_freqs, dtype=self.freqs.dtype, device=self.freqs.device)
        return (1 - torch.cos(math.pi * (self.alpha - k).clamp(0, 1))) / 2

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        a = p[..., None, :] * self.freqs[:, None].to(p)                    # [..., L, 3]
        w = self.weights().to(p)[:, None]
        enc = torch.cat([torch.sin(a) * w, torch.cos(a) * w], -1)           # [..., L, 6]
        return torch.cat([p, enc.flatten(-2)], -1)


class PEField(nn.Module):
    """NeRF's MLP: ``depth`` ReLU layers of ``width`` on gamma(x) with a skip (gamma(x)
    concatenated again) after layer 4, a density head, a feature layer, and one layer of width/2 on
    [feature, gamma(d)] for colour."""

    def __init__(self, depth: int = 8, width: int = 128, skips: tuple[int, ...] = (4,), n_freqs_xyz: int = 10,
                 n_freqs_dir: int = 4, use_viewdirs: bool = True, pi: bool = False):
        super().__init__()
        if depth < 1 or width < 2:
            raise ValueError(f"PEField needs depth >= 1 and width >= 2, got {depth} x {width}")
        self.enc_x = PositionalEncoding(n_freqs_xyz, pi=pi)
        self.enc_d = PositionalEncoding(n_freqs_dir, pi=pi) if use_viewdirs else None
        self.skips = set(skips)
        n_x = self.enc_x.out_dim
        self.layers = nn.ModuleList()
        n = n_x
        for i in range(depth):
            self.layers.append(nn.Linear(n, width))
            n = width + (n_x if i + 1 in self.skips and i + 1 < depth else 0)
        self.sigma_head = nn.Linear(width, 1)
        self.feature = nn.Linear(width, width)
        n_d = self.enc_d.out_dim if self.enc_d is not None else 0
        self.rgb = nn.Sequential(nn.Linear(width + n_d, width // 2), nn.ReLU(), nn.Linear(width // 2, 3))

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gx = self.enc_x(x)
        h = gx
        for i, layer in enumerate(self.layers):
            h = torch.relu(layer(h))
            if i + 1 in self.skips and i + 1 < len(self.layers):
                h = torch.cat([h, gx], -1)
        sigma = self.sigma_head(h).squeeze(-1)
        f = self.feature(h)
        if self.enc_d is not None:
            f = torch.cat([f, self.enc_d(d)], -1)
        return sigma, self.rgb(f)


class GaussLinear(nn.Linear):
    """A linear layer with Xavier-uniform weights and zero bias (the release's ``GaussLayer``)."""

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class GaussField(nn.Module):
    """GARF: (x [P, 3], d [P, 3]) -> (raw sigma [P], rgb logits [P, 3]) through Gaussian
    activations g(z) = exp(-z^2 / (2 s^2))."""

    def __init__(self, depth: int = 8, width: int = 128, s: float = 0.1, skips: tuple[int, ...] = (4,),
                 use_viewdirs: bool = True):
        super().__init__()
        if depth < 1 or width < 2:
            raise ValueError(f"GaussField needs depth >= 1 and width >= 2, got {depth} x {width}")
        self.s, self.skips, self.use_viewdirs = float(s), set(skips), use_viewdirs
        self.first_x = GaussLinear(3, width)
        self.layers = nn.ModuleList([GaussLinear(width + (width if i in self.skips else 0), width)
                                     for i in range(depth - 1)])
        self.sigma_head = GaussLinear(width, 1)
        self.feature = GaussLinear(width, width)
        self.first_d = GaussLinear(3, width) if use_viewdirs else None
        self.rgb_hidden = GaussLinear(width + (width if use_viewdirs else 0), width // 2)
        self.rgb = GaussLinear(width // 2, 3)

    def gauss(self, z: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * z * z / self.s ** 2)

    def centred(self, layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        z = layer(x)
        return self.gauss(z - z.mean(-1, keepdim=True))

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h0 = h = self.centred(self.first_x, x)
        for i, layer in enumerate(self.layers):
            if i in self.skips:
                h = torch.cat([h0, h], -1)
            h = self.gauss(layer(h))
        sigma = self.sigma_head(h).squeeze(-1)
        f = self.feature(h)
        if self.first_d is not None:
            f = torch.cat([f, self.centred(self.first_d, d)], -1)
        return sigma, self.rgb(self.gauss(self.rgb_hidden(f)))


FIELDS = ("siren", "pe", "gauss")


def make_field(kind: str, depth: int, width: int, **kw) -> nn.Module:
    """``kind`` = "siren", "pe" or "gauss" (keyword arguments go to the field's constructor)."""
    if kind == "siren":
        return SirenField(depth=depth, width=width, **kw)
    if kind == "pe":
        return PEField(depth=depth, width=width, **kw)
    if kind == "gauss":
        return GaussField(depth=depth, width=width, **kw)
    raise ValueError(f"unknown field kind {kind!r}; expected one of {FIELDS}")
