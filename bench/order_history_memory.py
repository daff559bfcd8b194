"""Memory of the OMS while orders keep coming: bounded history vs everything kept.

The same OMS as ``bench/tick_to_order.py`` (real risk, portfolio, SQLite store with the journal,
a venue that fills every order at once) takes ``--orders`` limit orders in ten rounds. After each
round it prints the orders the OMS holds in memory, its fill keys, and the Python heap
(tracemalloc) and RSS, for the default bounded policy shrunk to ``--cap`` done orders, and as
the reference, a cap larger than the run (nothing pruned: how it was before). Figures only.

    .venv/bin/python bench/order_history_memory.py [--orders 50000] [--cap 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import tracemalloc
from decimal import Decimal
from pathlib import Path

import psutil

from desk.core.enums import Side
from desk.core.orders import OrderRequest, OrderType
from desk.execution.config import OrderHistoryConfig

sys.path.insert(0, str(Path(__file__).parent))
import tick_to_order as bench


async def run(orders: int, cap: int) -> list[tuple[int, int, int, float, float]]:
    history = OrderHistoryConfig(max_done_orders=cap, remember_pruned=max(cap * 4, 1))
    with tempfile.TemporaryDirectory() as tmp:
        _, store, oms, venue, _ = await bench.build(Path(tmp) / "m.sqlite")
        oms._done.__init__(history)  # the bench's OMS with this policy
        rows = []
        per_round = orders // 10
        process = psutil.Process()
        for r in range(10):
            venue.got.clear()  # the bench venue's own notes: not the OMS's memory
            for i in range(per_round):
                n = r * per_round + i
                oms.submit(
                    OrderRequest(
                        symbol=bench.SYMBOL, side=Side.BUY if n % 2 else Side.SELL,
                        order_type=OrderType.LIMIT, size=Decimal("0.001"),
                        price=Decimal("59990.0") + n % 10,
                    )
                )  # fmt: skip
            while len(venue.got) < per_round:
                await asyncio.sleep(0.001)
            await store.flush()
            gc.collect()
            heap = tracemalloc.get_traced_memory()[0] / 2**20
            rss = process.memory_info().rss / 2**20
            rows.append((len(oms._orders), len(oms._seen_fills), oms._done.pruned, heap, rss))
        await oms.stop()
        await store.close()
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--cap", type=int, default=2_000)
    args = parser.parse_args()
    tracemalloc.start()
    for label, cap in (("bounded", args.cap), ("reference, nothing pruned", args.orders * 2)):
        rows = asyncio.run(run(args.orders, cap))
        print(f"{label} (max_done_orders {cap:,}):")
        for i, (held, keys, pruned, heap, rss) in enumerate(rows, 1):
            print(
                f"  after {i * args.orders // 10:>7,} orders: held {held:>6,}  fill keys "
                f"{keys:>6,}  pruned {pruned:>6,}  heap {heap:7.1f} MiB  RSS {rss:7.1f} MiB"
            )


if __name__ == "__main__":
    main()
