"""Least-privilege Redis users, one per desk role: ``desk redis-acl --config FILE``.

Each role of a desk (``engine``: the whole desk in one process; ``feed``, ``bots``,
``executor``: a split desk; ``ui``: an attached UI that may send commands; ``viewer``: one that
only watches) gets a user named ``{prefix}-{role}`` that may run only the commands it needs, on
only the keys under the desk's prefix that it needs (Redis 7 ACL selectors bind commands to key
patterns; ``%R~`` marks a pattern read-only). So a viewer cannot write anything, the feed cannot
touch the command stream, and no role can write another role's views.

Pub/sub is the exception Redis leaves: a channel permission allows both PUBLISH and SUBSCRIBE,
so a role that subscribes to market data could also publish there. That is why every message
a role acts on is sealed as well (:mod:`desk.bridge.signing`); ACLs and seals each cover what
the other cannot.

Passwords: ``$DESK_REDIS_PASSWORD_<ROLE>`` when set (printed only as its SHA-256, ``#...``);
otherwise a random one is generated and printed once, in clear, in a comment and the rule.
Each process then connects as its user: ``redis.url: redis://{prefix}-feed@host:6379/0`` and
``DESK_REDIS_PASSWORD`` set to that user's password.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping

from desk.bridge.keys import COMMAND_GROUP

ROLES = ("engine", "feed", "bots", "executor", "ui", "viewer")
BASE_COMMANDS = ("+ping", "+select", "+multi", "+exec", "+discard", "+unwatch")
PUBSUB = ("+subscribe", "+psubscribe", "+unsubscribe", "+punsubscribe")

_VIEWS = {
    "feed": (
        *("meta", "book:*", "tape:*", "candles:*", "tickers", "crossvenue"),
        *("health", "events", "instruments"),
    ),
    "bots": ("bots", "bot:*", "signals", "indicators", "models", "strategies", "events:bots"),
    "executor": ("trading", "events:executor"),
}


def username(prefix: str, role: str) -> str:
    return f"{prefix}-{role}"


def password_env(role: str) -> str:
    return f"DESK_REDIS_PASSWORD_{role.upper()}"


def _selector(keys: list[str], commands: tuple[str, ...]) -> str:
    return "(" + " ".join([*keys, *commands]) + ")"


def _receiver(p: str, group: str, acks: str) -> list[str]:
    """A command receiver of ``group``: the stream, its ledger, the answers (sealed receipts)."""
    stream = ("+xgroup|create", "+xreadgroup", "+xack", "+xautoclaim")
    return [
        _selector([f"~{p}:stream:commands"], stream),
        _selector([f"~{p}:cmd:applied:{group}:*"], ("+set", "+get", "+watch")),
        _selector([f"~{p}:stream:acks:{acks}"], ("+xadd", "+expire")),
    ]


def _sender(p: str, sender_prefix: str) -> list[str]:
    """A command sender: append to the stream, read its own ack stream."""
    return [
        _selector([f"~{p}:stream:commands"], ("+xadd",)),
        _selector([f"%R~{p}:stream:acks:{sender_prefix}*"], ("+xread", "+xrevrange")),
    ]


def _reader(p: str, keys: list[str]) -> str:
    return _selector([f"%R~{p}:{k}" for k in keys], ("+get", "+mget", "+exists"))


def _writer(p: str, views: tuple[str, ...], component: str) -> str:
    keys = [f"~{p}:view:{v}" for v in views] + [f"~{p}:heartbeat:{component}"]
    return _selector(keys, ("+set",))


def role_rules(prefix: str, role: str) -> list[str]:
    """The ACL rules of one role (after the user's name and password)."""
    p = prefix
    lease = _selector([f"~{p}:lease:control"], ("+set", "+get"))
    trades = _selector([f"~{p}:stream:trade_updates"], ("+xadd",))
    if role == "engine":
        views = ("*",)
        channels = [f"&{p}:bus:*"]
        rules = [_writer(p, views, "engine"), trades, lease, *_receiver(p, COMMAND_GROUP, "*")]
        commands: tuple[str, ...] = ("+publish",)
    elif role == "feed":
        channels = [f"&{p}:bus:market_data:*", f"&{p}:bus:system_events"]
        rules = [_writer(p, _VIEWS["feed"], "feed")]
        commands = ("+publish",)
    elif role == "bots":
        channels = [f"&{p}:bus:market_data:*", f"&{p}:bus:bot_signals:*", f"&{p}:bus:system_events"]
        rules = [
            _writer(p, _VIEWS["bots"], "bots"),
            _reader(p, ["view:trading", "lease:control"]),
            *_sender(p, "bots:"),
            *_receiver(p, "bots", "ui:*"),
        ]
        commands = ("+publish", *PUBSUB)
    elif role == "executor":
        channels = [
            f"&{p}:bus:market_data:*",
            f"&{p}:bus:trade_updates:*",
            f"&{p}:bus:system_events",
        ]
        rules = [
            _writer(p, _VIEWS["executor"], "executor"),
            _reader(p, ["view:book:*", "heartbeat:feed"]),
            trades,
            lease,
            *_receiver(p, COMMAND_GROUP, "*"),
        ]
        commands = ("+publish", *PUBSUB)
    elif role in ("ui", "viewer"):
        channels = []
        rules = [_reader(p, ["view:*", "heartbeat:*", "lease:control"])]
        if role == "ui":
            rules += _sender(p, "ui:")
        commands = ()
    else:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    return ["resetkeys", "resetchannels", "-@all", *BASE_COMMANDS, *commands, *channels, *rules]


def acl_lines(
    prefix: str,
    roles: tuple[str, ...] = ROLES,
    environ: Mapping[str, str] | None = None,
    aclfile: bool = False,
) -> list[str]:
    """``ACL SETUSER`` lines (or ``user`` lines of an ACL file) for ``roles``."""
    env = os.environ if environ is None else environ
    lines = [
        f"# least-privilege Redis users of the desk with key prefix {prefix!r} "
        f"(load with redis-cli, or --aclfile for the 'user' form)"
    ]
    for role in roles:
        name = username(prefix, role)
        password = env.get(password_env(role), "")
        if password:
            secret = "#" + hashlib.sha256(password.encode()).hexdigest()
        else:
            generated = secrets.token_urlsafe(24)
            secret = ">" + generated
            lines.append(
                f"# {name}: generated password {generated} (set ${password_env(role)} to choose "
                f"one; the {role} process needs it in $DESK_REDIS_PASSWORD)"
            )
        head = f"user {name}" if aclfile else f"ACL SETUSER {name}"
        lines.append(" ".join([head, "reset", "on", secret, *role_rules(prefix, role)]))
    return lines
