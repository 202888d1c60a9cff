"""BYOL training-step throughput: byolbench vs the Lightly SSL reference, and FLOP utilisation.

For each model (resnet18 at 32 px with the CIFAR stem, vit_tiny at 32 px, resnet50 at 64 px)
and one batch size, in one run:

* byolbench: the real ``Trainer`` step (augmentation on the device from the in-memory uint8
  dataset, forward/backward, LARS, fused EMA), images/s as the median of timed windows after
  warm-up, and peak memory;
* lightly: the same BYOL step as Lightly documents it (its heads, loss, momentum update and
  BYOL transforms in DataLoader workers, fp32), same backbone, batch and device;
* MFU: FLOPs of one byolbench step (torch.utils.flop_counter) / step time / the matmul peak
  measured in this run in the step's dtype.

Each measurement runs in a fresh process (isolated memory and threads). Prints one table and
writes it as CSV and Markdown to benchmarks/results/.

    pip install -e ".[bench]"
    python benchmarks/throughput.py                      # CPU, all three models
    python benchmarks/throughput.py --device cuda --batch-size 512
    python benchmarks/throughput.py --models resnet18 --levers   # what each lever gives
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_lib.isolated import run_isolated  # noqa: E402

MODELS = {
    "resnet18": ("resnet18", 32),
    "resnet10t": ("resnet10t", 32),
    "vit_tiny": ("vit_tiny", 32),
    "resnet50": ("resnet50", 64),
}
LEVERS = (
    "default",
    "no-bf16",
    "no-channels-last",
    "no-gemm-convs",
    "no-freed-memory-reuse",
    "unfused-ema",
    "sync-every-step",
    "compile",
)
# The levers that are a configuration setting (the others patch the library: _apply_variant).
LEVER_SETTINGS: dict[str, dict[str, Any]] = {
    "no-channels-last": {"model.channels_last": False},
    "no-gemm-convs": {"train.gemm_convs": False},
    "no-freed-memory-reuse": {"train.reuse_freed_memory": False},
    "compile": {"train.compile": True},
}


def _byolbench_worker(args: dict[str, Any]) -> dict[str, Any]:
    import torch
    from bench_lib.data import training_images
    from bench_lib.measure import (
        StepClock,
        byol_step_flops_and_peak,
        median,
        peak_memory_mb,
        synchronize,
    )

    from byolbench.train.accel import make_accelerator
    from byolbench.train.trainer import Trainer

    torch.set_num_threads(args["threads"]) if args["threads"] else None
    variant = args["variant"]
    _apply_variant(variant)
    precision = "no" if variant == "no-bf16" else args["precision"]
    accelerator = make_accelerator(precision, cpu=args["device"] == "cpu")
    device = accelerator.device
    splits = training_images(args["images"])
    steps = args["warmup"] + args["window"] * args["windows"] + 1
    config = _config(args, steps, LEVER_SETTINGS.get(variant, {}))
    clock = StepClock()

    def on_step(step: int, total: int) -> None:
        if step % args["window"] == 0 or step <= args["warmup"] + 1:
            synchronize(device)
        clock.tick()

    trainer = Trainer(config, splits, accelerator, None, on_step=on_step)
    result = trainer.fit()
    rates = clock.window_rates(args["batch_size"], args["warmup"], args["window"])
    images_per_second = median(rates)

    flops, peak = byol_step_flops_and_peak(
        result.model,
        accelerator,
        args["batch_size"],
        args["image_size"],
        config.model.channels_last,
    )
    step_seconds = args["batch_size"] / images_per_second
    return {
        "impl": "byolbench" if variant == "default" else f"byolbench ({variant})",
        "images_per_second": images_per_second,
        "window_rates": rates,
        "peak_memory_mb": peak_memory_mb(device),
        "precision": accelerator.mixed_precision,
        "step_tflop": flops / 1e12,
        "mfu": flops / step_seconds / peak,
        "matmul_peak_tflops": peak / 1e12,
    }


def _lightly_worker(args: dict[str, Any]) -> dict[str, Any]:
    import torch
    from bench_lib.data import training_images
    from bench_lib.measure import StepClock, median, peak_memory_mb
    from bench_lib.peer_lightly import LightlyBYOL, lightly_loader, run_lightly_steps

    from byolbench.models.backbone import backbone_spec, create_backbone

    torch.set_num_threads(args["threads"]) if args["threads"] else None
    device = torch.device(args["device"] if args["device"] != "cuda" else "cuda:0")
    splits = training_images(args["images"])
    torch.manual_seed(0)
    backbone = create_backbone(args["backbone"], args["image_size"])
    model = LightlyBYOL(backbone, backbone_spec(backbone).num_features).to(device)
    loader = lightly_loader(
        splits.pretrain.images,
        args["image_size"],
        splits.info.mean,
        splits.info.std,
        args["batch_size"],
        args["workers"],
    )
    clock = StepClock()
    steps = args["warmup"] + args["window"] * args["windows"] + 1
    run_lightly_steps(model, loader, device, steps, clock.tick)
    rates = clock.window_rates(args["batch_size"], args["warmup"], args["window"])
    return {
        "impl": "lightly (reference)",
        "images_per_second": median(rates),
        "window_rates": rates,
        "peak_memory_mb": peak_memory_mb(device),
        "precision": "fp32",
        "step_tflop": float("nan"),
        "mfu": float("nan"),
        "matmul_peak_tflops": float("nan"),
    }


def _apply_variant(variant: str) -> None:
    """Turns one performance lever off (or compile on) by patching the library."""
    import torch

    if variant == "unfused-ema":
        from byolbench.byol import model as byol_model

        def loop_ema(target: Any, online: Any, tau: float) -> None:
            with torch.no_grad():
                for t, o in zip(target, online, strict=True):
                    t.mul_(tau).add_(o, alpha=1 - tau)

        byol_model.ema_update_ = loop_ema
    elif variant == "sync-every-step":
        from byolbench.train import metrics

        original = metrics.DeviceMeter.add

        def syncing_add(self: Any, loss: Any, std: Any) -> None:
            loss.item()
            original(self, loss, std)

        metrics.DeviceMeter.add = syncing_add


def _config(args: dict[str, Any], steps: int, lever: dict[str, Any]) -> Any:
    """The standard preset at the measured size, with one lever's settings on top."""
    from byolbench.bench.presets import preset_overrides
    from byolbench.config import RunConfig

    overrides = {
        **preset_overrides("standard"),
        "model.backbone": args["backbone"],
        "data.image_size": args["image_size"],
        "train.batch_size": args["batch_size"],
        "train.epochs": 1000,
        "train.max_steps": steps,
        "train.log_every": 1_000_000,
        "train.mixed_precision": args["precision"],
        **lever,
    }
    return RunConfig().replace(overrides)


