"""SQLite schema of desk's records. Raw market data is not stored here (that is the recorder's).

``SCHEMA`` creates the latest schema in a new file. A file written by an older desk is brought
up to ``SCHEMA_VERSION`` by ``MIGRATIONS`` (version -> the script that makes a file of the
version before into that version), each in one transaction; a file of a newer desk is refused.
"""

SCHEMA_VERSION = 2

DEAD_LETTERS = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    table_name TEXT NOT NULL,
    row TEXT NOT NULL,
    error TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_ts ON dead_letters (ts_ns);
"""
"""Rows the writer could not store (a bad value, a constraint): the table they were for, the row
as JSON (non-finite numbers as strings, long strings cut with their length) and why."""

RISK_STATE = """
CREATE TABLE IF NOT EXISTS risk_state (
    component TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    since_ns INTEGER NOT NULL,
    detail TEXT NOT NULL
);
"""
"""The last state of what must survive a restart: ``risk`` (ACTIVE / REDUCING / HALTED) and
``breaker:<venue>`` (closed / open / half_open), with why, who and since when; ``detail`` is
JSON for what else the component needs back (a breaker's failure count and last error)."""

MIGRATIONS: dict[int, str] = {2: DEAD_LETTERS + RISK_STATE}

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS instruments (
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    base TEXT NOT NULL,
    quote TEXT NOT NULL,
    tick_size TEXT NOT NULL,
    lot_size TEXT NOT NULL,
    min_size TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_ns INTEGER NOT NULL,
    PRIMARY KEY (venue, symbol)
);
CREATE TABLE IF NOT EXISTS candles (
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    end_ns INTEGER NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    quote_volume REAL NOT NULL,
    trades INTEGER NOT NULL,
    PRIMARY KEY (venue, symbol, timeframe, end_ns)
);
CREATE TABLE IF NOT EXISTS system_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    symbol TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS system_events_ts ON system_events (ts_ns);
CREATE TABLE IF NOT EXISTS bots (
    bot_id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    state TEXT NOT NULL,
    mode TEXT NOT NULL,
    updated_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bot_signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    recorded_ns INTEGER NOT NULL,
    bot_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    strategy TEXT NOT NULL,
    direction TEXT NOT NULL,
    strength REAL NOT NULL,
    price REAL NOT NULL,
    indicators TEXT NOT NULL,
    reason TEXT NOT NULL,
    fate TEXT NOT NULL,
    order_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bot_signals_bot_ts ON bot_signals (bot_id, ts_ns);
CREATE TABLE IF NOT EXISTS bot_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    bot_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bot_events_bot_ts ON bot_events (bot_id, ts_ns);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    venue_order_id TEXT NOT NULL,
    venue TEXT NOT NULL,
    bot_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    order_type TEXT NOT NULL,
    price TEXT,
    size TEXT NOT NULL,
    filled TEXT NOT NULL,
    avg_price TEXT NOT NULL,
    notional TEXT NOT NULL,
    fee TEXT NOT NULL,
    fee_ccy TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    reduce_only INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_status ON orders (status);
CREATE INDEX IF NOT EXISTS orders_created ON orders (created_ns);
CREATE TABLE IF NOT EXISTS order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    client_order_id TEXT NOT NULL,
    status TEXT NOT NULL,
    filled TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS order_events_order ON order_events (client_order_id, id);
CREATE TABLE IF NOT EXISTS fills (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_exchange INTEGER NOT NULL,
    ts_recv INTEGER NOT NULL,
    venue TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    trade_id TEXT NOT NULL,
    venue_order_id TEXT NOT NULL,
    bot_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    price TEXT NOT NULL,
    size TEXT NOT NULL,
    fee TEXT NOT NULL,
    fee_ccy TEXT NOT NULL,
    liquidity TEXT NOT NULL,
    UNIQUE (venue, client_order_id, trade_id)
);
CREATE INDEX IF NOT EXISTS fills_ts ON fills (ts_recv);
"""
    + DEAD_LETTERS
    + RISK_STATE
)
"""Orders, their state changes and fills (DESIGN.md section 3). Money columns are TEXT holding
``Decimal`` strings so nothing is rounded through a float. A fill's identity is
(venue, client_order_id, trade_id): the venue's trade id is unique only per symbol, and a trade
between two of desk's own orders has one trade id for both sides."""

UPSERT_INSTRUMENT = """
INSERT INTO instruments
    (venue, symbol, base, quote, tick_size, lot_size, min_size, state, updated_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (venue, symbol) DO UPDATE SET
    base = excluded.base, quote = excluded.quote, tick_size = excluded.tick_size,
    lot_size = excluded.lot_size, min_size = excluded.min_size, state = excluded.state,
    updated_ns = excluded.updated_ns
"""

UPSERT_CANDLE = """
INSERT OR REPLACE INTO candles
    (venue, symbol, timeframe, end_ns, open, high, low, close, volume, quote_volume, trades)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

INSERT_SYSTEM_EVENT = """
INSERT INTO system_events (ts_ns, source, kind, severity, symbol, message)
VALUES (?, ?, ?, ?, ?, ?)
"""

UPSERT_BOT = """
INSERT INTO bots (bot_id, config, state, mode, updated_ns) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (bot_id) DO UPDATE SET
    config = excluded.config, state = excluded.state, mode = excluded.mode,
    updated_ns = excluded.updated_ns
"""

INSERT_BOT_SIGNAL = """
INSERT INTO bot_signals
    (ts_ns, recorded_ns, bot_id, symbol, timeframe, strategy, direction, strength, price,
     indicators, reason, fate, order_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

INSERT_BOT_EVENT = """
INSERT INTO bot_events (ts_ns, bot_id, kind, detail, actor) VALUES (?, ?, ?, ?, ?)
"""

UPSERT_ORDER = """
INSERT INTO orders
    (client_order_id, venue_order_id, venue, bot_id, symbol, side, order_type, price, size,
     filled, avg_price, notional, fee, fee_ccy, status, reason, reduce_only, created_ns,
     updated_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (client_order_id) DO UPDATE SET
    venue_order_id = excluded.venue_order_id, price = excluded.price, size = excluded.size,
    filled = excluded.filled, avg_price = excluded.avg_price, notional = excluded.notional,
    fee = excluded.fee, fee_ccy = excluded.fee_ccy, status = excluded.status,
    reason = excluded.reason, updated_ns = excluded.updated_ns
"""

INSERT_ORDER_IF_ABSENT = """
INSERT OR IGNORE INTO orders
    (client_order_id, venue_order_id, venue, bot_id, symbol, side, order_type, price, size,
     filled, avg_price, notional, fee, fee_ccy, status, reason, reduce_only, created_ns,
     updated_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
"""An order row from the journal (journal.py): SQLite's own row, if any, is newer."""

ORDER_COLUMNS = """
    client_order_id, venue_order_id, venue, bot_id, symbol, side, order_type, price, size,
    filled, avg_price, notional, fee, fee_ccy, status, reason, reduce_only, created_ns,
    updated_ns
"""

INSERT_ORDER_EVENT = """
INSERT INTO order_events (ts_ns, client_order_id, status, filled, reason) VALUES (?, ?, ?, ?, ?)
"""

INSERT_FILL = """
INSERT OR IGNORE INTO fills
    (ts_exchange, ts_recv, venue, client_order_id, trade_id, venue_order_id, bot_id, symbol,
     side, price, size, fee, fee_ccy, liquidity)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

FILL_COLUMNS = """
    ts_exchange, ts_recv, venue, client_order_id, trade_id, venue_order_id, bot_id, symbol,
    side, price, size, fee, fee_ccy, liquidity
"""

UPSERT_RISK_STATE = """
INSERT INTO risk_state (component, state, reason, actor, since_ns, detail)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (component) DO UPDATE SET
    state = excluded.state, reason = excluded.reason, actor = excluded.actor,
    since_ns = excluded.since_ns, detail = excluded.detail
"""

INSERT_DEAD_LETTER = """
INSERT INTO dead_letters (ts_ns, table_name, row, error) VALUES (?, ?, ?, ?)
"""
