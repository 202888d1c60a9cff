"""Two-view augmentation throughput: byolbench's batched engine vs torchvision's PIL pipeline.

For 32 px and 224 px inputs and one batch (256 by default), on one device:

* the batched engine (per-sample parameters, on the device) in two-view images/s;
* torchvision's per-image PIL pipeline with the same settings (random resized crop, flip,
  colour jitter p=0.8, grayscale p=0.2, blur, solarize, to tensor, normalise) in one process;
* the libraries one could have used instead, same settings and device: ``torchvision.transforms.v2``
  on uint8 tensors (one call per image, since its functional ops take one parameter set per
  call) and kornia's batched ``AugmentationSequential`` (per-sample parameters; skipped when
  kornia is not installed, ``pip install -e ".[bench]"``);
* the ratio to the PIL pipeline, and the images/s that one BYOL training step of resnet18
  consumes at 32 px (measured here), so a reader sees whether augmentation could be the
  bottleneck.

    python benchmarks/augment_throughput.py
    python benchmarks/augment_throughput.py --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def _images(size: int, n: int) -> torch.Tensor:
    """Real CIFAR images (cifar10-mini), resized to ``size`` when larger."""
    from byolbench.data import load_dataset

    images = load_dataset("cifar10-mini").train.images[:n]
    if size != images.shape[-1]:
        images = torch.nn.functional.interpolate(
            images.float(), size=(size, size), mode="bilinear", antialias=True
        )
        images = images.round().clamp(0, 255).to(torch.uint8)
    return images


def _time(fn: Any, images_per_call: int, repeats: int, device: torch.device) -> float:
    fn()
    rates = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates.append(images_per_call / (time.perf_counter() - start))
    return statistics.median(rates)


def batched_rate(size: int, batch: int, device: torch.device, repeats: int) -> float:
    """Two-view images/s of the batched engine (``byol-small`` at 32 px, ``byol`` above)."""
    from byolbench.augment import create_augmentation

    transform = create_augmentation("auto", size, MEAN, STD)
    images = _images(size, batch).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    return _time(lambda: transform(images, generator), batch, repeats, device)


def pil_rate(size: int, batch: int, repeats: int) -> float:
    """Two-view images/s of torchvision's per-image PIL pipeline with the same settings."""
    from PIL import Image
    from torchvision import transforms as T

    blur1, blur2 = (0.0, 0.0) if size <= 64 else (1.0, 0.1)
    kernel = max(3, int(round(0.1 * size))) | 1

    def view(blur_p: float, solarize_p: float) -> Any:
        steps = [
            T.RandomResizedCrop(size, scale=(0.08, 1.0)),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
        ]
        if blur_p > 0:
            steps.append(T.RandomApply([T.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=blur_p))
        steps += [T.RandomSolarize(128, p=solarize_p), T.ToTensor(), T.Normalize(MEAN, STD)]
        return T.Compose(steps)

    view1, view2 = view(blur1, 0.0), view(blur2, 0.2)
    pil = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in _images(size, batch)]

    def run() -> None:
        for image in pil:
            view1(image)
            view2(image)

    return _time(run, batch, repeats, torch.device("cpu"))


def _v2_view(size: int, blur_p: float, solarize_p: float) -> Any:
    """One BYOL view as a ``torchvision.transforms.v2`` pipeline on uint8 tensors."""
    from torchvision.transforms import v2

    kernel = max(3, int(round(0.1 * size))) | 1
    steps = [
        v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
    ]
    if blur_p > 0:
        steps.append(v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=blur_p))
    steps += [
        v2.RandomSolarize(128, p=solarize_p),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(MEAN, STD),
    ]
    return v2.Compose(steps)


def tv2_rate(size: int, batch: int, device: torch.device, repeats: int) -> float:
    """Two-view images/s of torchvision.transforms.v2 on uint8 tensors, one call per image."""
    blur1, blur2 = (0.0, 0.0) if size <= 64 else (1.0, 0.1)
    view1, view2 = _v2_view(size, blur1, 0.0), _v2_view(size, blur2, 0.2)
    images = _images(size, batch).to(device)

    def run() -> None:
        torch.stack([view1(image) for image in images])
        torch.stack([view2(image) for image in images])

    return _time(run, batch, repeats, device)