def _environment(device: str, precision: str) -> dict[str, str]:
    import platform

    import accelerate
    import timm
    import torch
    from bench_lib.measure import cpu_kind

    import byolbench

    try:
        import lightly

        lightly_version = lightly.__version__
    except ImportError:
        lightly_version = "not installed"
    if device == "cuda":
        name = torch.cuda.get_device_name(0)
    else:
        name = f"{cpu_kind()}, {torch.get_num_threads()} threads"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": f"{device} ({name})",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "accelerate": accelerate.__version__,
        "lightly": lightly_version,
        "byolbench": byolbench.__version__,
        "precision": precision,
    }


def _markdown(rows: list[dict[str, Any]], env: dict[str, str], settings: str) -> str:
    header = "\n".join(f"- {k}: {v}" for k, v in env.items())
    lines = [
        "# BYOL step throughput",
        "",
        header,
        f"- settings: {settings}",
        "",
        "| model | implementation | precision | images/s | vs lightly | step TFLOP | MFU | "
        "peak memory MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = row.get("ratio")
        ratio_text = "-" if ratio is None else f"{ratio:.2f}x"
        mfu = row["mfu"]
        mfu_text = "-" if mfu != mfu else f"{100 * mfu:.0f}%"
        lines.append(
            f"| {row['model']} | {row['impl']} | {row['precision']} | "
            f"{row['images_per_second']:.1f} | {ratio_text} | {row['step_tflop']:.3f} | "
            f"{mfu_text} | {row['peak_memory_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parses arguments, measures, prints and writes the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", default="resnet18,vit_tiny,resnet50")
    parser.add_argument("--batch-size", type=int, default=0, help="default: 64 on CPU, 512 on CUDA")
    parser.add_argument("--precision", default="auto", help="byolbench's mixed precision")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--window", type=int, default=2, help="steps per timed window")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="lightly DataLoader workers")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument(
        "--levers", action="store_true", help="also measure byolbench with each lever changed"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the lightly reference")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"--models {','.join(unknown)}: not one of {', '.join(MODELS)}")
    batch = args.batch_size or (512 if args.device == "cuda" else 64)
    env = _environment(args.device, args.precision)
    settings = (
        f"batch {batch}, warm-up {args.warmup} steps, median of {args.windows} windows "
        f"of {args.window} steps, lightly workers {args.workers}"
    )
    print("\n".join(f"{k}: {v}" for k, v in env.items()) + f"\nsettings: {settings}\n", flush=True)
    rows: list[dict[str, Any]] = []
    for model in models:
        backbone, size = MODELS[model]
        common = {
            "backbone": backbone,
            "image_size": size,
            "batch_size": batch,
            "device": args.device,
            "precision": args.precision,
            "warmup": args.warmup,
            "window": args.window,
            "windows": args.windows,
            "workers": args.workers,
            "threads": args.threads,
            "images": args.images,
        }
        variants = LEVERS if args.levers else ("default",)
        measured = [run_isolated(_byolbench_worker, {**common, "variant": v}) for v in variants]
        peer = None if args.no_peer else run_isolated(_lightly_worker, common)
        for row in measured + ([peer] if peer else []):
            row["model"] = f"{model} @ {size}px"
            if peer and row is not peer:
                row["ratio"] = row["images_per_second"] / peer["images_per_second"]
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "window_rates"}), flush=True)
    table = _markdown(rows, env, settings)
    print("\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"throughput-{args.device}" + ("-levers" if args.levers else "")
    (args.out / f"{stem}.md").write_text(table)
    import pandas as pd

    pd.DataFrame(rows).to_csv(args.out / f"{stem}.csv", index=False)
    print(f"wrote {args.out / (stem + '.md')} and .csv")


if __name__ == "__main__":
    main()
