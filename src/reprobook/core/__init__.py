"""What every chapter shares: profiles, the runner, seeding, devices, figures, claims, data.

Modules (ARCHITECTURE §3-§8):

- :mod:`~reprobook.core.paths` — where the repository, runs and executed notebooks live.
- :mod:`~reprobook.core.chapters` — chapter discovery (``notebooks/<slug>/chapter.yaml``).
- :mod:`~reprobook.core.environments` — the Python environments and their Jupyter kernels.
- :mod:`~reprobook.core.profiles` — profile files and parameter validation.
- :mod:`~reprobook.core.runner` — executes notebooks with papermill, within a time budget.
- :mod:`~reprobook.core.seeds`, :mod:`~reprobook.core.devices` — reproducibility and hardware.
- :mod:`~reprobook.core.session` — the per-notebook run context (metrics, figures, tables, claims).
- :mod:`~reprobook.core.claims`, :mod:`~reprobook.core.dashboard` — measured claims and verdicts.
- :mod:`~reprobook.core.data` — data manifests and fetching (cache, mirror, download).
"""
