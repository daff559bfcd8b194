"""Parameter grids for sweeps: ``fast=5:50:5 slow=20:200:10`` with constraints like ``fast<slow``.

An axis is ``name=start:stop:step`` (both ends included; ``start:stop`` steps by 1; decimal
steps are exact: ``0.1:0.3:0.1`` is 0.1, 0.2, 0.3), ``name=a,b,c`` (a list of values: numbers,
true/false, words) or ``name=value``. A constraint compares two parameters, or a parameter
and a number, with ``<``, ``<=``, ``>``, ``>=``, ``==`` or ``!=``.

Combinations are numbered in the order of the axes as given, the last axis fastest (as
``itertools.product``), before constraints; a combination keeps that number whatever else is
chosen, so results can be compared and merged across runs. They are generated lazily: a grid
of a million combinations costs no memory until it is run.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from desk.backtest.config import BacktestError
from desk.backtest.run import make_strategy, parameter_names, parse_value

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_CONSTRAINT = re.compile(
    r"^\s*([A-Za-z_][\w.]*|-?[\d.]+)\s*(<=|>=|==|!=|<|>)\s*([A-Za-z_][\w.]*|-?[\d.]+)\s*$"
)
MAX_AXIS = 1_000_000


@dataclass(frozen=True)
class Constraint:
    """``left op right``; each side a parameter name or a number."""

    left: str
    op: str
    right: str

    def __str__(self) -> str:
        return f"{self.left}{self.op}{self.right}"

    def _value(self, side: str, params: Mapping[str, Any]) -> Any:
        return params[side] if side in params else parse_value(side)

    def holds(self, params: Mapping[str, Any]) -> bool:
        return OPS[self.op](self._value(self.left, params), self._value(self.right, params))


def parse_constraint(text: str) -> Constraint:
    m = _CONSTRAINT.match(text)
    if m is None:
        raise BacktestError(
            f"bad constraint {text!r}: expected e.g. fast<slow or n>=5 (operators {', '.join(OPS)})"
        )
    return Constraint(m.group(1), m.group(2), m.group(3))


def _range_values(name: str, spec: str) -> list[Any]:
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise BacktestError(f"{name}: a range is start:stop or start:stop:step, got {spec!r}")
    try:
        start, stop = Decimal(parts[0]), Decimal(parts[1])
        step = Decimal(parts[2]) if len(parts) == 3 else Decimal(1)
    except InvalidOperation:
        raise BacktestError(f"{name}: range {spec!r} is not numbers") from None
    if not step > 0:
        raise BacktestError(f"{name}: the step of {spec!r} must be > 0")
    if stop < start:
        raise BacktestError(f"{name}: the range {spec!r} is empty (stop below start)")
    count = int((stop - start) // step) + 1
    if count > MAX_AXIS:
        raise BacktestError(f"{name}: {spec!r} has {count:,} values (at most {MAX_AXIS:,})")
    integral = all(x == x.to_integral_value() for x in (start, step))
    values = [start + k * step for k in range(count)]
    return [int(v) for v in values] if integral else [float(v) for v in values]


def parse_axis(text: str) -> tuple[str, list[Any]]:
    name, eq, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not eq or not name or not spec:
        raise BacktestError(f"bad grid entry {text!r}: expected name=start:stop:step or name=a,b")
    if ":" in spec and spec[:1] not in "[{":
        return name, _range_values(name, spec)
    values = [parse_value(v) for v in spec.split(",") if v.strip()]
    if not values:
        raise BacktestError(f"{name}: no values in {text!r}")
    return name, values


@dataclass(frozen=True)
class Grid:
    """Axes (name -> values, in order) and the constraints every combination must meet."""

    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    constraints: tuple[Constraint, ...] = ()

    @classmethod
    def parse(cls, entries: Sequence[str], constraints: Sequence[str] = ()) -> Grid:
        """From ``--grid`` entries (constraints may be among them) and ``--constraint`` ones."""
        axes: dict[str, tuple[Any, ...]] = {}
        cons = [parse_constraint(c) for c in constraints]
        for entry in entries:
            for token in entry.split():
                if _CONSTRAINT.match(token) and not re.match(r"^\s*[\w.]+=[^=]", token):
                    cons.append(parse_constraint(token))
                    continue
                name, values = parse_axis(token)
                if name in axes:
                    raise BacktestError(f"parameter {name!r} is given twice in the grid")
                axes[name] = tuple(values)
        if not axes:
            raise BacktestError("the grid names no parameter (e.g. --grid fast=5:50:5)")
        return cls(tuple(axes.items()), tuple(cons))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.axes)

    @property
    def total(self) -> int:
        """Combinations before constraints."""
        return math.prod(len(v) for _, v in self.axes)

    def spec(self) -> dict[str, Any]:
        return {
            "axes": {name: list(values) for name, values in self.axes},
            "constraints": [str(c) for c in self.constraints],
        }

    def params(self, index: int) -> dict[str, Any]:
        """The combination numbered ``index`` (before constraints)."""
        out: dict[str, Any] = {}
        for name, values in reversed(self.axes):
            index, k = divmod(index, len(values))
            out[name] = values[k]
        return dict(reversed(list(out.items())))

    def allowed(self, params: Mapping[str, Any]) -> bool:
        return all(c.holds(params) for c in self.constraints)

    def check(self, strategy: str, base: Mapping[str, Any] | None = None) -> None:
        """Every name is a parameter of ``strategy`` and every constraint names known ones."""
        known = set(parameter_names(strategy))
        for name in self.names:
            if name not in known:
                raise BacktestError(
                    f"{strategy} has no parameter {name!r}; it takes: {', '.join(sorted(known))}"
                )
        for c in self.constraints:
            for side in (c.left, c.right):
                if side[:1].isalpha() or side[:1] == "_":
                    if side not in known:
                        raise BacktestError(f"constraint {c}: {strategy} has no parameter {side!r}")
                    if side not in self.names and side not in (base or {}):
                        raise BacktestError(
                            f"constraint {c}: {side!r} is not in the grid (nor in --params)"
                        )

    def indices(
        self,
        strategy: str,
        base: Mapping[str, Any] | None = None,
        *,
        sample: int | None = None,
        seed: int = 0,
    ) -> np.ndarray:
        """Numbers of the combinations to run, ascending: all that meet the constraints, or
        ``sample`` of them drawn at random (``seed``) for a random search.

        Each kept combination is validated by the strategy; BacktestError names the first
        that it refuses, or says when no combination is left.
        """
        self.check(strategy, base)
        kept = np.fromiter(self._valid(strategy, base or {}), dtype=np.int64)
        if len(kept) == 0:
            raise BacktestError(
                f"the grid has no combination that meets the constraints "
                f"({', '.join(map(str, self.constraints)) or 'none'}) out of {self.total:,}"
            )
        if sample is not None:
            if sample < 1:
                raise BacktestError(f"a random search needs at least 1 sample, got {sample}")
            if sample < len(kept):
                rng = np.random.default_rng(seed)
                kept = np.sort(rng.choice(kept, size=sample, replace=False))
        return kept

    def _valid(self, strategy: str, base: Mapping[str, Any]) -> Iterator[int]:
        for index in range(self.total):
            combo = {**base, **self.params(index)}
            if not self.allowed(combo):
                continue
            try:
                make_strategy(strategy, combo)
            except BacktestError as exc:
                raise BacktestError(
                    f"combination {self.params(index)} is refused: {exc}; "
                    "add a constraint (e.g. --constraint 'fast<slow') to leave such out"
                ) from None
            yield index
