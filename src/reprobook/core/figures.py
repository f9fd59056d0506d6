"""Figures (ARCHITECTURE §8): one look for the book, saved as PNG and PDF beside the run.

``save(fig, name, directory)`` (``run.figure``) writes ``runs/<profile>/<slug>/figures/<name>.png`` and ``.pdf`` and leaves
the figure displayed in the notebook (it does not close it). Never call ``matplotlib.use("Agg")``
in a notebook: it hides the figures from the book.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def style() -> None:
    """The book's figure style: seaborn's whitegrid, a colour-blind palette, readable sizes."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "figure.figsize": (6.4, 4.0),
                         "axes.titlesize": "medium", "pdf.fonttype": 42})


def save(fig: Any, name: str, directory: Path) -> Path:
    """Write ``fig`` as ``<directory>/<name>.png`` (150 dpi) and ``.pdf``; return the PNG path.

    Notebooks call it through ``run.figure(fig, name)`` (the run's ``figures/`` folder).
    """
    if not _NAME.match(name):
        raise ValueError(f"figure name {name!r}: use lower-case letters, digits, '-' and '_'")
    directory.mkdir(parents=True, exist_ok=True)
    png = directory / f"{name}.png"
    # Fixed metadata keeps the files byte-stable across runs of the same seed.
    fig.savefig(png, dpi=150, metadata={"Software": None})
    fig.savefig(directory / f"{name}.pdf", metadata={"CreationDate": None, "Producer": None,
                                                      "Creator": None})
    return png
