"""A lean Redis connection for the hot paths: a command is written the moment it is asked.

redis-py spends about 50 us of Python per command on top of the round trip itself (a pool and
its lock, a timeout context, a pipeline object, per-reply awaits), and a caller that is not a
coroutine (a bus handler) cannot send at all without waking a task first. On the split desk's
tick-to-order path (feed PUBLISH, bots' XADD, executor's XREADGROUP and ledger claim) that was
most of the latency that was not Redis. This connection:

* writes each command to the socket at once, synchronously (:meth:`RespConnection.send`); many
  commands in one write are a pipeline (:meth:`RespConnection.send_many`); a MULTI ... EXEC is
  just such a batch;
* resolves each command's future when its reply is parsed (Redis answers in order); a command
  sent with ``reply=False`` has its reply dropped (an error reply still counts and reaches
  ``on_error``);
* hands pub/sub messages to ``on_push`` straight from the socket callback, no task between;
* speaks RESP2 only; never retries: a lost connection (or a reply later than its deadline, after
  which the stream cannot be trusted) fails every waiting future with redis-py's
  ``ConnectionError`` / ``TimeoutError``, so callers keep their redis-py ``except`` clauses, and
  its owner opens a new one.

Where to connect and how to authenticate come from a redis-py client (:func:`params_of`), so
the URL, ``$DESK_REDIS_PASSWORD``, TLS (``rediss://``) and unix sockets follow the same rules
as every other client of the desk.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

Arg = bytes | str | int | float | memoryview
Push = Callable[[list[Any]], None]
"""``on_push(message)``: one pub/sub message, ``[b"message", channel, data]`` or
``[b"pmessage", pattern, channel, data]``."""

PUSH_KINDS = (b"message", b"pmessage")


class ConnectParams(msgspec.Struct, frozen=True, kw_only=True):
    """Where and as whom to connect (from a redis-py client: :func:`params_of`)."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str = ""
    db: int = 0
    username: str = ""
    password: str = ""
    tls: bool = False
    connect_timeout_s: float = 2.0
    reply_timeout_s: float = 2.0


def params_of(client: aioredis.Redis) -> tuple[ConnectParams, ssl.SSLContext | None]:
    """The connection settings of ``client`` (a redis-py client built from a URL)."""
    pool = client.connection_pool
    kw = pool.connection_kwargs
    tls = issubclass(pool.connection_class, SSLConnection)
    context = pool.make_connection().ssl_context.get() if tls else None  # type: ignore[attr-defined]
    params = ConnectParams(
        host=str(kw.get("host") or "127.0.0.1"),
        port=int(kw.get("port") or 6379),
        path=str(kw.get("path") or ""),
        db=int(kw.get("db") or 0),
        username=str(kw.get("username") or ""),
        password=str(kw.get("password") or ""),
        tls=tls,
        connect_timeout_s=float(kw.get("socket_connect_timeout") or 2.0),
        reply_timeout_s=float(kw.get("socket_timeout") or 2.0),
    )
    return params, context


def pack(args: Sequence[Arg]) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, int):
            data = b"%d" % arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            data = bytes(arg)
        out.append(b"$%d\r\n" % len(data))
        out.append(data)
        out.append(b"\r\n")
    return b"".join(out)


class _Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


