"""The gateway: read-only WebSocket routes and Prometheus ``/metrics`` for other tools.

Started by the engine when ``gateway.enabled`` (:class:`~desk.gateway.server.Gateway`). It
takes what it needs through the shapes in :mod:`desk.gateway.source` (the bus, the views, the
engine's own counters) and never imports the engine, which imports it.
"""
