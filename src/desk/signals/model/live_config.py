"""The ``models`` section of desk's config: the model ``desk --sim`` runs as a demo bot.

    models:
      demo: models/lstm-BTC-USDT-1m    # a checkpoint directory (desk train --out)
      demo_min_confidence: 0.45
      demo_timeframe: 1s               # default: the timeframe it was trained on

With ``demo`` set, ``desk --sim`` (and ``desk engine --sim``) adds the bot ``lstm-demo``: the
``lstm`` strategy on that checkpoint, on the first symbol it was trained on (when the desk
trades it, else the desk's first symbol) and ``demo_timeframe`` (by default its training
timeframe when configured, else the fastest), trading against the simulator only. A model
trades once warm: the features' warm-up plus ``burn_in + window`` bars (about 100 bars with the
default sizes: 100 minutes on 1m bars), which ``demo_timeframe: 1s`` shortens for a show.
The checkpoint's card is read when the config is loaded, so a missing or foreign checkpoint is
refused then, with the key's path (``$.models.demo``); its weights are loaded when the bot
starts. No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import msgspec

from desk.core.config import FrozenConfig
from desk.market.timeframes import parse_timeframe
from desk.signals.bots import BotConfig, BotMode
from desk.signals.model.card import CheckpointError, read_card

DEMO_BOT_ID = "lstm-demo"

__all__ = ["DEMO_BOT_ID", "ModelsConfig", "demo_model_bot"]


class ModelsConfig(FrozenConfig, frozen=True):
    demo: str | None = None
    demo_min_confidence: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.45
    demo_size: Annotated[float, msgspec.Meta(gt=0)] = 0.01
    demo_timeframe: str | None = None

    def __post_init__(self) -> None:
        if self.demo is not None:
            try:
                read_card(self.demo)
            except CheckpointError as exc:
                raise ValueError(f"@demo: {exc}") from None


def demo_model_bot(
    models: ModelsConfig, symbols: Sequence[str], timeframes: Sequence[str]
) -> BotConfig | None:
    """The ``lstm-demo`` bot of ``models.demo`` (None when no demo model is configured)."""
    if models.demo is None:
        return None
    card = read_card(models.demo)
    trained = [s for s in card.data.symbols if s in symbols]
    timeframe = models.demo_timeframe or card.data.timeframe
    if timeframe not in timeframes:
        timeframe = min(timeframes, key=parse_timeframe)
    return BotConfig(
        bot_id=DEMO_BOT_ID,
        strategy="lstm",
        symbol=trained[0] if trained else symbols[0],
        timeframe=timeframe,
        size=models.demo_size,
        params={"model": models.demo, "min_confidence": models.demo_min_confidence},
        mode=BotMode.AUTO,
    )