def parse(buf: bytes, pos: int) -> tuple[Any, int]:
    """One RESP2 value at ``pos``: ``(value, end)``; :class:`_Incomplete` if cut short.

    Bulk strings are bytes, integers int, simple strings bytes, nulls None, arrays lists, and
    an error reply a :class:`~redis.exceptions.ResponseError` (returned, not raised). The bulk
    strings of an array (a stream entry's fields, a pub/sub message) are read in the array's
    own loop, not one call each: the hot replies are mostly those.
    """
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind = buf[pos]
    if kind == 36:  # $ bulk string
        size = int(buf[pos + 1 : end])
        if size < 0:
            return None, end + 2
        stop = end + 2 + size
        if len(buf) < stop + 2:
            raise _Incomplete
        return buf[end + 2 : stop], stop + 2
    if kind == 42:  # * array
        count = int(buf[pos + 1 : end])
        if count < 0:
            return None, end + 2
        items: list[Any] = []
        append = items.append
        find = buf.find
        total = len(buf)
        at = end + 2
        for _ in range(count):
            if at < total and buf[at] == 36:  # a bulk string, inline
                end = find(b"\r\n", at)
                if end < 0:
                    raise _Incomplete
                size = int(buf[at + 1 : end])
                if size < 0:
                    append(None)
                    at = end + 2
                    continue
                stop = end + 2 + size
                if total < stop + 2:
                    raise _Incomplete
                append(buf[end + 2 : stop])
                at = stop + 2
            else:
                item, at = parse(buf, at)
                append(item)
        return items, at
    if kind == 58:  # : integer
        return int(buf[pos + 1 : end]), end + 2
    if kind == 43:  # + simple string
        return buf[pos + 1 : end], end + 2
    if kind == 45:  # - error
        return ResponseError(buf[pos + 1 : end].decode(errors="replace")), end + 2
    raise RedisConnectionError(f"unexpected reply byte {kind!r} from Redis")


class RespConnection(asyncio.Protocol):
    """One pipelined connection (see the module docstring); open with :meth:`open`."""

    def __init__(self, on_push: Push | None = None, reply_timeout_s: float = 2.0) -> None:
        self.on_push = on_push
        self.on_error: Callable[[ResponseError], None] | None = None
        self.reply_timeout_s = reply_timeout_s
        self._transport: asyncio.Transport | None = None
        self._buf = b""  # the start of a reply cut short, waiting for the rest
        self._waiting: deque[tuple[asyncio.Future[Any] | None, float]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self.error_replies = 0

    @classmethod
    async def open(
        cls,
        params: ConnectParams,
        context: ssl.SSLContext | None = None,
        on_push: Push | None = None,
    ) -> RespConnection:
        """Connect, authenticate and select the database; redis-py errors when that fails."""
        loop = asyncio.get_running_loop()
        conn = cls(on_push, params.reply_timeout_s)
        try:
            async with asyncio.timeout(params.connect_timeout_s):
                if params.path:
                    await loop.create_unix_connection(lambda: conn, params.path)
                else:
                    await loop.create_connection(
                        lambda: conn,
                        params.host,
                        params.port,
                        ssl=context,
                        server_hostname=params.host if context is not None else None,
                    )
        except TimeoutError as exc:
            raise RedisTimeoutError(f"connecting to Redis timed out: {exc}") from exc
        except OSError as exc:
            raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
        hello: list[tuple[Arg, ...]] = []
        if params.password:
            auth = (params.username, params.password) if params.username else (params.password,)
            hello.append(("AUTH", *auth))
        if params.db:
            hello.append(("SELECT", params.db))
        try:
            for waiter in conn.send_many(hello):
                await waiter
        except BaseException:
            conn.close()
            raise
        return conn

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport  # asyncio sets TCP_NODELAY on TCP sockets itself

    def data_received(self, data: bytes) -> None:
        """Parse straight from ``data`` (bytes, so values need no copy); only the tail of a
        reply cut short is kept, and joined with what comes next."""
        if self._buf:
            data = self._buf + data
        pos = 0
        size = len(data)
        try:
            while pos < size:
                value, pos = parse(data, pos)
                self._dispatch(value)
        except _Incomplete:
            pass
        except (RedisConnectionError, ValueError) as exc:  # not RESP: the stream is lost
            self._fail(RedisConnectionError(f"unreadable reply from Redis: {exc}"))
            return
        self._buf = data[pos:] if pos < size else b""

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    # -- replies ----------------------------------------------------------------------------

    def _dispatch(self, value: Any) -> None:
        if self.on_push is not None and type(value) is list and value and value[0] in PUSH_KINDS:
            try:
                self.on_push(value)
            except Exception:  # the owner's bug must not desynchronise the stream
                log.exception("a pub/sub message handler failed")
            return
        if not self._waiting:
            return  # a stray reply (nobody asked): nothing to give it to
        waiter, _ = self._waiting.popleft()
        if isinstance(value, ResponseError):
            self.error_replies += 1
            if waiter is None:
                if self.on_error is not None:
                    self.on_error(value)
            elif not waiter.done():
                waiter.set_exception(value)
        elif waiter is not None and not waiter.done():
            waiter.set_result(value)
        if not self._waiting:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif self._waiting[0][1] != self._timer_at:  # a batch shares one deadline: keep it
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self._timer_at = self._waiting[0][1]
        if deadline > 0:
            self._timer = self._loop.call_at(deadline, self._late)

    def _late(self) -> None:
        self._timer = None
        self._fail(RedisTimeoutError("Redis did not answer in time"))

    def _fail(self, exc: Exception) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, deque()
        for waiter, _ in waiting:
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)
                waiter.exception()  # retrieved: nobody may be left to await it
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    # -- sending ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def waiting(self) -> int:
        """Commands sent whose reply has not come yet."""
        return len(self._waiting)

    def send(
        self, *args: Arg, reply: bool = True, timeout_s: float | None = None
    ) -> asyncio.Future[Any] | None:
        """Write one command now; its reply's future (None with ``reply=False``).

        ``timeout_s`` (default ``reply_timeout_s``; 0: none) is how long its reply may take
        from now; a blocking command adds its block time to it.
        """
        return self.send_many((args,), reply=reply, timeout_s=timeout_s)[0]

    def send_many(
        self,
        commands: Iterable[Sequence[Arg]],
        reply: bool = True,
        timeout_s: float | None = None,
    ) -> list[asyncio.Future[Any] | None]:
        """Write several commands in one write (a pipeline); their futures, in order."""
        transport = self._transport
        if transport is None or transport.is_closing():
            raise RedisConnectionError("not connected to Redis")
        wait = self.reply_timeout_s if timeout_s is None else timeout_s
        deadline = self._loop.time() + wait if wait > 0 else 0.0
        new_loop_future = self._loop.create_future
        first = not self._waiting
        packed = []
        futures: list[asyncio.Future[Any] | None] = []
        for args in commands:
            packed.append(pack(args))
            waiter = new_loop_future() if reply else None
            futures.append(waiter)
            self._waiting.append((waiter, deadline))
        if not packed:
            return futures
        transport.write(b"".join(packed) if len(packed) > 1 else packed[0])
        if first:
            self._arm()
        return futures

    async def call(self, *args: Arg, timeout_s: float | None = None) -> Any:
        """Send one command and wait for its reply (an error reply is raised)."""
        waiter = self.send(*args, timeout_s=timeout_s)
        assert waiter is not None
        return await waiter

    def close(self) -> None:
        """Close after what was written has gone out; replies still due are failed."""
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
        self._fail(RedisConnectionError("connection closed"))


