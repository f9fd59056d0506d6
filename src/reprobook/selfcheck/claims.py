"""The self-check chapter's claims: the book's determinism promise (ARCHITECTURE §6).

Not a paper's claims but the book's own: the same seed gives the same bytes, and a different seed
gives different bytes (otherwise the first check could not fail). The agreement of torch's float64
matrix product with NumPy's is an independent sanity check.
"""

from __future__ import annotations

from typing import Any

from reprobook.core.claims import AtMost, Equals, Null

from .selfcheck import TrainResult


def record_determinism(run: Any, a: TrainResult, b: TrainResult, c: TrainResult) -> None:
    """Runs A and B share a seed, run C uses another."""
    same = a.digest == b.digest and a.losses == b.losses
    differs = a.digest != c.digest
    run.claim(id="same-seed-same-bytes", claim="Same profile + seed + machine gives identical bytes",
              source="ARCHITECTURE §6", paper_value="identical", measured=same,
              criterion=Equals(True), measured_text="identical" if same else "different",
              null=Null(False, "an unseeded or nondeterministic run: different bytes"))
    run.claim(id="other-seed-differs",
              claim="A different seed gives different bytes (the check can fail)",
              source="ARCHITECTURE §6", paper_value="different", measured=differs,
              criterion=Equals(True), measured_text="different" if differs else "identical",
              null=Null(False, "a seed that is ignored: identical bytes"))


def record_matmul(run: Any, max_abs_err: float) -> None:
    run.sanity(id="torch-numpy-matmul", check="torch's float64 matmul agrees with NumPy's",
               measured=max_abs_err, criterion=AtMost(1e-9),
               measured_text=f"max abs err {max_abs_err:.2e}")


def record_gpu_smoke(run: Any, results: list[Any]) -> None:
    """One sanity check per GPU path that ran (skipped paths are listed, with their reason, in
    the notebook's table): the path works on this GPU."""
    for r in results:
        if r.status == "skipped":
            continue
        run.sanity(id=f"gpu-{r.module}-{r.check}", check=f"GPU path {r.module}.{r.check} runs",
                   measured=r.status, criterion=Equals("ok"),
                   measured_text=r.status if r.status == "ok" else f"{r.status}: {r.reason}")
