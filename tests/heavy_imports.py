"""Which heavy libraries a piece of byolbench code loads, run in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

HEAVY_MODULES = ("torch", "timm", "torchvision", "accelerate", "pandas")
MARKER = "heavy modules loaded:"


def heavy_modules_loaded(code: str, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Runs ``code`` (with ``args`` as ``sys.argv[1:]``) in a new Python process; returns the
    finished process and the heavy modules in its ``sys.modules`` at the end (reported on
    stderr, so the code's own stdout stays as it printed it)."""
    report = (
        "\nimport sys as _sys\n"
        f"print({MARKER!r}, *(m for m in {HEAVY_MODULES!r} if m in _sys.modules), "
        "file=_sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code + report, *args], capture_output=True, text=True, timeout=120
    )
    lines = [line for line in out.stderr.splitlines() if line.startswith(MARKER)]
    loaded = lines[-1][len(MARKER) :].split() if lines else list(HEAVY_MODULES)
    return out, loaded
