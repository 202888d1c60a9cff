"""One epoch of BYOL pretraining from the in-memory tensor, with images/s and utilisation.

resnet18 (CIFAR stem) at 32 px on ``--images`` images (cifar10-mini tiled to a CIFAR-10-sized
50,000 by default), default precision (bf16 where supported), data held on the device.
Utilisation = model FLOPs per image x images/s / peak, against both the measured dense matmul
peak in bf16 and, for known GPUs, the vendor's dense bf16 peak.

    python benchmarks/epoch_run.py --device cuda --batch-size 512
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lib.data import training_images  # noqa: E402
from bench_lib.measure import StepClock, count_flops, matmul_peak, median, synchronize  # noqa: E402

from byolbench.bench.presets import preset_overrides  # noqa: E402
from byolbench.config import RunConfig  # noqa: E402
from byolbench.train.accel import make_accelerator  # noqa: E402
from byolbench.train.trainer import Trainer  # noqa: E402

VENDOR_BF16_DENSE_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0}


def vendor_peak(device: torch.device) -> float | None:
    """The vendor's dense bf16 TFLOP/s for known GPUs (SXM parts), else ``None``."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in VENDOR_BF16_DENSE_TFLOPS.items() if k in name), None)


def main() -> None:
    """Runs one epoch and prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--backbone", default="resnet18")
    args = parser.parse_args()
    accelerator = make_accelerator("auto", cpu=args.device == "cpu")
    device = accelerator.device
    splits = training_images(args.images)
    config = RunConfig().replace(
        {
            **preset_overrides("standard"),
            "model.backbone": args.backbone,
            "train.batch_size": args.batch_size,
            "train.epochs": 1,
            "train.log_every": 10,
        }
    )
    clock = StepClock()

    def on_step(step: int, total: int) -> None:
        if step % 10 == 0 or step == total:
            synchronize(device)
        clock.tick()

    start = time.perf_counter()
    result = Trainer(config, splits, accelerator, None, on_step=on_step).fit()
    synchronize(device)
    seconds = time.perf_counter() - start
    window = 10 if len(clock.stamps) > 30 else 1
    steady = median(
        clock.window_rates(args.batch_size, warmup=min(10, len(clock.stamps) // 3), window=window)
    )
    model = result.model
    x = torch.randn(args.batch_size, 3, 32, 32, device=device).contiguous(
        memory_format=torch.channels_last
    )

    def one_step() -> None:
        with accelerator.autocast():
            out = model(x, x)
        out.loss.backward()

    flops_per_image = count_flops(one_step) / args.batch_size
    dtype = torch.bfloat16 if accelerator.mixed_precision == "bf16" else torch.float32
    measured = matmul_peak(device, dtype, n=8192 if device.type == "cuda" else 2048)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {device} ({name}), precision {accelerator.mixed_precision}, "
        f"batch {args.batch_size}, {args.images} images, {result.state.step} steps"
    )
    print(
        f"epoch wall time {seconds:.1f} s (including warm-up), "
        f"overall {result.images_per_second:.0f} img/s, steady state {steady:.0f} img/s"
    )
    achieved = flops_per_image * steady
    print(
        f"model FLOPs per image per step {flops_per_image / 1e9:.2f} GFLOP; achieved "
        f"{achieved / 1e12:.3g} TFLOP/s = {100 * achieved / measured:.0f}% of the measured "
        f"{dtype} matmul peak ({measured / 1e12:.3g} TFLOP/s)"
    )
    vendor = vendor_peak(device)
    if vendor:
        print(
            f"utilisation vs the vendor dense bf16 peak ({vendor:.0f} TFLOP/s): "
            f"{100 * achieved / (vendor * 1e12):.0f}%"
        )


if __name__ == "__main__":
    main()
