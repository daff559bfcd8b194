"""Save the README's screenshots: desk on the built-in simulators with its demo bots, each mode.

    .venv/bin/python docs/make_screenshots.py [--seconds 45] [--out docs]

Runs the real engine in-process (offline) on OKX, Binance and Coinbase, as ``desk --sim`` does,
lets the bots trade for a while, places one manual resting order so the trading mode has
something to show, then saves one SVG per mode, plus the market mode's ladder of every venue
merged and the cross-venue view, into docs/ (what Textual's ``save_screenshot`` writes).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from decimal import Decimal
from pathlib import Path

import msgspec

from desk.app import DeskApp
from desk.clients.inprocess import InProcessClient
from desk.config import DeskConfig, with_simulator
from desk.core.commands import SubmitOrder
from desk.core.enums import Side
from desk.core.orders import OrderRequest, OrderType
from desk.engine.engine import Engine

DOCS = Path(__file__).parent
MODES = [("1", "market"), ("2", "trading"), ("3", "bots"), ("4", "signals"), ("5", "health")]
# then, back in the market mode: v three times (okx -> binance -> coinbase -> all), x
VENUE_SHOTS = [(("1", "v", "v", "v"), "market-all-venues"), (("x",), "cross-venue")]


async def main(seconds: float, size: tuple[int, int], out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = with_simulator(DeskConfig(), all_venues=True)
        storage = msgspec.structs.replace(config.storage, sqlite_path=f"{tmp}/desk.sqlite")
        config = msgspec.structs.replace(config, storage=storage)
        client = InProcessClient(Engine(config))
        app = DeskApp(client, config)
        async with app.run_test(size=size) as pilot:
            await asyncio.sleep(seconds)
            mid = client.engine.execution.mid("BTC-USDT")
            price = (mid * Decimal("0.995")).quantize(Decimal("0.1"))
            order = OrderRequest(
                symbol="BTC-USDT", side=Side.BUY, order_type=OrderType.LIMIT,
                size=Decimal("0.05"), price=price,
            )  # fmt: skip
            await client.execute(SubmitOrder(request=order))
            shots = [((key,), name) for key, name in MODES] + VENUE_SHOTS
            for keys, name in shots:
                await pilot.press(*keys)
                await asyncio.sleep(2.5)
                path = out / f"desk-{name}.svg"
                app.save_screenshot(str(path))
                print(f"saved {path}")
            await pilot.press("escape", "q")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--size", default="160x45")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder of the SVGs (docs/)")
    args = parser.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    asyncio.run(main(args.seconds, (w, h), args.out))
