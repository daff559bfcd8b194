"""Redis AUTH: the password comes from DESK_REDIS_PASSWORD, never from the config file."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from desk.bridge.redis_publisher import PASSWORD_ENV, make_client
from tests.bridge.redis_fixtures import INSTALL_HINT, free_port

pytestmark = pytest.mark.asyncio


@pytest.fixture
def protected_redis(tmp_path: Path):  # type: ignore[no-untyped-def]
    if shutil.which("redis-server") is None:
        pytest.fail(INSTALL_HINT)
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path), "--requirepass", "s3cret-pass"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    probe = redis.Redis(port=port, password="s3cret-pass", socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            probe.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.kill()
    process.wait(10)


async def test_the_password_comes_from_the_environment(
    protected_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    anonymous = make_client(protected_redis)
    with pytest.raises(aioredis.AuthenticationError):
        await anonymous.ping()
    await anonymous.aclose()
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-pass")
    client = make_client(protected_redis)
    assert await client.ping()
    await client.aclose()
