"""Loading exchange credentials from the environment or an owner-only file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desk.execution.credentials import Credentials, CredentialsError, load_credentials
from desk.execution.venues.okx import OkxExecutionConfig

ENV = {
    "DESK_OKX_API_KEY": "key-1234567890",
    "DESK_OKX_SECRET": "s3cr3t-value",
    "DESK_OKX_PASSPHRASE": "pass-phrase",
}


def test_from_environment() -> None:
    creds = load_credentials(env=ENV)
    assert creds == Credentials(
        api_key="key-1234567890", secret="s3cr3t-value", passphrase="pass-phrase"
    )


def test_missing_environment_names_what_is_missing() -> None:
    with pytest.raises(CredentialsError, match="DESK_OKX_SECRET, DESK_OKX_PASSPHRASE"):
        load_credentials(env={"DESK_OKX_API_KEY": "k"})


def test_renamed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "k")
    monkeypatch.setenv("MY_SECRET", "s")
    monkeypatch.setenv("MY_PASS", "p")
    config = OkxExecutionConfig(
        api_key_env="MY_KEY", secret_env="MY_SECRET", passphrase_env="MY_PASS"
    )
    assert config.load_credentials() == Credentials(api_key="k", secret="s", passphrase="p")


def _write(path: Path, mode: int) -> Path:
    path.write_text(
        "# okx demo key\napi_key=key-1234567890\n"
        "secret = 's3cr3t-value'\n\npassphrase=pass-phrase\n"
    )
    os.chmod(path, mode)
    return path


def test_from_owner_only_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "okx.env", 0o600)
    creds = load_credentials(path, env={})
    assert (creds.api_key, creds.secret, creds.passphrase) == (
        "key-1234567890",
        "s3cr3t-value",
        "pass-phrase",
    )
    config = OkxExecutionConfig(credentials_file=str(path))
    assert config.load_credentials() == creds


def test_group_readable_file_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "okx.env", 0o644)
    with pytest.raises(CredentialsError) as info:
        load_credentials(path)
    assert str(path) in str(info.value) and "0644" in str(info.value)


def test_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="does not exist"):
        load_credentials(tmp_path / "nope")
    partial = tmp_path / "partial.env"
    partial.write_text("api_key=k\n")
    os.chmod(partial, 0o600)
    with pytest.raises(CredentialsError, match="lacks secret, passphrase"):
        load_credentials(partial)
    junk = tmp_path / "junk.env"
    junk.write_text("password=hunter2\n")
    os.chmod(junk, 0o600)
    with pytest.raises(CredentialsError, match="line 1") as info:
        load_credentials(junk)
    assert "hunter2" not in str(info.value)


def test_repr_masks_secrets() -> None:
    creds = load_credentials(env=ENV)
    for text in (repr(creds), str(creds), f"{creds}"):
        assert "s3cr3t-value" not in text and "pass-phrase" not in text
        assert "key-1234567890" not in text
    assert "***" in repr(creds)


def test_empty_values_refused() -> None:
    with pytest.raises(CredentialsError, match="secret"):
        Credentials(api_key="k", secret="", passphrase="p")
