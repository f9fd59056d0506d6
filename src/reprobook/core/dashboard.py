"""The reproduction dashboard: every chapter's claims in one page (ARCHITECTURE §4).

``write_dashboard()`` regenerates ``book/dashboard.md`` (gitignored) from
``runs/<profile>/<slug>/claims.json`` (this machine's latest runs) and
``results/reference/<profile>/<slug>/claims.json`` (committed runs on real hardware, shown with
their provenance). The runner calls it after every run; ``reprobook claims`` and
``reprobook build`` call it too, so the page exists even before any run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from . import claims as _claims
from .chapters import discover
from .claims import Verdict
from .paths import reference_root, repo_root, runs_root

PROFILE_ORDER = ("cpu-smoke", "cpu-full", "gpu-1x", "gpu-8x", "ci-tiny")
VERDICT_ORDER = [v.value for v in Verdict]


def _esc(text: Any) -> str:
    s = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("$", "\\$")
    return s.replace("<", "&lt;").replace("\n", " ")


def _profiles_in(base: Path) -> list[str]:
    found = [p.name for p in base.iterdir() if p.is_dir()] if base.is_dir() else []
    return sorted(found, key=lambda p: (PROFILE_ORDER.index(p) if p in PROFILE_ORDER else 99, p))


def collect(base: Path, order: list[str]) -> dict[str, dict[str, tuple[list[_claims.Claim], dict]]]:
    """``{profile: {slug: (claims, provenance)}}`` for every claims.json under ``base``."""
    out: dict[str, dict[str, tuple[list[_claims.Claim], dict]]] = {}
    for profile in _profiles_in(base):
        slugs = sorted((p.parent.name for p in (base / profile).glob("*/claims.json")),
                       key=lambda s: (order.index(s) if s in order else len(order), s))
        for slug in slugs:
            d = base / profile / slug
            prov_path = d / "provenance.json"
            prov = json.loads(prov_path.read_text(encoding="utf-8")) if prov_path.is_file() else {}
            out.setdefault(profile, {})[slug] = (_claims.load(d / "claims.json"), prov)
    return out


def _provenance_line(prov: dict) -> str:
    nbs = prov.get("notebooks") or []
    if not nbs:
        return "provenance: not recorded"
    last = nbs[-1]
    hw = last.get("hardware") or {}
    gpus = hw.get("gpus") or []
    device = ", ".join(g["name"] for g in gpus) if gpus else f"CPU {hw.get('cpu', '?')}"
    commit = (last.get("git_commit") or "no commit")[:10]
    dirty = " (uncommitted changes)" if last.get("git_dirty") else ""
    state = "" if prov.get("complete", True) else " — **incomplete: a notebook failed**"
    return (f"{device}; commit `{commit}`{dirty}; {last.get('finished_utc', '?')}; "
            f"{prov.get('chapter_wall_time_s', '?')} s{state}")


def _section(title: str, runs: dict[str, dict[str, tuple[list[_claims.Claim], dict]]],
             titles: dict[str, str], root: Path) -> list[str]:
    lines = [f"## {title}", ""]
    if not runs:
        return lines + ["None yet.", ""]
    for profile, chapters in runs.items():
        counts = Counter(c.verdict for cl, _ in chapters.values() for c in _claims.claims_only(cl))
        summary = ", ".join(f"{counts[v]} {v}" for v in VERDICT_ORDER if counts[v])
        checks = [c for cl, _ in chapters.values() for c in _claims.sanity_only(cl)]
        held = sum(c.verdict == _claims.HOLDS for c in checks)
        sanity = (f" Sanity checks (identities and self-consistency, not counted as claims): "
                  f"{held} of {len(checks)} hold." if checks else "")
        lines += [f"### Profile `{profile}`", "", f"Claims: {summary or 'none'}.{sanity}", ""]
        for slug, (cl, prov) in chapters.items():
            index = root / "book" / "chapters" / slug / "index.md"
            name = _esc(titles.get(slug, slug))
            link = f"[{name}](chapters/{slug}/index.md)" if index.is_file() else name
            lines += [f"#### {link}", "", f"*{_esc(_provenance_line(prov))}*", "",
                      "| claim (paper, section/figure) | paper's value | this run | verdict "
                      "| without the effect (null) | criterion |", "|---|---|---|---|---|---|"]
            for c in _claims.claims_only(cl):
                lines.append(f"| {_esc(c.claim)} ({_esc(c.source)}) | {_esc(c.paper_value)} | "
                             f"{_esc(c.measured_text)} | **{_esc(c.verdict)}** | "
                             f"{_esc(c.null_means)} -> {_esc(c.null_verdict)} | "
                             f"{_esc(c.criterion)} |")
            checks = _claims.sanity_only(cl)
            if checks:
                lines += ["", f"Sanity checks: " + "; ".join(
                    f"{_esc(c.claim)} — **{c.verdict}**" for c in checks) + "."]
            lines.append("")
    return lines


def render(root: Path | None = None) -> str:
    """The dashboard page as MyST Markdown."""
    root = root or repo_root()
    chapters = discover(root)
    order = list(chapters)
    titles = {s: ch.title for s, ch in chapters.items()}
    lines = [
        "(dashboard)=", "# Reproduction dashboard", "",
        "Every claim of every chapter in one table. Each row is measured by code in the chapter's "
        "notebooks; the verdict is computed from the measurement by the criterion in the last "
        "column, never typed by hand. This page is regenerated by every `reprobook run`.", "",
        "Verdicts: **reproduced** (the criterion holds), **partially**, **not reproduced** (the "
        "run contradicts the paper at this scale), **not testable at this profile** (needs "
        "hardware or data this run did not have; the criterion says which).", "",
    ]
    lines += _section("Runs on this machine", collect(runs_root(), order), titles, root)
    lines += _section("Reference runs on real hardware", collect(reference_root(), order), titles,
                      root)
    return "\n".join(lines).rstrip() + "\n"


def write_dashboard(root: Path | None = None) -> Path:
    root = root or repo_root()
    path = root / "book" / "dashboard.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(root), encoding="utf-8")
    return path
