"""Timing windows, FLOP counting, matmul peak and peak memory for benchmark scripts."""

from __future__ import annotations

import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode


class StepClock:
    """Collects a timestamp per step; throughput is read from windows after warm-up."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def tick(self, *_: object) -> None:
        """Records the end of a step (usable as a trainer ``on_step`` callback)."""
        self.stamps.append(time.perf_counter())

    def window_rates(self, images_per_step: int, warmup: int, window: int) -> list[float]:
        """Images/s of each full window of ``window`` steps after ``warmup`` steps."""
        rates = []
        start = warmup
        while start + window < len(self.stamps):
            elapsed = self.stamps[start + window] - self.stamps[start]
            rates.append(images_per_step * window / elapsed)
            start += window
        return rates


def median(values: list[float]) -> float:
    """Median, NaN for an empty list."""
    return statistics.median(values) if values else float("nan")


def synchronize(device: torch.device) -> None:
    """Waits for queued GPU work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 4096, reps: int = 6) -> float:
    """Measured dense matmul FLOP/s in ``dtype`` (best of ``reps``)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    synchronize(device)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def count_flops(step: Callable[[], None]) -> int:
    """FLOPs (multiply-add = 2) of one call of ``step``, counted by torch."""
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def byol_step_flops_and_peak(
    model: torch.nn.Module, accelerator: Any, batch: int, side: int, channels_last: bool
) -> tuple[int, float]:
    """FLOPs of one BYOL forward and backward on two ``side`` px views of ``batch`` images,
    and the matmul peak (FLOP/s) measured now in the step's dtype: the two halves of MFU."""
    x = torch.randn(batch, 3, side, side, device=accelerator.device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def one_step() -> None:
        with accelerator.autocast():
            out = model(x, x)
        out.loss.backward()

    flops = count_flops(one_step)
    dtype = torch.bfloat16 if accelerator.mixed_precision == "bf16" else torch.float32
    return flops, matmul_peak(accelerator.device, dtype)


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated, or this process's peak resident memory on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if platform.system() != "Darwin" else kib / 2**20


def cpu_kind() -> str:
    """The CPU model and its bf16 matrix units, e.g. ``AMD EPYC (AVX-512 BF16)``.

    From ``/proc/cpuinfo`` (``amx_bf16``: Intel AMX tiles; ``avx512_bf16``: AVX-512 BF16 dot
    products); ``platform.processor()`` where that file does not exist.
    """
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in text.splitlines()[:64] if ":" in line)
    model = next((v.strip() for k, v in fields.items() if k.strip() == "model name"), "")
    flags = set(next((v.split() for k, v in fields.items() if k.strip() == "flags"), []))
    units = [
        label
        for flag, label in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX-512 BF16"))
        if flag in flags
    ]
    return f"{model or platform.machine()} ({', '.join(units) or 'no bf16 matrix units'})"


def device_label(device: torch.device) -> str:
    """A readable device name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_kind()} CPU, {torch.get_num_threads()} threads"
