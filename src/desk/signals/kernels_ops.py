"""Machine operations numba does not offer, for the kernels of :mod:`desk.signals.kernels`.

* :func:`exact_div`: ``t / d`` for a divisor known in advance, correctly rounded (the very
  double ``/`` gives), from a multiply and two fused multiply-adds instead of a division. A
  division is one instruction but the divider takes 4 cycles per scalar and 2 per vector lane,
  where these three operations pipeline at well under one cycle per lane: the rolling windows
  divide every value (Welford's ``d / k``, the slide's ``(v - y) / n``), and this is most of
  what they cost. Same numbers as ``/``, so the live updaters, which divide, stay equal bit for
  bit. The fused multiply-add is ``llvm.fma``: always fused, rounded once, on every CPU (in
  software where the CPU has none), unlike the contraction ``fastmath`` allows, which the
  compiler may or may not apply.
* :func:`prefetch` and :func:`prefetch_write`: hints to bring a value into cache, to be read or
  written. The recursive kernels wait on one chain of dependent operations per bar; while they
  wait, the processor's out-of-order window fills with that chain, so loads of bars further on
  (and the reads for ownership of the output lines stored to) are not issued early enough to
  hide the memory's latency, and streaming 10M bars from memory ran at up to half the speed of
  the same loop over data in cache. Asking a few KiB ahead restores it. The rolling windows
  prefetch the next chunk while they slide the current one.

Why :func:`exact_div` is exact. With r = RN(1/d) (|1 - d r| <= 2**-53), q0 = RN(t r) is within
1.5 ulp of t/d, the remainder t - d q0 is then a double (an integer multiple of ulp(q0) below
2**53 for d < 2**51), so the inner fused multiply-add gives it exactly, and q0 + (t - d q0) r
= t/d - (1 - d r)(t/d - q0) is within 1.5 * 2**-53 ulp of t/d. A quotient t/d of doubles, d an
integer, is never a tie in the normal range and lies at least ulp/(2d) from every tie, so for
d < 2**49 both round to the same double. That needs t, q0 and the remainder in the normal
range and t finite: t = 0 (whose quotient may come out +0 for -0, which added to a sum that
started at +0 changes nothing) or a magnitude in [2**-900, 2**900], with d < 2**48.

The kernels divide only differences of values :func:`count_unsafe` passed (0, or magnitudes in
[2**-500, 2**500]; other chunks divide with ``/``), and those are in range. A slide's v - y: both
are multiples of 2**-552, so the difference is 0 or at least that, and at most 2**501. A Welford
step's d = x - m (m the running mean of such values): if x != 0 and |m| <= |x|/2, |d| >= 2**-501;
if both exceed 2**-501 they are multiples of 2**-553; if x = 0, d = -m. And m, where it is not
0, stays above about 2**-750: it can fall below 2**-600 only by a cancellation of two doubles
above 2**-650 (a multiple of 2**-702), and below that it only shrinks by the factor (k-1)/k of
steps with x = 0 (at most 2**-48 over any block), since a nonzero x (above 2**-500) pushes it
back up. Verified against ``/`` on 1.5e9 random dividends as well."""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

JIT_OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True}
"""What every kernel of desk compiles with (see :mod:`desk.signals.kernels`)."""
_JIT = JIT_OPTIONS

AHEAD = 512
"""How many values ahead of the one in use the recursive kernels :func:`prefetch` (4 KiB)."""
SAFE_LOW = 2.0**-900
SAFE_HIGH = 2.0**900
"""Magnitudes (besides 0) of a dividend t for which :func:`exact_div` is proven exact."""
VALUE_LOW = 2.0**-500
VALUE_HIGH = 2.0**500
"""Magnitudes (besides 0) of input values whose differences are such dividends."""


@intrinsic
def fma(typingctx: Any, a: Any, b: Any, c: Any) -> Any:
    """a * b + c, rounded once (``llvm.fma.f64``)."""
    if not all(isinstance(t, types.Float) for t in (a, b, c)):
        return None
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        f64 = ir.DoubleType()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(f64, [f64, f64, f64]), "llvm.fma.f64"
        )
        pairs = zip(args, signature.args, strict=True)
        values = [context.cast(builder, v, t, types.float64) for v, t in pairs]
        return builder.call(fn, values)

    return sig, codegen


def _prefetch(write: int) -> Any:
    @intrinsic
    def hint(typingctx: Any, arr: Any, index: Any) -> Any:
        if not isinstance(arr, types.Array) or not isinstance(index, types.Integer):
            return None
        sig = types.void(arr, index)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(
                context, builder, aryty, ary, [args[1]], wraparound=False, boundscheck=False
            )
            i32 = ir.IntType(32)
            i8p = ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            # (read or write, keep in all cache levels, data cache)
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(write), i32(3), i32(1)])
            return context.get_dummy_value()

        return sig, codegen

    return hint


prefetch = _prefetch(0)
"""prefetch(arr, index): hint that arr[index] will be read soon (no effect on values; any index
is allowed)."""
prefetch_write = _prefetch(1)
"""prefetch_write(arr, index): hint that arr[index] will be written soon."""


@njit(**_JIT)
def exact_div(t, d, r):
    """t / d correctly rounded, given r = 1.0 / d, for t = 0 or of a magnitude in
    [SAFE_LOW, SAFE_HIGH] and an integer d < 2**48."""
    q = t * r
    return fma(fma(-q, d, t), r, q)


@njit(**_JIT)
def count_unsafe(x):
    """How many values of x are neither 0 nor of a magnitude in [2**-500, 2**500] (NaN and
    infinities included). Where there are none, every difference v - y of two of them is 0 or
    of a magnitude in [2**-552, 2**501] (both are multiples of 2**-552), so :func:`unsafe` of
    it is 0: a window sliding over them may use :func:`exact_div` without testing each."""
    bad = 0
    for j in range(x.shape[0]):
        a = abs(x[j])
        bad += 1 - ((a == 0.0) | ((a >= VALUE_LOW) & (a <= VALUE_HIGH)))
    return bad
