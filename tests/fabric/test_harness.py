"""The Node.js measurement harness: syntax, and a dry run (no network) read by the Python analysis.

The dry run needs Node.js and the harness's dependencies (``npm ci`` in
``src/reprobook/fabric/harness``, from its committed package-lock.json); without them these tests
skip and say why. Fabric itself is never contacted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from reprobook.fabric import analysis

HARNESS = Path(__file__).resolve().parents[2] / "src" / "reprobook" / "fabric" / "harness"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (Debian: apt-get "
                                "install nodejs npm)")
needs_modules = pytest.mark.skipif(
    not (HARNESS / "node_modules" / "@hyperledger" / "fabric-gateway").is_dir(),
    reason=f"the harness's dependencies are not installed: run `npm ci` in {HARNESS}")


def test_the_harness_pins_the_gateway_client():
    pkg = json.loads((HARNESS / "package.json").read_text())
    lock = json.loads((HARNESS / "package-lock.json").read_text())
    pin = pkg["dependencies"]["@hyperledger/fabric-gateway"]
    assert pin[0].isdigit(), "an exact version, not a range"
    assert lock["packages"]["node_modules/@hyperledger/fabric-gateway"]["version"] == pin


@needs_node
def test_node_check_every_file():
    files = [HARNESS / "bench.js", *sorted((HARNESS / "lib").glob("*.js"))]
    for f in files:
        done = subprocess.run([NODE, "--check", str(f)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{f.name}: {done.stderr}"


@needs_node
def test_workload_generator_rates():
    script = ("const {arrivalTimes} = require('./lib/workload');"
              "for (const kind of ['poisson', 'bursts', 'h2', 'deterministic']) {"
              " const t = arrivalTimes({rate: 200, n: 20000, kind, burstSize: 5, cv2: 4, seed: 1});"
              " console.log(kind, 20000 / t[t.length - 1]); }")
    done = subprocess.run([NODE, "-e", script], cwd=HARNESS, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    for line in done.stdout.splitlines():
        kind, rate = line.split()
        assert float(rate) == pytest.approx(200.0, rel=0.06), kind


@needs_node
@needs_modules
def test_dry_run_is_read_by_the_analysis(tmp_path):
    out = tmp_path / "dry" / "records.csv"
    cmd = [NODE, "bench.js", "--dry-run", "--n", "120", "--rate", "150", "--burst", "4",
           "--batch-size", "10", "--batch-timeout", "0.2", "--out", str(out)]
    done = subprocess.run(cmd, cwd=HARNESS, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run = analysis.load_run(out.parent)
    rec, ph = run["records"], run["phases"]
    assert len(rec) == 120 and (rec["status"] == "VALID").all()
    assert run["meta"]["mode"] == "dry-run" and run["meta"]["fabric_gateway_version"] == "1.7.1"
    assert run["peer"].blocks["n_tx"].max() <= 10 and run["peer"].blocks["n_tx"].sum() == 120
    assert (ph[["execute", "order", "validate", "total"]] > 0).all().all()
    assert 0.003 <= ph["execute"].median() <= 0.2  # the fake endorses in 4 ms plus timers
    assert (rec["t4"] >= rec["t3"]).all()


@needs_node
def test_bad_arguments_are_reported():
    done = subprocess.run([NODE, "bench.js", "--dry-run", "--rate", "abc", "--out", "x.csv"],
                          cwd=HARNESS, capture_output=True, text=True, timeout=60)
    if "Cannot find module" in done.stderr:
        pytest.skip(f"the harness's dependencies are not installed: run `npm ci` in {HARNESS}")
    assert done.returncode == 2 and "--rate abc" in done.stderr
