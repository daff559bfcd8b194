"""Small closed vocabularies shared by every part of desk."""

from enum import StrEnum


class Side(StrEnum):
    """Aggressor side of a trade, or side of an order."""

    BUY = "buy"
    SELL = "sell"


class Mode(StrEnum):
    """How desk trades: against the simulator, on paper, or live."""

    SIM = "sim"
    PAPER = "paper"
    LIVE = "live"


class ConnectionState(StrEnum):
    """Life of one feed connection, as the health screen shows it."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
