"""Simulated OKX trading accounts: API credentials, balances, holds and fee rates.

One account per API key. Balances are exact ``Decimal`` amounts per currency, split into
*available* and *frozen* (held by open orders), as OKX's ``/account/balance`` reports them.

Holds: a buy order freezes ``px * sz`` of the quote currency (a market buy freezes its
estimated cost), a sell order freezes ``sz`` of the base currency. Each fill consumes part of
the order's hold; what is left when the order ends is released.

Fees are charged as on OKX spot, in the currency the order receives: a buyer pays
``size * rate`` in the **base** currency (it receives ``size - fee``), a seller pays
``notional * rate`` in the **quote** currency. Rates are positive fractions; the wire reports
fees as negative amounts (``fillFee`` "-0.06" = 0.06 charged) with ``fillFeeCcy``/``feeCcy``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class SimCredentials:
    """An API key as OKX issues it: key, secret (HMAC key) and passphrase."""

    api_key: str
    secret: str
    passphrase: str

    def __repr__(self) -> str:
        return f"SimCredentials(api_key={self.api_key!r}, secret='***', passphrase='***')"


SIM_CREDENTIALS = SimCredentials("sim-api-key", "sim-secret", "sim-passphrase")
"""The demo key every simulator accepts unless ``accounts=`` says otherwise."""

DEFAULT_BALANCES: Mapping[str, str] = {"USDT": "100000", "BTC": "1", "ETH": "10", "SOL": "100"}
DEFAULT_MAKER_FEE = Decimal("0.0008")
DEFAULT_TAKER_FEE = Decimal("0.001")


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """How to open one simulated account: its key, starting balances and fee rates."""

    credentials: SimCredentials = SIM_CREDENTIALS
    balances: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_BALANCES))
    maker_fee: Decimal = DEFAULT_MAKER_FEE
    taker_fee: Decimal = DEFAULT_TAKER_FEE

    def __post_init__(self) -> None:
        for name in ("maker_fee", "taker_fee"):
            rate = getattr(self, name)
            if not isinstance(rate, Decimal) or not rate.is_finite() or not 0 <= rate < 1:
                raise ValueError(f"{name} must be a Decimal in [0, 1), got {rate!r}")
        for ccy, amount in self.balances.items():
            if Decimal(amount) < 0:
                raise ValueError(f"balance of {ccy} must not be negative, got {amount!r}")


class InsufficientBalance(Exception):
    def __init__(self, ccy: str) -> None:
        super().__init__(f"Order failed. Insufficient {ccy} balance in account.")
        self.ccy = ccy


class Account:
    """One account's live balances (available and frozen) and fee rates."""

    def __init__(self, spec: AccountSpec) -> None:
        self.credentials = spec.credentials
        self.maker_fee = spec.maker_fee
        self.taker_fee = spec.taker_fee
        self.available: dict[str, Decimal] = {c: Decimal(a) for c, a in spec.balances.items()}
        self.frozen: dict[str, Decimal] = {c: ZERO for c in self.available}

    @property
    def api_key(self) -> str:
        return self.credentials.api_key

    @property
    def max_fee(self) -> Decimal:
        return max(self.maker_fee, self.taker_fee)

    def hold(self, ccy: str, amount: Decimal) -> None:
        """Freeze ``amount`` of ``ccy``; ``InsufficientBalance`` if not available."""
        if self.available.get(ccy, ZERO) < amount:
            raise InsufficientBalance(ccy)
        self.available[ccy] -= amount
        self.frozen[ccy] = self.frozen.get(ccy, ZERO) + amount

    def release(self, ccy: str, amount: Decimal) -> None:
        """Unfreeze ``amount`` of ``ccy`` back to available."""
        self.frozen[ccy] = self.frozen.get(ccy, ZERO) - amount
        self.available[ccy] = self.available.get(ccy, ZERO) + amount

    def consume(self, ccy: str, amount: Decimal) -> None:
        """Spend ``amount`` of frozen ``ccy`` (a fill paid out of an order's hold)."""
        self.frozen[ccy] = self.frozen.get(ccy, ZERO) - amount

    def credit(self, ccy: str, amount: Decimal) -> None:
        self.available[ccy] = self.available.get(ccy, ZERO) + amount

    def currencies(self) -> list[str]:
        return sorted(set(self.available) | set(self.frozen))


def open_accounts(specs: Iterable[AccountSpec]) -> dict[str, Account]:
    """API key -> account; refuses two accounts with the same key."""
    accounts: dict[str, Account] = {}
    for spec in specs:
        key = spec.credentials.api_key
        if key in accounts:
            raise ValueError(f"two simulated accounts share the API key {key!r}")
        accounts[key] = Account(spec)
    return accounts
