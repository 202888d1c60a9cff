"""Reads ``ONEDNN_VERBOSE=1`` output: time and FLOP rate of each convolution kernel.

oneDNN prints one ``onednn_verbose,v1,primitive,exec,cpu,convolution,<impl>,<pass>,<formats>,
<attrs>,<alg>,<shape>,<ms>`` line per executed primitive; the shape reads like
``mb64_ic64oc64_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SHAPE_FIELD = re.compile(r"([a-z]+)(\d+)")


@dataclass
class KernelTotal:
    """All executions of one convolution kernel on one shape and pass."""

    impl: str
    pass_: str
    shape: str
    calls: int = 0
    milliseconds: float = 0.0
    flop_per_call: float = 0.0

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s over all calls."""
        return self.flop_per_call * self.calls / max(self.milliseconds, 1e-9) / 1e6


def convolution_flop(shape: str) -> float:
    """Multiply-add FLOPs (2 per MAC) of one convolution of the given oneDNN shape string."""
    fields: dict[str, int] = {}
    for key, value in SHAPE_FIELD.findall(shape):
        fields.setdefault(key, int(value))
    groups = fields.get("g", 1)
    out_h = fields.get("oh", fields.get("ih", 1))
    out_w = fields.get("ow", out_h)
    kernel_h = fields.get("kh", 1)
    kernel_w = fields.get("kw", kernel_h)
    return (
        2.0
        * fields["mb"]
        * fields["ic"]
        * fields["oc"]
        / groups
        * out_h
        * out_w
        * kernel_h
        * kernel_w
    )


def convolution_totals(lines: Iterable[str]) -> list[KernelTotal]:
    """Sums the executed convolutions per (implementation, pass, shape), slowest first."""
    totals: dict[tuple[str, str, str], KernelTotal] = {}
    for line in lines:
        parts = line.strip().split(",")
        if len(parts) < 10 or parts[0] != "onednn_verbose" or "exec" not in parts[:4]:
            continue
        start = parts.index("exec")
        if parts[start + 2] != "convolution":
            continue
        impl, pass_ = parts[start + 3], parts[start + 4]
        shape, ms = parts[-2], parts[-1]
        try:
            milliseconds = float(ms)
        except ValueError:
            continue
        key = (impl, pass_, shape)
        if key not in totals:
            totals[key] = KernelTotal(impl, pass_, shape, flop_per_call=convolution_flop(shape))
        totals[key].calls += 1
        totals[key].milliseconds += milliseconds
    return sorted(totals.values(), key=lambda t: -t.milliseconds)
