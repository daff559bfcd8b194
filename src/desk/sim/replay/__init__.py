"""Replay: a recording's raw frames served through OKX's wire protocol (``desk replay``)."""
