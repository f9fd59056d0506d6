"""What every chapter shares: profiles, the runner, seeding, devices, figures, claims, data.

Modules (ARCHITECTURE §3-§8):

- :mod:`~reprobook.core.paths` — where the repository, runs and executed notebooks live.
- :mod:`~reprobook.core.chapters` — chapter discovery (``notebooks/<slug>/chapter.yaml``).
- :mod:`~reprobook.core.venvs` — the Python environments and their Jupyter kernels.
- :mod:`~reprobook.core.runcache` — the runner's content-keyed execution cache.
- :mod:`~reprobook.core.params`, :mod:`~reprobook.core.cache`, :mod:`~reprobook.core.progress`,
  :mod:`~reprobook.core.procs`, :mod:`~reprobook.core.logs` — one way each to build configs from
  notebook parameters, cache results, show progress, stop process trees, quieten logs.
- :mod:`~reprobook.core.gpusmoke` — the registry of every chapter's GPU smoke checks.
- :mod:`~reprobook.core.profiles` — profile files and parameter validation.
- :mod:`~reprobook.core.runner` — executes notebooks with papermill, within a time budget.
- :mod:`~reprobook.core.seeds`, :mod:`~reprobook.core.devices` — reproducibility and hardware.
- :mod:`~reprobook.core.session` — the per-notebook run context (metrics, figures, tables, claims).
- :mod:`~reprobook.core.claims`, :mod:`~reprobook.core.dashboard` — measured claims and verdicts.
- :mod:`~reprobook.core.data` — data manifests and fetching (cache, mirror, download).
"""

import warnings as _warnings

# tqdm warns "IProgress not found" when a library imports tqdm.auto in a kernel without
# ipywidgets; under the runner no bar is drawn anyway (TQDM_DISABLE=1), so the warning is only
# noise in the executed notebooks.
_warnings.filterwarnings("ignore", message="IProgress not found")
