"""``reprobook``: the book's command line (docs/ARCHITECTURE.md §3).

    reprobook run --profile cpu-smoke [--chapter SLUG ...] [-p key=value ...] [--force] [--verbose]
    reprobook list                      chapters, notebooks, environments, profiles
    reprobook params --profile gpu-1x --chapter SLUG [--notebook 01-x]   (YAML for papermill -f)
    reprobook claims                    regenerate the dashboard page from every claims.json
    reprobook reference --profile P     copy this machine's runs of P into results/reference/
    reprobook build                     jupyter-book build (warnings are errors) + browser check
    reprobook check-html [SITE]         load every page of the built book in headless Chromium
    reprobook envs                      the environments, their chapters and test folders
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .errors import ReprobookError


def _cmd_run(args: argparse.Namespace) -> int:
    from .profiles import parse_override
    from .runner import run

    overrides: dict[str, Any] = dict(parse_override(p) for p in args.param)
    report = run(args.profile, args.chapter, overrides, verbose=args.verbose,
                 dashboard=not args.no_dashboard, force=args.force, jobs=args.jobs)
    ok = [r for r in report.results if r.status == "ok"]
    cached = [r for r in report.results if r.status == "cached"]
    bad = [r for r in report.results if r.status in ("failed", "timeout")]
    print(f"\nprofile {report.profile}: {len(ok)} notebook(s) executed, {len(cached)} cached, "
          f"{len(bad)} failed, {len(report.skipped_chapters)} chapter(s) skipped\n"
          f"{report.time_table()}", file=sys.stderr)
    for r in bad:
        print(f"  {r.chapter}/{r.notebook.name}: {r.status}: {r.message}", file=sys.stderr)
    return 0 if report.ok else 1


def _cmd_list(args: argparse.Namespace) -> int:
    from .chapters import discover
    from .profiles import load_profile, profile_names

    for slug, ch in discover().items():
        prof = "all profiles" if ch.profiles is None else ", ".join(ch.profiles)
        print(f"{slug}: {ch.title}  [environment {ch.environment}; {prof}]")
        for nb in ch.notebooks:
            print(f"    {nb.name}")
    print("profiles:")
    for name in profile_names():
        print(f"    {name}: {load_profile(name).description}")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    from .chapters import discover, select
    from .profiles import load_profile, resolve

    chapters = discover()
    (ch,) = select(chapters, [args.chapter])
    params = resolve(load_profile(args.profile), [ch], chapters)
    if args.notebook:
        match = [nb for nb in ch.notebooks if nb.stem == args.notebook or nb.name == args.notebook]
        if not match:
            raise ReprobookError(f"chapter {ch.slug!r} has no notebook {args.notebook!r}; "
                                 f"notebooks: {[nb.stem for nb in ch.notebooks]}")
        merged = params[match[0]]
    else:
        merged = {k: v for nb in ch.notebooks for k, v in params[nb].items()}
    sys.stdout.write(yaml.safe_dump(merged, sort_keys=True, default_flow_style=False))
    return 0


def _cmd_reference(args: argparse.Namespace) -> int:
    """Copy this machine's last complete run of a profile into results/reference/ (to commit)."""
    import json
    import shutil

    from .paths import reference_root, runs_root

    base = runs_root() / args.profile
    slugs = args.chapter or sorted(p.name for p in base.iterdir() if p.is_dir()) \
        if base.is_dir() else []
    if not slugs:
        raise ReprobookError(f"{base}: no runs of profile {args.profile!r} on this machine")
    for slug in slugs:
        src = base / slug
        prov = src / "provenance.json"
        if not prov.is_file() or not json.loads(prov.read_text()).get("complete"):
            raise ReprobookError(f"{src}: no complete run to commit as a reference (a notebook "
                                 f"failed, or the chapter never ran at {args.profile})")
        dst = reference_root() / args.profile / slug
        shutil.rmtree(dst, ignore_errors=True)
        dst.mkdir(parents=True)
        for name in ("claims.json", "metrics.json", "timings.json", "provenance.json"):
            if (src / name).is_file():
                shutil.copy2(src / name, dst / name)
        if (src / "tables").is_dir():
            shutil.copytree(src / "tables", dst / "tables")
        if (src / "figures").is_dir():
            shutil.copytree(src / "figures", dst / "figures", ignore=shutil.ignore_patterns("*.pdf"))
        print(f"{dst}: reference run of {slug} at {args.profile} (commit it)", file=sys.stderr)
    return 0


def _cmd_claims(args: argparse.Namespace) -> int:
    from .dashboard import write_dashboard

    print(write_dashboard())
    return 0