async def replies(futures: Iterable[asyncio.Future[Any] | None]) -> list[Any]:
    """Every reply of a pipeline, in order, an error reply in its place (not raised); a lost
    connection or an overdue reply is raised (after every future was looked at)."""
    out: list[Any] = []
    lost: BaseException | None = None
    for waiter in futures:
        if waiter is None:
            continue
        try:
            out.append(await waiter)
        except ResponseError as exc:
            out.append(exc)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            lost = lost or exc
    if lost is not None:
        raise lost
    return out


def first_error(results: Iterable[Any]) -> ResponseError | None:
    """The first error reply among ``results``, looking inside an EXEC's list too."""
    for result in results:
        if isinstance(result, ResponseError):
            return result
        if type(result) is list:
            for item in result:
                if isinstance(item, ResponseError):
                    return item
    return None


def fields_of(flat: list[Any] | None) -> dict[bytes, bytes]:
    """A stream entry's ``[field, value, ...]`` as a dict (None for a deleted entry: {})."""
    if not flat:
        return {}
    it = iter(flat)
    return dict(zip(it, it, strict=True))


def stream_entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """``[(id, fields), ...]`` of an XREAD / XREADGROUP reply (of any streams; None: [])."""
    entries: list[tuple[bytes, dict[bytes, bytes]]] = []
    for _stream, items in reply or ():
        for entry_id, flat in items or ():
            entries.append((entry_id, fields_of(flat)))
    return entries
