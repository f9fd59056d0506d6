from __future__ import annotations

import logging

from reprobook.core.logs import quiet_lightning


def test_quiet_lightning_hides_info_keeps_warnings_and_restores(caplog):
    lg = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    parent = logging.getLogger("lightning.pytorch")
    before = parent.level
    parent.propagate = True  # let caplog see the records
    try:
        with caplog.at_level(logging.INFO, logger="lightning.pytorch.utilities.rank_zero"):
            lg.setLevel(logging.NOTSET)
            with quiet_lightning():
                lg.info("GPU available: False")
                lg.warning("a real warning")
    finally:
        parent.propagate = False
    messages = [r.getMessage() for r in caplog.records]
    assert "GPU available: False" not in messages and "a real warning" in messages
    assert parent.level == before
