"""OKX request signatures as the simulator checks them (PROTOCOLS.md A.8, A.9).

* WS login: ``sign = Base64(HMAC_SHA256(secret, ts + "GET" + "/users/self/verify"))`` with
  ``ts`` in epoch **seconds**.
* REST: ``OK-ACCESS-SIGN = Base64(HMAC_SHA256(secret, timestamp + METHOD + requestPath + body))``
  with ``timestamp`` ISO 8601 UTC with milliseconds (``2020-12-08T09:08:57.715Z``) and the
  query string part of ``requestPath`` for GET.

Both are refused when the timestamp is more than ``MAX_SKEW_S`` from the server's wall clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

MAX_SKEW_S = 30.0
LOGIN_PATH = "/users/self/verify"


def sign(secret: str, prehash: str) -> str:
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def login_sign(secret: str, ts: str) -> str:
    return sign(secret, f"{ts}GET{LOGIN_PATH}")


def signature_ok(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def parse_iso_ms(text: str) -> float:
    """``2020-12-08T09:08:57.715Z`` -> epoch seconds; ``ValueError`` if it is not that shape."""
    if not text.endswith("Z") or "T" not in text:
        raise ValueError(f"not an ISO 8601 UTC timestamp: {text!r}")
    return datetime.fromisoformat(text[:-1] + "+00:00").timestamp()
