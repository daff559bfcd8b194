"""One recorded simulator session shared by the replay tests (recorded once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sim.replay.recording import record_session


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~60 s (data time) OKX session: BTC/ETH books with CRC32 checksums, trades, tickers."""
    root = tmp_path_factory.mktemp("recording")
    record_session(root, seconds=3.0, speedup=20.0, seed=7)
    return root
