"""kill -9 of a trading engine, then a restart: no order sent twice, positions equal to the
venue's, and the reconciliation recorded. The simulator runs as its own process (`desk
sim-server`), so it survives the engine's death like a real exchange would."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path

from desk.execution.credentials import Credentials
from desk.execution.venues.okx_wire import rest_headers
from desk.sim.accounts import SIM_CREDENTIALS

DESK = str(Path(sys.executable).parent / "desk")
CREDS = Credentials(
    api_key=SIM_CREDENTIALS.api_key,
    secret=SIM_CREDENTIALS.secret,
    passphrase=SIM_CREDENTIALS.passphrase,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _get(base: str, path: str) -> list[dict]:
    headers = rest_headers(CREDS, "GET", path, "", time.time_ns() // 1_000_000, False)
    with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers)) as reply:
        body = json.loads(reply.read())
    assert body["code"] == "0", body
    return body["data"]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _write_config(tmp_path: Path, port: int) -> tuple[Path, Path]:
    db = tmp_path / "engine.sqlite"
    config = tmp_path / "desk.yaml"
    host = f"127.0.0.1:{port}"
    config.write_text(
        f"""
system: {{mode: sim, status_interval: 1}}
trading:
  symbols: [BTC-USDT]
  timeframes: [1s, 1m]
  channels: [trades, books]
exchanges:
  okx:
    ws_public_url: ws://{host}/ws/v5/public
    ws_business_url: ws://{host}/ws/v5/business
    ws_private_url: ws://{host}/ws/v5/private
    rest_url: http://{host}
storage: {{sqlite_path: {db}}}
bots:
  - {{bot_id: eager, strategy: ma_crossover, symbol: BTC-USDT, timeframe: 1s, size: 0.01,
      params: {{fast: 2, slow: 3}}}}
"""
    )
    return config, db


def _filled(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return _rows(db, "SELECT COUNT(*) FROM orders WHERE status = 'filled'")[0][0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def test_kill_9_mid_trading_then_restart_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    sim = subprocess.Popen(
        [DESK, "sim-server", "--port", str(port), "--seed", "9", "--steps-per-second", "400"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait(lambda: _answers(base + "/api/v5/public/time"), 60, "the simulator")
        start_btc = _btc(base)
        config, db = _write_config(tmp_path, port)
        engine = subprocess.Popen(
            [DESK, "engine", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(lambda: _filled(db) >= 3, 120, "three filled bot orders")
        finally:
            engine.send_signal(signal.SIGKILL)  # no flush, no goodbye
            engine.wait(30)
        restarted = subprocess.run(
            [DESK, "engine", "--config", str(config), "--duration", "6"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert restarted.returncode == 0, restarted.stderr[-3000:]

        venue = _history(base) + _get(base, "/api/v5/trade/orders-pending?instType=SPOT")
        venue_ids = Counter(o["clOrdId"] for o in venue)
        ours = {cid for (cid,) in _rows(db, "SELECT client_order_id FROM orders")}
        assert venue_ids and max(venue_ids.values()) == 1, "an order reached the venue twice"
        assert set(venue_ids) <= ours, "the venue has orders desk does not know"

        # The venue's BTC moves by the traded size less the fees it took in BTC (OKX charges
        # a buyer's fee in the base currency); desk's fills record both.
        moved = Decimal(0)
        fills = "SELECT side, size, fee, fee_ccy FROM fills WHERE symbol = 'BTC-USDT'"
        for side, size, fee, fee_ccy in _rows(db, fills):
            moved += Decimal(size) if side == "buy" else -Decimal(size)
            if fee_ccy == "BTC":
                moved -= Decimal(fee)
        assert _btc(base) - start_btc == moved, "desk's position differs from the venue's"

        (message,) = _rows(
            db,
            "SELECT message FROM system_events WHERE kind = 'reconciliation' "
            "ORDER BY id DESC LIMIT 1",
        )[0:1] or [("",)]
        assert message[0].startswith("reconciliation clean"), message
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(30)


def _history(base: str) -> list[dict]:
    """Every finished order, newest first: OKX pages at most 100 a call, ``after`` an ordId."""
    orders: list[dict] = []
    path = "/api/v5/trade/orders-history?instType=SPOT&limit=100"
    page = _get(base, path)
    while page:
        orders += page
        page = _get(base, f"{path}&after={page[-1]['ordId']}") if len(page) == 100 else []
    return orders


def _btc(base: str) -> Decimal:
    (account,) = _get(base, "/api/v5/account/balance")
    for detail in account["details"]:
        if detail["ccy"] == "BTC":
            return Decimal(detail["cashBal"])
    return Decimal(0)
