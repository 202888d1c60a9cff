"""benchmarks/bench_lib/onednn.py sums oneDNN's verbose convolution lines correctly."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_lib.onednn import convolution_flop, convolution_totals  # noqa: E402

SHAPE = "mb64_ic512oc512_ih4oh4kh3sh1dh0ph1_iw4ow4kw3sw1dw0pw1"
LINE = (
    "onednn_verbose,v1,primitive,exec,cpu,convolution,brgconv_bwd_w:avx10_1_512_amx,"
    "backward_weights,src:bf16::blocked:acdb::f0 wei:bf16:a:blocked:ABcd16b16a2b::f0,"
    "attr-scratchpad:user,alg:convolution_direct,{shape},{ms}"
)


def test_flop_of_a_3x3_convolution():
    assert convolution_flop(SHAPE) == 2 * 64 * 512 * 512 * 4 * 4 * 9
    assert (
        convolution_flop("mb2_g2ic4oc4_ih8oh4kh1sh2dh0ph0_iw8ow4kw1sw2dw0pw0") == 2 * 2 * 4 * 2 * 16
    )


def test_totals_per_kernel_slowest_first():
    lines = [
        LINE.format(shape=SHAPE, ms="18.0"),
        LINE.format(shape=SHAPE, ms="2.0"),
        LINE.format(shape=SHAPE.replace("ic512oc512", "ic64oc64"), ms="1.0"),
        "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src dst,,64x3x3x3,0.01",
        "not a verbose line",
    ]
    first, second = convolution_totals(lines)
    assert (first.calls, first.milliseconds, first.pass_) == (2, 20.0, "backward_weights")
    assert first.impl.endswith("amx") and second.calls == 1
    assert abs(first.gflops - 2 * convolution_flop(SHAPE) / 20.0 / 1e6) < 1e-6
