"""Recorded Binance Spot wire messages, verbatim from PROTOCOLS.md B (the Binance docs' own; the
mini ticker from Binance's docs directly)."""

TRADE = (
    b'{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",'
    b'"T":1672515782136,"m":true,"M":true}'
)
AGG_TRADE = (
    b'{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100",'
    b'"f":100,"l":105,"T":1672515782136,"m":true,"M":true}'
)
BOOK_TICKER = (
    b'{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000",'
    b'"A":"40.66000000"}'
)
DEPTH_UPDATE = (
    b'{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,'
    b'"b":[["0.0024","10"]],"a":[["0.0026","100"]]}'
)
MINI_TICKER = (  # Binance Spot docs, Individual Symbol Mini Ticker Stream (not in PROTOCOLS.md)
    b'{"e":"24hrMiniTicker","E":1672515782136,"s":"BNBBTC","c":"0.0025","o":"0.0010",'
    b'"h":"0.0025","l":"0.0010","v":"10000","q":"18"}'
)
PARTIAL_DEPTH = b'{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}'
REST_DEPTH = (
    b'{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],'
    b'"asks":[["4.00000200","12.00000000"]]}'
)
SERVER_SHUTDOWN = b'{"e":"serverShutdown","E":1770123456789}'
SUBSCRIBE = b'{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}'
SUBSCRIBE_REPLY = b'{"result":null,"id":1}'
LIST_REPLY = b'{"result":["btcusdt@aggTrade"],"id":3}'
ERROR_INVALID_REQUEST = b'{"code":2,"msg":"Invalid request: ..."}'
ERROR_INVALID_JSON = b'{"code":3,"msg":"Invalid JSON: ..."}'

# exchangeInfo filters (PROTOCOLS.md B.4), verbatim
PRICE_FILTER = (
    b'{"filterType":"PRICE_FILTER","minPrice":"0.00000100","maxPrice":"100000.00000000",'
    b'"tickSize":"0.00000100"}'
)
LOT_SIZE = (
    b'{"filterType":"LOT_SIZE","minQty":"0.00100000","maxQty":"100000.00000000",'
    b'"stepSize":"0.00100000"}'
)
MIN_NOTIONAL = (
    b'{"filterType":"MIN_NOTIONAL","minNotional":"0.00100000","applyToMarket":true,'
    b'"avgPriceMins":5}'
)
NOTIONAL = (
    b'{"filterType":"NOTIONAL","minNotional":"10.00000000","applyMinToMarket":false,'
    b'"maxNotional":"10000.00000000","applyMaxToMarket":false,"avgPriceMins":5}'
)


def combined(stream: str, payload: bytes) -> bytes:
    """A payload as a combined stream delivers it: ``{"stream":"<name>","data":<payload>}``."""
    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"


def exchange_info(*symbols: bytes) -> bytes:
    return b'{"timezone":"UTC","serverTime":1672515782136,"symbols":[' + b",".join(symbols) + b"]}"


def symbol(
    native: str = "BNBBTC",
    base: str = "BNB",
    quote: str = "BTC",
    status: str = "TRADING",
    filters: tuple[bytes, ...] = (PRICE_FILTER, LOT_SIZE, MIN_NOTIONAL, NOTIONAL),
) -> bytes:
    return (
        f'{{"symbol":"{native}","status":"{status}","baseAsset":"{base}",'
        f'"quoteAsset":"{quote}","filters":['.encode()
        + b",".join(filters)
        + b"]}"
    )