def kornia_rate(size: int, batch: int, device: torch.device, repeats: int) -> float | None:
    """Two-view images/s of kornia's batched augmentation (None when kornia is missing)."""
    try:
        import kornia.augmentation as K
    except ImportError:
        return None
    blur1, blur2 = (0.0, 0.0) if size <= 64 else (1.0, 0.1)
    kernel = max(3, int(round(0.1 * size))) | 1

    def view(blur_p: float, solarize_p: float) -> Any:
        steps = [
            K.RandomResizedCrop((size, size), scale=(0.08, 1.0)),
            K.RandomHorizontalFlip(),
            K.ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8),
            K.RandomGrayscale(p=0.2),
        ]
        if blur_p > 0:
            steps.append(K.RandomGaussianBlur(kernel, (0.1, 2.0), p=blur_p))
        if solarize_p > 0:
            steps.append(K.RandomSolarize(0.0, 0.0, p=solarize_p))
        steps.append(K.Normalize(torch.tensor(MEAN), torch.tensor(STD)))
        return K.AugmentationSequential(*steps).to(device)

    view1, view2 = view(blur1, 0.0), view(blur2, 0.2)
    images = _images(size, batch).to(device)

    def run() -> None:
        floats = images.float().div_(255)
        view1(floats)
        view2(floats)

    with torch.no_grad():
        return _time(run, batch, repeats, device)


def training_consumption(batch: int, device: torch.device) -> float:
    """Images/s one BYOL step of resnet18 (CIFAR stem, 32 px) consumes (default precision)."""
    from bench_lib.data import training_images
    from bench_lib.measure import StepClock, median

    from byolbench.bench.presets import preset_overrides
    from byolbench.config import RunConfig
    from byolbench.train.accel import make_accelerator
    from byolbench.train.trainer import Trainer

    config = RunConfig().replace(
        {
            **preset_overrides("standard"),
            "model.backbone": "resnet18",
            "train.batch_size": batch,
            "train.epochs": 100,
            "train.max_steps": 6,
            "train.log_every": 1000,
        }
    )
    clock = StepClock()
    accelerator = make_accelerator("auto", cpu=device.type == "cpu")
    Trainer(config, training_images(), accelerator, None, on_step=clock.tick).fit()
    return median(clock.window_rates(batch, warmup=2, window=1))


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def main() -> None:
    """Measures and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--train-batch", type=int, default=64, help="batch of the training-step measurement"
    )
    args = parser.parse_args()
    device = torch.device("cuda:0" if args.device == "cuda" else "cpu")
    print(
        f"device: {device} ({torch.get_num_threads()} threads), torch {torch.__version__}, "
        f"batch {args.batch_size}, median of {args.repeats}\n",
        flush=True,
    )
    rows = []
    for size in (32, 224):
        batched = batched_rate(size, args.batch_size, device, args.repeats)
        pil = pil_rate(size, args.batch_size, args.repeats)
        tv2 = tv2_rate(size, args.batch_size, device, args.repeats)
        kornia = kornia_rate(size, args.batch_size, device, args.repeats)
        rows.append((size, batched, pil, tv2, kornia))
        print(
            f"{size} px: batched {batched:.0f}/s, PIL {pil:.0f}/s, tv2 {tv2:.0f}/s, "
            f"kornia {_rate(kornia)}/s",
            flush=True,
        )
    consumed = training_consumption(args.train_batch, device)
    lines = [
        "| input | byolbench batched engine | torchvision PIL, per image | "
        "torchvision v2 tensors, per image | kornia, batched | engine / PIL | "
        "engine / v2 | engine / kornia | engine / training step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, batched, pil, tv2, kornia in rows:
        versus_step = f"{batched / consumed:.0f}x" if size == 32 else "-"
        versus_kornia = f"{batched / kornia:.1f}x" if kornia else "-"
        lines.append(
            f"| {size} px | {batched:.0f} | {pil:.0f} | {tv2:.0f} | {_rate(kornia)} | "
            f"{batched / pil:.1f}x | {batched / tv2:.1f}x | {versus_kornia} | {versus_step} |"
        )
    lines.insert(0, "two-view images/s, batch of " + str(args.batch_size) + "\n")
    lines.append(
        f"\nresnet18 (CIFAR stem) BYOL training step at 32 px consumes {consumed:.1f} "
        f"images/s on {device} (batch {args.train_batch}, default precision)."
    )
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
