"""Speed of a preset's own training step, and what a ``--set`` lever changes about it.

``throughput.py`` measures full-width networks at the full image size; the default
``byolbench run`` trains the quick preset's half-width resnet10t on 24 px views. This script
runs byolbench's real ``Trainer`` on the CPU with a preset's recipe (fixed steps instead of
its time budget, views at their final side: progressive resizing off) once as it is and once
per ``--set`` lever, each in a fresh process, one after the other, and prints per row: the
seconds until the first timed step (model build, warm-up and any ``torch.compile``
compilation), the median step time and images/s of the timed steps, the step's FLOPs against
the bf16 (or fp32) matmul peak measured in the same process (MFU), and per step the process's
CPU time (user and system, all threads) and minor page faults, which a shared machine's noise
moves far less than the wall clock. ``--repeat N`` measures the whole list N times in turn.

    python benchmarks/preset_step.py                                   # quick preset as it is
    python benchmarks/preset_step.py --set train.compile=true --set train.batch_size=32
    python benchmarks/preset_step.py --set train.reuse_freed_memory=false --repeat 3
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _step_worker(args: dict[str, Any]) -> dict[str, Any]:
    """Times ``args["steps"]`` trainer steps of the preset plus ``args["override"]``."""
    from bench_lib.data import training_images
    from bench_lib.measure import byol_step_flops_and_peak, median

    from byolbench.bench.presets import preset_overrides
    from byolbench.config import RunConfig, parse_overrides
    from byolbench.train.accel import make_accelerator
    from byolbench.train.trainer import Trainer, image_size_for, view_side_for

    overrides = {
        **preset_overrides(args["preset"]),
        "train.time_budget": "",
        "train.epochs": 1000,
        "train.max_steps": args["warmup"] + args["steps"] + 1,
        "train.log_every": 1_000_000,
        "augment.progressive_min_size": 0,
        **parse_overrides([args["override"]] if args["override"] else []),
    }
    config = RunConfig().replace(overrides)
    splits = training_images(10_000)
    accelerator = make_accelerator(config.train.mixed_precision, cpu=True)
    ticks: list[float] = []
    usage: list[resource.struct_rusage] = []

    def on_step(*_: Any) -> None:
        ticks.append(time.perf_counter())
        usage.append(resource.getrusage(resource.RUSAGE_SELF))

    started = time.perf_counter()
    trainer = Trainer(config, splits, accelerator, None, on_step=on_step)
    result = trainer.fit()
    timed = ticks[args["warmup"] :]
    step_seconds = median([b - a for a, b in zip(timed, timed[1:], strict=False)])
    first, last = usage[args["warmup"]], usage[-1]
    steps = len(usage) - 1 - args["warmup"]
    cpu_seconds = (last.ru_utime + last.ru_stime) - (first.ru_utime + first.ru_stime)
    side = view_side_for(config.augment.view_size_fraction, image_size_for(config, splits))
    batch = config.train.batch_size
    flops, peak = byol_step_flops_and_peak(
        result.model, accelerator, batch, side, config.model.channels_last
    )
    return {
        "lever": args["override"] or "as the preset sets it",
        "view": f"{side} px, batch {batch}",
        "first_timed_step_s": ticks[args["warmup"]] - started,
        "step_ms": 1000 * step_seconds,
        "images_per_second": batch / step_seconds,
        "mfu": flops / step_seconds / peak,
        "peak_tflops": peak / 1e12,
        "cpu_ms": 1000 * cpu_seconds / steps,
        "system_ms": 1000 * (last.ru_stime - first.ru_stime) / steps,
        "page_faults": (last.ru_minflt - first.ru_minflt) / steps,
    }


def main() -> None:
    """Measures the preset as it is, then each ``--set`` lever, and prints one table."""
    from bench_lib.isolated import run_isolated
    from bench_lib.measure import cpu_kind

    from byolbench.bench.presets import PRESETS, preset_overrides
    from byolbench.config import RunConfig, parse_overrides
    from byolbench.errors import ConfigError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=sorted(PRESETS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--steps", type=int, default=40, help="timed steps")
    parser.add_argument("--repeat", type=int, default=1, help="times to measure every row")
    args = parser.parse_args()
    try:
        for item in args.set:  # a bad key or value stops here, before anything trains
            RunConfig().replace({**preset_overrides(args.preset), **parse_overrides([item])})
        if args.warmup < 1 or args.steps < 2 or args.repeat < 1:
            raise ConfigError(
                f"--warmup {args.warmup} --steps {args.steps} --repeat {args.repeat}: need "
                ">= 1, >= 2 and >= 1"
            )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"cpu: {cpu_kind()}; preset {args.preset}, {args.steps} timed steps after {args.warmup}")
    print(
        "| lever | views | s to first timed step | step ms | images/s | MFU (peak TFLOP/s) "
        "| CPU ms per step (system) | page faults per step |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for _ in range(args.repeat):
        for override in ["", *args.set]:
            job = {"preset": args.preset, "override": override}
            row = run_isolated(_step_worker, {**job, "warmup": args.warmup, "steps": args.steps})
            print(
                f"| {row['lever']} | {row['view']} | {row['first_timed_step_s']:.1f} "
                f"| {row['step_ms']:.1f} | {row['images_per_second']:.1f} "
                f"| {row['mfu']:.0%} ({row['peak_tflops']:.2f}) "
                f"| {row['cpu_ms']:.0f} ({row['system_ms']:.1f}) | {row['page_faults']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
