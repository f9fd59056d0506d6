from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")  # tests only; notebooks must never do this
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from reprobook.core import session  # noqa: E402
from reprobook.core.claims import AtLeast, AtMost, Null  # noqa: E402


def test_run_writes_metrics_tables_figures_claims(sandbox):
    root = sandbox.root
    run = session.start("demo", profile="tiny", seed=1, device="cpu", threads=1, style=False)
    assert run.dir == root / "runs" / "tiny" / "demo"
    run.metrics(acc=np.float32(0.5), curve=np.arange(3))
    run.metrics(loss=1.0)
    assert json.loads((run.dir / "metrics.json").read_text()) == {
        "acc": 0.5, "curve": [0, 1, 2], "loss": 1.0}
    run.table(pd.DataFrame({"a": [1, 2]}), "t")
    assert (run.dir / "tables" / "t.csv").read_text().splitlines() == ["a", "1", "2"]
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    png = run.figure(fig, "line")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.with_suffix(".pdf").is_file()
    c = run.claim(id="acc", claim="accuracy", source="Tab. 1", paper_value=0.9, measured=0.95,
                  criterion=AtLeast(0.9), null=Null(0.1, "chance accuracy"))
    assert c.verdict == "reproduced" and c.profile == "tiny" and c.chapter == "demo"
    run.sanity(id="id", check="x == x", measured=0.0, criterion=AtMost(0.0))
    assert [x.id for x in run.claims()] == ["acc", "id"]
    assert run.sanity_table().data["result"].tolist() == ["holds"]
    table = run.claims_table()
    assert table.data["verdict"].tolist() == ["reproduced"]
    assert "accuracy (Tab. 1)" in table.to_html()
    assert session.current() is run


def test_figure_bytes_are_stable(sandbox):
    run = session.start("demo", profile="tiny", seed=1, device="cpu", threads=1, style=False)
    paths = []
    for name in ("a", "b"):
        fig, ax = plt.subplots()
        ax.plot([0, 1, 3])
        paths.append(run.figure(fig, name))
        plt.close(fig)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].with_suffix(".pdf").read_bytes() == paths[1].with_suffix(".pdf").read_bytes()
