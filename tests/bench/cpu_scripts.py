"""Runs a benchmarks/ shell script against a made-up ``/proc/cpuinfo`` (BYOLBENCH_CPUINFO)."""

import os
import subprocess
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def fake_cpuinfo(tmp_path: Path, flags: str) -> Path:
    """A ``/proc/cpuinfo`` stand-in in ``tmp_path`` whose flags line is ``flags``."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"model name\t: Some CPU\n{flags}\n")
    return cpuinfo


def run_script(
    script: str, tmp_path: Path, flags: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """Runs ``benchmarks/<script>`` with ``args`` on a CPU whose flags line is ``flags``."""
    env = {**os.environ, "BYOLBENCH_CPUINFO": str(fake_cpuinfo(tmp_path, flags))}
    return subprocess.run(
        ["bash", str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