def _require_browser_check() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _cmd_check_html(args: argparse.Namespace) -> int:
    from .htmlcheck import check_site, find_chromium

    site = Path(args.site)
    if not (site / "index.html").is_file():
        raise ReprobookError(f"{site}: no built book here (no index.html); build it first with "
                             f"`reprobook build` or `make book`")
    if find_chromium() is None:
        msg = ("Chromium not found: the browser check of the HTML book is skipped "
               "(install Debian's 'chromium' package to run it)")
        if args.require or _require_browser_check():
            print(f"error: {msg}; it is required here (CI)", file=sys.stderr)
            return 2
        print(msg, file=sys.stderr)
        return 0
    shots = {"book/dashboard.html": Path(args.screenshots) / "dashboard.png"}
    report = check_site(site, screenshots=shots)
    print(f"browser check: {len(report.pages)} page(s) loaded in Chromium, "
          f"{len(report.problems)} problem(s)", file=sys.stderr)
    if report.blocked_external:
        print(f"  blocked requests to other hosts: {sorted(report.blocked_external)}",
              file=sys.stderr)
    for shot in report.screenshots:
        print(f"  screenshot: {shot}", file=sys.stderr)
    for p in report.problems:
        print(f"  {p}", file=sys.stderr)
    return 0 if report.ok else 1


def _cmd_build(args: argparse.Namespace) -> int:
    from .dashboard import write_dashboard
    from .paths import repo_root

    root = repo_root()
    write_dashboard(root)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root),
           "--all", "-W", "-n", "--keep-going"]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    rc = subprocess.call(cmd, cwd=root)
    if rc != 0:
        return rc
    site = root / "_build" / "html"
    if not args.no_check:
        ns = argparse.Namespace(site=str(site), screenshots=str(root / "_build" / "screenshots"),
                                require=False)
        rc = _cmd_check_html(ns)
        if rc != 0:
            return rc
    print(f"The book is built: open {site / 'index.html'}", file=sys.stderr)
    return 0


def _cmd_envs(args: argparse.Namespace) -> int:
    from .chapters import discover
    from .venvs import load_environments

    envs = load_environments()
    chapters = discover()
    if args.field == "names":
        print(" ".join(envs))
    elif args.field == "extras":
        print(envs[args.env].extras)
    elif args.field == "tests":
        # test folders of chapters living in environment args.env (main also runs tests/core etc.)
        from .paths import repo_root

        root = repo_root()
        own = [f"tests/{s}" for s, ch in chapters.items()
               if ch.environment == args.env and (root / "tests" / s).is_dir()]
        if args.env == "main":
            others = [f"--ignore=tests/{s}" for s, ch in chapters.items()
                      if ch.environment != "main" and (root / "tests" / s).is_dir()]
            print(" ".join(["tests", *others]))
        else:
            print(" ".join(own))
    else:
        for name, env in envs.items():
            members = [s for s, ch in chapters.items() if ch.environment == name]
            print(f"{name}: venv {env.venv}, kernel {env.kernel}, extras [{env.extras}], "
                  f"chapters {members}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reprobook", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="execute chapters under a profile")
    r.add_argument("--profile", default="cpu-smoke")
    r.add_argument("--chapter", action="append", help="a chapter slug (repeatable; default all)")
    r.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter (value read as YAML); unknown keys are errors")
    r.add_argument("--verbose", action="store_true",
                   help="stream each notebook's progress and cell output to the terminal")
    r.add_argument("--jobs", type=int, default=None, metavar="CORES",
                   help="CPU cores to keep busy with chapters side by side (default: all usable)")
    r.add_argument("--force", action="store_true",
                   help="re-run chapters whose content key matches their last run (no cache)")
    r.add_argument("--no-dashboard", action="store_true", help="do not regenerate the dashboard")
    r.set_defaults(func=_cmd_run)
    sub.add_parser("list", help="chapters, notebooks and profiles").set_defaults(func=_cmd_list)
    pa = sub.add_parser("params", help="print a chapter's resolved parameters as YAML")
    pa.add_argument("--profile", default="cpu-smoke")
    pa.add_argument("--chapter", required=True)
    pa.add_argument("--notebook", help="one notebook (e.g. 01-partition); default: the union")
    pa.set_defaults(func=_cmd_params)
    sub.add_parser("claims", help="regenerate the dashboard page").set_defaults(func=_cmd_claims)
    rf = sub.add_parser("reference", help="copy runs/<profile>/<slug> into results/reference/")
    rf.add_argument("--profile", required=True)
    rf.add_argument("--chapter", action="append", help="a chapter slug (default: every run)")
    rf.set_defaults(func=_cmd_reference)
    b = sub.add_parser("build", help="build the HTML book, then check it in Chromium")
    b.add_argument("--no-check", action="store_true", help="skip the browser check")
    b.set_defaults(func=_cmd_build)
    c = sub.add_parser("check-html", help="check the built HTML in headless Chromium")
    c.add_argument("site", nargs="?", default="_build/html")
    c.add_argument("--screenshots", default="_build/screenshots")
    c.add_argument("--require", action="store_true", help="fail when Chromium is missing")
    c.set_defaults(func=_cmd_check_html)
    e = sub.add_parser("envs", help="environments (for the Makefile)")
    e.add_argument("field", nargs="?", choices=["names", "tests", "extras", "describe"], default="describe")
    e.add_argument("--env", default="main")
    e.set_defaults(func=_cmd_envs)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; an error is one line on stderr and exit status 2, never a traceback
    (``REPROBOOK_DEBUG=1`` shows the traceback of an unexpected error)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ReprobookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the command line shows one line, not a traceback
        if os.environ.get("REPROBOOK_DEBUG"):
            raise
        print(f"error: {type(exc).__name__}: {exc} (REPROBOOK_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
