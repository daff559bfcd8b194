"""The ``models`` config section: ``desk --sim`` runs a demo model bot when a model is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from desk.config import ConfigError, parse_config, with_simulator
from desk.signals.model.live_config import DEMO_BOT_ID
from tests.signals.lstm_models import constant_model


def test_the_demo_model_bot_runs_beside_the_demo_bots(tmp_path: Path) -> None:
    model = constant_model(tmp_path / "up")  # trained (its card says) on BTC-USDT 1s
    config = with_simulator(parse_config({"models": {"demo": str(model)}}))
    demo = next(b for b in config.bots if b.bot_id == DEMO_BOT_ID)
    assert (demo.strategy, demo.symbol, demo.timeframe) == ("lstm", "BTC-USDT", "1s")
    assert demo.params == {"model": str(model), "min_confidence": 0.45}
    assert len(config.bots) > 1  # the other demo bots are still there
    assert all(b.bot_id != DEMO_BOT_ID for b in parse_config({}).bots)  # only with --sim
    slow = with_simulator(parse_config({"models": {"demo": str(model), "demo_timeframe": "1m"}}))
    assert next(b for b in slow.bots if b.bot_id == DEMO_BOT_ID).timeframe == "1m"


def test_a_missing_or_foreign_model_is_refused_with_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\$\.models\.demo: no model checkpoint at"):
        parse_config({"models": {"demo": str(tmp_path / "none")}})
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "card.json").write_text('{"format": "something else"}')
    with pytest.raises(ConfigError, match=r"\$\.models\.demo: .*not a desk model card"):
        parse_config({"models": {"demo": str(tmp_path / "foreign")}})
    with pytest.raises(ConfigError, match=r"\$\.models\.demo_min_confidence"):
        parse_config({"models": {"demo_min_confidence": 2}})


def test_a_bot_naming_a_missing_model_is_refused_with_its_path(tmp_path: Path) -> None:
    bot = {"bot_id": "m", "strategy": "lstm", "symbol": "BTC-USDT", "timeframe": "1m",
           "size": 1, "params": {"model": str(tmp_path / "none")}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"\$\.bots\[0\]\.strategy: lstm: no model checkpoint"):
        parse_config({"bots": [bot]})
