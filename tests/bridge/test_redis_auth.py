"""Redis AUTH: the password comes from DESK_REDIS_PASSWORD, never from the config file, and a
Redis off this host without one is refused unless the config says so."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
import yaml

from desk.bridge.redis_publisher import PASSWORD_ENV, make_client
from desk.cli import main
from desk.config import ConfigError, RedisConfig, parse_config
from desk.engine.engine import Engine
from tests.bridge.redis_fixtures import INSTALL_HINT, free_port


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


@pytest.mark.parametrize(
    ("url", "environ", "allowed", "refused"),
    [
        ("redis://10.1.2.3:6379/0", {}, False, True),
        ("rediss://redis.example.com:6380/0", {}, False, True),  # TLS is not a password
        ("redis://desk-feed@10.1.2.3:6379/0", {}, False, True),  # a user without a password
        ("redis://10.1.2.3:6379/0", {}, True, False),  # allow_unauthenticated: true
        ("redis://10.1.2.3:6379/0", {PASSWORD_ENV: "pw"}, False, False),
        ("redis://desk-feed:pw@10.1.2.3:6379/0", {}, False, False),
        ("redis://127.0.0.1:6379/0", {}, False, False),
        ("redis://localhost:6379/0", {}, False, False),
        ("redis://[::1]:6379/0", {}, False, False),
        ("unix:///run/redis.sock", {}, False, False),
    ],
)
def test_a_redis_off_this_host_without_a_password_is_refused(
    url: str, environ: dict[str, str], allowed: bool, refused: bool
) -> None:
    config = RedisConfig(url=url, allow_unauthenticated=allowed)
    problem = config.unauthenticated_problem(environ)
    assert bool(problem) is refused
    if refused:
        assert problem.startswith("$.redis.allow_unauthenticated: ")
        assert "no password" in problem


def test_desk_refuses_to_start_on_an_unauthenticated_remote_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    remote = {"enabled": True, "url": "redis://192.0.2.10:6379/0"}  # TEST-NET: never reached
    path = tmp_path / "desk.yaml"
    path.write_text(yaml.safe_dump({"redis": remote}))
    for argv in (["engine", "--config", str(path)], ["feed", "--config", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "bad config: $.redis.allow_unauthenticated:" in err and "192.0.2.10" in err
    assert main(["ui", "--attach", "redis://192.0.2.10:6379/0"]) == 2
    assert "allow_unauthenticated" in capsys.readouterr().err
    # Started from code rather than the command line, the engine refuses it the same way.
    config = parse_config({"redis": remote, "storage": {"sqlite_path": str(tmp_path / "d.db")}})
    engine = Engine(config)
    with pytest.raises(ConfigError, match="allow_unauthenticated"):
        await_(engine.start_redis_link())


def await_(coroutine: object) -> None:
    import asyncio

    asyncio.run(coroutine)  # type: ignore[arg-type]
