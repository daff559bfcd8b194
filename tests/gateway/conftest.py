"""Every gateway test starts with the no-token variable unset, whatever the shell had."""

from __future__ import annotations

import pytest

from tests.gateway.support import NO_TOKEN_ENV


@pytest.fixture(autouse=True)
def _no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NO_TOKEN_ENV, raising=False)
