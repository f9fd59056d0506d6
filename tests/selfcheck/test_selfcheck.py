from __future__ import annotations

import numpy as np
import torch
from torch import nn

from reprobook.core.devices import pick
from reprobook.selfcheck import machine, selfcheck


def test_state_digest_sees_one_changed_bit():
    torch.manual_seed(0)
    m = nn.Linear(4, 3)
    d0 = selfcheck.state_digest(m)
    with torch.no_grad():
        w = m.weight.view(-1)
        w[0] = torch.nextafter(w[0], torch.tensor(float("inf")))
    assert selfcheck.state_digest(m) != d0


def test_training_is_deterministic_and_seed_sensitive():
    a = selfcheck.train_digest(0, steps=6, width=8)
    b = selfcheck.train_digest(0, steps=6, width=8)
    c = selfcheck.train_digest(1, steps=6, width=8)
    assert a == b
    assert a.digest != c.digest
    assert len(a.losses) == 6 and all(np.isfinite(a.losses))


def test_training_reduces_the_loss():
    r = selfcheck.train_digest(0, steps=120, width=32)
    assert np.mean(r.losses[-10:]) < 0.5 * np.mean(r.losses[:10])


def test_synthetic_data_matches_its_formula_up_to_noise():
    x, y = selfcheck.synthetic_regression(3, n=4000, d=5)
    g = torch.Generator().manual_seed(3)
    x2 = torch.randn(4000, 5, generator=g)
    w = torch.randn(5, 1, generator=g)
    assert torch.equal(x, x2)
    resid = (y - torch.sin(x @ w / 5**0.5)).squeeze()
    assert abs(float(resid.std()) - 0.1) < 0.01


def test_matmul_agreement_is_rounding_only():
    assert selfcheck.matmul_agreement(0, n=64) < 1e-11


def test_throughput_reports_positive_rates():
    rows = selfcheck.matmul_throughput([16, 32], repeats=1)
    assert [r["n"] for r in rows] == [16, 32] and all(r["gflops"] > 0 for r in rows)


def test_machine_tables():
    t = machine.machine_table(pick("cpu"))
    assert {"CPU", "device chosen", "torch threads"} <= set(t["what"])
    p = machine.package_table(("torch", "surely-not-a-package"))
    assert p.set_index("package").loc["surely-not-a-package", "version"] == "not installed"
