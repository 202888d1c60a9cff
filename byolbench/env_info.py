"""What a run ran on: versions, git commit, device, processes (written to ``env.json``)."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch


def git_commit(path: Path | None = None) -> str:
    """The commit of the git checkout holding ``path`` (default: byolbench's source), or ``""``."""
    where = path or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    if out.returncode != 0:
        return ""
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=5,
    )
    suffix = "-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else ""
    return out.stdout.strip() + suffix


def device_name(device: torch.device) -> str:
    """A readable device name, e.g. ``cuda:0 (NVIDIA H200)`` or ``cpu (2 threads)``."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    cpu = platform.processor() or platform.machine()
    return f"cpu ({cpu}, {torch.get_num_threads()} threads)"


def collect_env(device: torch.device, num_processes: int = 1, **extra: Any) -> dict[str, Any]:
    """Versions of Python and the libraries, git commit, device and process count."""
    import accelerate
    import timm
    import torchvision

    from byolbench import __version__

    return {
        "byolbench": __version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "accelerate": accelerate.__version__,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "device": device_name(device),
        "num_processes": num_processes,
        "torch_threads": torch.get_num_threads(),
        **extra,
    }
