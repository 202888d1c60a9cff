"""Loading an image folder: held in memory vs memory-mapped from the data directory.

For one ``imagefolder:PATH`` dataset and each mode, in fresh processes: seconds for the first
load (hash, decode, write the cache); seconds for a cached load (hash, read or map the cache);
after each, the anonymous memory the dataset holds (resident minus file-backed pages: pages of
a mapped file are page cache the kernel can drop and re-read, anonymous pages must fit in
RAM); milliseconds to gather a random training batch. Folders larger than half the free
memory use the mapped mode on their own; here it is forced so both can be compared on any
folder.

    python benchmarks/folder_loading.py PATH [--image-size 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lib.isolated import run_isolated  # noqa: E402


class _NoMemory:
    available = 0


def _anonymous(process: Any) -> int:
    """Resident bytes not backed by a file."""
    info = process.memory_info()
    return int(info.rss - info.shared)


def _load(job: dict[str, Any]) -> tuple[int, float, float, float]:
    """Loads the folder once in this fresh process and reports what it cost."""
    import psutil
    import torch

    from byolbench.data import load_dataset

    folder, data_dir, image_size = job["folder"], job["data_dir"], job["image_size"]
    if job["mapped"]:
        psutil.virtual_memory = lambda: _NoMemory()  # type: ignore[assignment]
    process = psutil.Process()
    before = _anonymous(process)
    start = time.perf_counter()
    splits = load_dataset(f"imagefolder:{folder}", data_dir=data_dir, image_size=image_size)
    seconds = time.perf_counter() - start
    added = (_anonymous(process) - before) / 2**20
    images = splits.pretrain.images
    times = []
    for _ in range(50):
        indices = torch.randint(0, len(images), (256,))
        start = time.perf_counter()
        images[indices]
        times.append(time.perf_counter() - start)
    return len(images), seconds, added, 1000 * statistics.median(times)


def main() -> None:
    """Measures both modes and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder with train/<class>/ and test/<class>/")
    parser.add_argument("--image-size", type=int, default=0, help="storage size (0: native)")
    args = parser.parse_args()
    lines = [
        "| mode | images | first load s | anonymous MiB after it | cached load s "
        "| anonymous MiB after it | random batch of 256 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for mapped in (False, True):
        with tempfile.TemporaryDirectory() as data_dir:
            job = {
                "folder": args.folder,
                "data_dir": data_dir,
                "image_size": args.image_size,
                "mapped": mapped,
            }
            count, first_s, first_mib, _ = run_isolated(_load, job)
            _, cached_s, cached_mib, gather_ms = run_isolated(_load, job)
        mode = "memory-mapped" if mapped else "in memory"
        lines.append(
            f"| {mode} | {count} | {first_s:.1f} | {first_mib:.0f} | {cached_s:.1f} | "
            f"{cached_mib:.0f} | {gather_ms:.2f} |"
        )
        print(lines[-1], flush=True)
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
