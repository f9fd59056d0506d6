"""Every profile asks the data sets for no more rows than their splits hold (issue: gpu-1x asked
SST-2 for 2,000 test rows; its labelled validation split has 872)."""

from __future__ import annotations

from pathlib import Path

import pytest

import yaml

from reprobook.core.errors import DataError
from reprobook.core.profiles import declared_parameters, load_profile
from reprobook.lorafa import data

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks" / "lorafa").glob("[0-9][0-9]-*.ipynb"))
PROFILES = yaml.safe_load((REPO / "notebooks" / "lorafa" / "chapter.yaml").read_text())["profiles"]


def sizes(profile: str) -> list[tuple[str, str, int, int]]:
    """(notebook, dataset, n_train, n_test) of every lorafa notebook that samples a data set:
    the notebook's defaults, overridden by the profile's defaults and its lorafa section (the
    runner's layering, without validating the other chapters' sections)."""
    prof = load_profile(profile, REPO)
    out = []
    for nb in NOTEBOOKS:
        declared = {k: v.default for k, v in declared_parameters(nb).items()}
        if "n_train" not in declared:
            continue
        layered = {**prof.defaults, **prof.chapters.get("lorafa", {})}
        p = declared | {k: v for k, v in layered.items() if k in declared}
        out.append((nb.stem, p.get("dataset", "tweets"), p["n_train"], p.get("n_test", 32)))
    return out


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_sizes_fit_the_data_sets(profile):
    got = sizes(profile)
    assert {nb for nb, *_ in got} == {"02-finetuning", "03-lowrank"}
    for nb, dataset, n_train, n_test in got:
        data.check_sizes(dataset, n_train, n_test)  # raises DataError naming the split


def test_gpu_profile_uses_all_of_sst2_validation():
    (row,) = [r for r in sizes("gpu-1x") if r[0] == "02-finetuning"]
    assert row[1] == "glue-sst2" and row[3] == data.SPLIT_SIZES["glue-sst2"]["validation"] == 872


def test_split_table_covers_every_task():
    assert set(data.SPLIT_SIZES) == {f"glue-{t}" for t in data.GLUE_TASKS}


def test_oversized_requests_fail_before_any_download():
    with pytest.raises(DataError, match=r"glue-sst2: n_test=2000, but its validation split has 872"):
        data.check_sizes("glue-sst2", 4000, 2000)
    with pytest.raises(DataError, match=r"glue-rte: n_train=4000, but its train split has 2,490"):
        data.load_task("glue-rte", 4000, 100, 0)
    with pytest.raises(DataError, match="the rarer class has 6954"):
        data.check_sizes("tweets", 12_000, 2_000)
    with pytest.raises(DataError, match="empty split"):
        data.check_sizes("tweets", 1, 10)
    with pytest.raises(DataError, match="unknown dataset 'glue-mnli'"):
        data.check_sizes("glue-mnli", 10, 10)
    data.check_sizes("tweets", 2 * 6954 - 2, 2)  # exactly the rarer class: fits
