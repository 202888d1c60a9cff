"""Where the BYOL training step's time goes on a CPU: ops, and oneDNN convolution kernels.

Runs byolbench's real ``Trainer`` step (the same configuration as ``throughput.py``) twice, each
in a fresh process:

1. under ``torch.profiler``: the step rate and the ops that take the most time;
2. with ``ONEDNN_VERBOSE=1``: every convolution kernel oneDNN ran, summed per shape and pass
   (forward, backward data, backward weights), with its implementation (``avx512_core_amx`` /
   ``avx10_1_512_amx``: AMX tiles; ``avx512_core_bf16``: AVX-512 BF16) and its achieved
   GFLOP/s beside the bf16 matmul rate measured in the same process.

    python benchmarks/profile_step.py                       # resnet18 at 32 px, batch 64
    python benchmarks/profile_step.py --model resnet10t --steps 10
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from throughput import MODELS  # noqa: E402

WARMUP_STEPS = 4


def _trainer(model: str, batch_size: int, steps: int, on_step: Any) -> Any:
    """byolbench's trainer for ``steps`` steps of ``model`` (throughput.py's configuration)."""
    from bench_lib.data import training_images
    from throughput import _config

    from byolbench.train.accel import make_accelerator
    from byolbench.train.trainer import Trainer

    backbone, size = MODELS[model]
    args = {"backbone": backbone, "image_size": size, "batch_size": batch_size, "precision": "auto"}
    accelerator = make_accelerator("auto", cpu=True)
    config = _config(args, steps, {})  # the default lever row: the preset as it is
    return Trainer(config, training_images(10_000), accelerator, None, on_step=on_step)


def profile_ops(model: str, batch_size: int, steps: int, rows: int) -> None:
    """Prints the step rate and the top ops by self CPU time over the steps after warm-up."""
    from torch.profiler import ProfilerActivity, profile, schedule

    active = steps - WARMUP_STEPS - 1
    profiler = profile(
        activities=[ProfilerActivity.CPU],
        schedule=schedule(wait=WARMUP_STEPS, warmup=1, active=active),
    )
    times: list[float] = []

    def on_step(step: int, total: int) -> None:
        times.append(time.perf_counter())
        profiler.step()

    profiler.start()
    _trainer(model, batch_size, steps, on_step).fit()
    profiler.stop()
    seconds = sorted(b - a for a, b in pairwise(times[WARMUP_STEPS:]))
    step = seconds[len(seconds) // 2]
    print(
        f"{model}, batch {batch_size}: {step:.3f} s per step (median, under the profiler), "
        f"{batch_size / step:.1f} images/s\n"
    )
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def kernel_child(model: str, batch_size: int, steps: int) -> None:
    """Runs the steps (oneDNN verbose is on in this process) and prints the matmul peak."""
    import torch
    from bench_lib.measure import matmul_peak

    _trainer(model, batch_size, steps, lambda step, total: None).fit()
    peak = matmul_peak(torch.device("cpu"), torch.bfloat16)
    print(f"MATMUL_PEAK_GFLOPS {peak / 1e9:.1f}", flush=True)


def profile_kernels(model: str, batch_size: int, steps: int, rows: int) -> None:
    """Prints the convolution kernels oneDNN ran, slowest total first."""
    from bench_lib.onednn import convolution_totals

    command = [
        sys.executable,
        __file__,
        "--model",
        model,
        "--batch-size",
        str(batch_size),
        "--steps",
        str(steps),
        "--kernel-child",
    ]
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"the oneDNN verbose run failed:\n{run.stderr[-2000:]}")
    lines = run.stdout.splitlines()
    peak = next((float(x.split()[1]) for x in lines if x.startswith("MATMUL_PEAK_GFLOPS")), 0.0)
    totals = convolution_totals(lines)
    if not totals:
        print("oneDNN ran no convolutions (not a convnet, or torch does not use oneDNN here)")
        return
    all_ms = sum(t.milliseconds for t in totals)
    print(
        f"\noneDNN convolutions over {steps} steps: {all_ms / 1e3:.2f} s in all; bf16 matmul "
        f"peak in the same process {peak:.0f} GFLOP/s\n"
    )
    print("| share | ms per step | GFLOP/s | of peak | pass | shape | implementation |")
    print("|---|---|---|---|---|---|---|")
    for t in totals[:rows]:
        of_peak = f"{100 * t.gflops / peak:.0f}%" if peak else "-"
        print(
            f"| {100 * t.milliseconds / all_ms:.1f}% | {t.milliseconds / steps:.1f} | "
            f"{t.gflops:.0f} | {of_peak} | {t.pass_} | {t.shape} | {t.impl} |"
        )


def main() -> None:
    """Parses the options and runs both profiles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--steps", type=int, default=12, help=f"steps (first {WARMUP_STEPS} untimed)"
    )
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--kernel-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model not in MODELS:
        parser.error(f"--model {args.model!r} is not one of {', '.join(MODELS)}")
    if args.steps < WARMUP_STEPS + 3:
        parser.error(f"--steps {args.steps} is too few: at least {WARMUP_STEPS + 3}")
    if args.kernel_child:
        kernel_child(args.model, args.batch_size, args.steps)
        return
    profile_ops(args.model, args.batch_size, args.steps, args.rows)
    profile_kernels(args.model, args.batch_size, args.steps, args.rows)


if __name__ == "__main__":
    main()
