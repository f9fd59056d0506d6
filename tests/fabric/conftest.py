"""Fixtures of the Fabric chapter's tests: the authors' tables (skipped without the data mirror)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reprobook.core.errors import DataUnavailable

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def tables() -> pd.DataFrame:
    from reprobook.fabric.tables import load_tables

    try:
        return load_tables()
    except DataUnavailable as exc:
        pytest.skip(f"the authors' tables are not available here (set REPROBOOK_DATA_MIRROR to a "
                    f"folder with fabric-phase-tables/phase_tables.csv): {exc}")


@pytest.fixture(scope="session")
def predictions(tables: pd.DataFrame) -> pd.DataFrame:
    from reprobook.fabric.reproduce import predictions as pred

    return pred(tables)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
