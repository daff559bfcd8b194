"""desk: a trading desk that lives in a terminal."""

__version__ = "0.1.0"
