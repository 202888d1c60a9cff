"""Hostile-but-realistic inputs through the real CLI: exit status, traceback or one clean line.

Builds tiny fixtures (image folders good and bad, a finished run, TOML files) in a temporary
folder, runs each case through ``byolbench.cli.main.main`` (in this process, fast) or, with
``--subprocess``, through ``python -m byolbench`` (a fresh process per case, as a user runs it),
and prints a Markdown table: the command, the exit status wanted and got, whether a traceback
appeared, and how many lines the error took.

    python benchmarks/reliability_cases.py                 # about a minute on 2 cores
    python benchmarks/reliability_cases.py --subprocess    # several minutes
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "train.epochs=1",
    "train.batch_size=8",
    "train.mixed_precision=no",
    "model.projector_hidden_dim=32",
    "model.predictor_hidden_dim=32",
    "model.projector_dim=16",
    "eval.protocols=knn",
    "eval.random_baseline=false",
]


@dataclass
class Case:
    """One command and the exit status it must end with."""

    group: str
    name: str
    args: list[str]
    expected: int
    patch: Callable[[], contextlib.AbstractContextManager[None]] | None = None
    in_process_only: bool = False


@dataclass
class Outcome:
    """What a case did."""

    code: int | str
    traceback: bool
    error_lines: int
    seconds: float
    first_line: str = ""
    notes: list[str] = field(default_factory=list)


def _sets(*extra: str) -> list[str]:
    args: list[str] = []
    for item in [*TINY, *extra]:
        args += ["--set", item]
    return args


def write_folder(
    root: Path, classes: int = 3, train: int = 6, test: int = 3, size: int = 16, mode: str = "RGB"
) -> Path:
    """``root/{train,test}/c<k>/<i>.png`` with noisy class-coloured images."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("test", test)):
        for label in range(classes):
            folder = root / split / f"c{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                base = rng.integers(0, 100, (size, size, 3)) + 40 * label
                if mode == "I;16":
                    gray = (base.mean(axis=2) * 257).astype(np.uint16)
                    Image.fromarray(gray).save(folder / f"{i}.png")
                else:
                    Image.fromarray(base.clip(0, 255).astype(np.uint8)).save(folder / f"{i}.png")
    return root


def write_bomb(path: Path, side: int = 20_000) -> Path:
    """A PNG whose header claims ``side`` x ``side`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * (side + 1)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b""))
    return path


@contextlib.contextmanager
def disk_full_for(names: set[str]) -> Iterator[None]:
    """Atomic writes of files with these names fail with ENOSPC (in this process)."""
    from byolbench import atomic

    real = os.replace

    def replace(src: str, dst: str) -> None:
        if os.path.basename(dst) in names:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    atomic.os.replace = replace  # type: ignore[attr-defined]
    try:
        yield
    finally:
        atomic.os.replace = real  # type: ignore[attr-defined]


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` looks read-only to ``os.access`` (root can write anywhere)."""
    real = os.access

    def access(path: object, mode: int) -> bool:
        if str(path) == str(folder) and mode & os.W_OK:
            return False
        return real(path, mode)  # type: ignore[arg-type]

    os.access = access  # type: ignore[assignment]
    try:
        yield
    finally:
        os.access = real


def fixtures(base: Path) -> dict[str, Path]:
    """Every file and folder the cases need."""
    f: dict[str, Path] = {}
    f["good"] = write_folder(base / "good")
    f["corrupt"] = base / "corrupt"
    for split in ("train", "test"):
        for label in ("a", "b"):
            (f["corrupt"] / split / label).mkdir(parents=True)
            for i in range(6):
                (f["corrupt"] / split / label / f"{i}.png").write_bytes(b"not an image")
    f["empty"] = base / "empty"
    f["empty"].mkdir()
    f["one_class"] = write_folder(base / "one", classes=1, train=8)
    f["orphan"] = write_folder(base / "orphan")
    for image in (f["orphan"] / "train" / "c2").iterdir():
        image.unlink()
    f["deep"] = write_folder(base.joinpath(*(["a-rather-long-folder-name"] * 11), "pets"))
    f["sixteen"] = write_folder(base / "sixteen", mode="I;16")
    f["bombed"] = write_folder(base / "bombed")
    write_bomb(f["bombed"] / "train" / "c0" / "huge.png")
    f["photos"] = base / "photos"
    f["photos"].mkdir()
    for i in range(2):
        pixels = np.random.default_rng(i).integers(0, 255, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(f["photos"] / f"{i}.png")
    write_bomb(f["photos"] / "huge.png")
    f["file"] = base / "a-file.txt"
    f["file"].write_text("not a folder")
    f["ro"] = base / "read-only"
    f["ro"].mkdir()
    f["outdir"] = base / "out.npy"
    f["outdir"].mkdir()
    f["data"] = base / "data"
    f["data"].mkdir()
    head = "[matrix]\nbackbones = ['test_resnet']\ndatasets = ['cifar10-mini']\n"
    tomls = {
        "defaults_scalar": "defaults = 5\n" + head,
        "matrix_scalar": "matrix = 3\n",
        "datasets_scalar": "datasets = 3\n" + head,
        "backbone_scalar": head + "[backbones]\ntest_resnet = 3\n",
        "seeds_string": head + "seeds = '0,1'\n",
        "seeds_float": head + "seeds = [0.5]\n",
        "seeds_bool": head + "seeds = [true]\n",
    }
    for name, text in tomls.items():
        f[name] = base / f"{name}.toml"
        f[name].write_text(text)
    f["latin1"] = base / "latin1.toml"
    f["latin1"].write_bytes(head.encode() + b"# caf\xe9\n")
    return f


def cases(f: dict[str, Path], results: Path, run_dir: Path) -> list[Case]:
    """The cases, in groups."""
    good = f"imagefolder:{f['good']}"
    res = ["--results-dir", str(results)]

    def run(*args: str, sets: tuple[str, ...] = (), dataset: str = good) -> list[str]:
        return [
            "run",
            "--backbones",
            "test_resnet",
            "--datasets",
            dataset,
            *args,
            *res,
            *_sets(*sets),
        ]

    usage = [
        Case("usage", "mistyped option", ["run", "--epoch", "1"], 2),
        Case("usage", "no arguments", [], 2),
        Case("usage", "unknown command", ["frobnicate"], 2),
        Case("usage", "bad choice", ["list", "backbonez"], 2),
        Case("usage", "missing --out", ["export", str(run_dir)], 2),
        Case("usage", "--batch-size abc", ["run", "--batch-size", "abc"], 2),
        Case("usage", "evaluate without arguments", ["evaluate"], 2),
        Case("usage", "unknown plugins command", ["plugins", "frob"], 2),
        Case("usage", "--seeds ''", ["run", "--seeds", "", *res], 2),
        Case("usage", "--backbones ''", ["run", "--backbones", "", *res], 2),
    ]
    preflight = [
        Case(
            "pre-flight",
            "unknown backbone",
            ["run", "--backbones", "resnet1800", "--datasets", good, *res, *_sets()],
            2,
        ),
        Case("pre-flight", "unknown dataset", run(dataset="cifar10-mimi"), 2),
        Case("pre-flight", "unknown augmentation", run("--augmentations", "byol-smal"), 2),
        Case("pre-flight", "missing image folder", run(dataset="imagefolder:/nope"), 2),
        Case("pre-flight", "empty image folder", run(dataset=f"imagefolder:{f['empty']}"), 2),
        Case("pre-flight", "one-class folder", run(dataset=f"imagefolder:{f['one_class']}"), 2),
        Case(
            "pre-flight",
            "test class without training images",
            run(dataset=f"imagefolder:{f['orphan']}"),
            2,
        ),
        Case(
            "pre-flight",
            "cifar10 offline, downloads off",
            run("--data-dir", str(f["data"]), dataset="cifar10", sets=("data.download=false",)),
            2,
        ),
        Case("pre-flight", "optim.lr=inf", run(sets=("optim.lr=inf",)), 2),
        Case("pre-flight", "optim.lr=nan", run(sets=("optim.lr=nan",)), 2),
        Case(
            "pre-flight",
            "--batch-size 100000",
            [
                "run",
                "--backbones",
                "test_resnet",
                "--datasets",
                "cifar10-mini",
                *res,
                "--batch-size",
                "100000",
            ],
            2,
        ),
        Case("pre-flight", "train.log_every=0", run(sets=("train.log_every=0",)), 2),
        Case("pre-flight", "eval.batch_size=0", run(sets=("eval.batch_size=0",)), 2),
        Case("pre-flight", "model.projector_dim=0", run(sets=("model.projector_dim=0",)), 2),
        Case("pre-flight", "eval.knn_k=100000", run(sets=("eval.knn_k=100000",)), 2),
        Case("pre-flight", "train.max_steps=-1", run(sets=("train.max_steps=-1",)), 2),
        Case("pre-flight", "eval.linear_max_iter=0", run(sets=("eval.linear_max_iter=0",)), 2),
        Case("pre-flight", "eval.protocols=", run(sets=("eval.protocols=",)), 2),
        Case(
            "pre-flight",
            "image size below the backbone's minimum",
            [
                "run",
                "--backbones",
                "test_convnext",
                "--datasets",
                "cifar10-mini",
                *res,
                "--set",
                "data.image_size=16",
            ],
            2,
        ),
        Case(
            "pre-flight",
            "all of the above at once",
            run(
                sets=(
                    "train.batch_size=100000",
                    "optim.lr=inf",
                    "train.log_every=0",
                    "eval.batch_size=0",
                    "train.max_steps=-1",
                    "eval.protocols=",
                ),
            ),
            2,
        ),
        Case("pre-flight", "--dry-run with problems", run("--dry-run", sets=("optim.lr=-1",)), 2),
        Case(
            "pre-flight",
            "results folder is a file",
            [
                "run",
                "--backbones",
                "test_resnet",
                "--datasets",
                good,
                "--results-dir",
                str(f["file"]),
                *_sets(),
            ],
            2,
        ),
        Case(
            "pre-flight",
            "results folder read-only (simulated: root writes anywhere)",
            [
                "run",
                "--backbones",
                "test_resnet",
                "--datasets",
                good,
                "--results-dir",
                str(f["ro"]),
                *_sets(),
            ],
            2,
            patch=lambda: read_only(f["ro"]),
            in_process_only=True,
        ),
        Case("pre-flight", "unknown key --set optim.lrr=1", run(sets=("optim.lrr=1",)), 2),
    ]
    toml = [
        Case(
            "matrix file",
            f"{name}",
            ["run", "--config", str(f[name]), "--dry-run", *res],
            0 if name == "seeds_string" else 2,
        )
        for name in (
            "defaults_scalar",
            "matrix_scalar",
            "datasets_scalar",
            "backbone_scalar",
            "latin1",
            "seeds_string",
            "seeds_float",
            "seeds_bool",
        )
    ] + [Case("matrix file", "missing file", ["run", "--config", "nope.toml", *res], 2)]
    work = [
        Case("runs", "good tiny run", run(), 0),
        Case("runs", "same run again (skipped)", run(), 0),
        Case(
            "runs",
            "corrupt image folder (fails at load)",
            run(dataset=f"imagefolder:{f['corrupt']}"),
            1,
        ),
        Case(
            "runs",
            "corrupt folder with --fail-fast",
            run("--fail-fast", dataset=f"imagefolder:{f['corrupt']}"),
            1,
        ),
        Case("runs", "277-character imagefolder path", run(dataset=f"imagefolder:{f['deep']}"), 0),
        Case("runs", "16-bit PNG folder", run(dataset=f"imagefolder:{f['sixteen']}"), 0),
        Case(
            "runs",
            "folder with a 20000x20000 decompression bomb",
            run(dataset=f"imagefolder:{f['bombed']}"),
            0,
        ),
        Case(
            "runs",
            "full disk while writing the rows",
            run("--seeds", "7"),
            1,
            patch=lambda: disk_full_for({"eval.json", "error.json", "runs.csv"}),
            in_process_only=True,
        ),
    ]
    tools = [
        Case(
            "evaluate",
            "--image-size -5",
            ["evaluate", str(run_dir), "--dataset", good, "--image-size", "-5", *res],
            2,
        ),
        Case(
            "evaluate",
            "--protocol svm",
            ["evaluate", str(run_dir), "--dataset", good, "--protocol", "svm", *res],
            2,
        ),
        Case(
            "evaluate",
            "results folder is a file",
            ["evaluate", str(run_dir), "--dataset", good, "--results-dir", str(f["file"])],
            2,
        ),
        Case(
            "evaluate",
            "full disk while writing the rows",
            ["evaluate", str(run_dir), "--dataset", good, *res],
            1,
            patch=lambda: disk_full_for({"eval.json"}),
            in_process_only=True,
        ),
        Case("evaluate", "fine", ["evaluate", str(run_dir), "--dataset", good, *res], 0),
        Case(
            "embed",
            "--out is a folder",
            ["embed", str(run_dir), "--images", str(f["photos"]), "--out", str(f["outdir"])],
            2,
        ),
        Case(
            "embed",
            "--batch-size 0",
            [
                "embed",
                str(run_dir),
                "--images",
                str(f["photos"]),
                "--out",
                str(results / "e.npy"),
                "--batch-size",
                "0",
            ],
            2,
        ),
        Case(
            "embed",
            "--out e.csv",
            ["embed", str(run_dir), "--images", str(f["photos"]), "--out", str(results / "e.csv")],
            2,
        ),
        Case(
            "embed",
            "a decompression bomb among the images (skipped, named)",
            ["embed", str(run_dir), "--images", str(f["photos"]), "--out", str(results / "e.npy")],
            0,
        ),
        Case(
            "export",
            "not a run folder",
            ["export", str(f["empty"]), "--out", str(results / "x")],
            2,
        ),
        Case("export", "--out is a file", ["export", str(run_dir), "--out", str(f["file"])], 2),
        Case("report", "results folder is a file", ["report", str(f["file"])], 2),
        Case("list", "datasets", ["list", "datasets"], 0),
    ]
    return usage + preflight + toml + work + tools


def run_in_process(case: Case) -> Outcome:
    """Runs ``main(case.args)`` with stdout and stderr captured."""
    from byolbench.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    code: int | str = 0
    traceback = False
    patch = case.patch() if case.patch else contextlib.nullcontext()
    with patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(case.args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # what a user would see as a traceback
            code, traceback = f"uncaught {type(exc).__name__}", True
            err.write(f"Traceback: {exc}\n")
    return _outcome(code, traceback, err.getvalue(), time.perf_counter() - start)


def run_subprocess(case: Case) -> Outcome:
    """Runs ``python -m byolbench`` with the case's arguments."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "byolbench", *case.args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    traceback = "Traceback (most recent call last)" in proc.stderr + proc.stdout
    return _outcome(proc.returncode, traceback, proc.stderr, time.perf_counter() - start)


def _outcome(code: int | str, traceback: bool, stderr: str, seconds: float) -> Outcome:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("error:", "Error:", "stopped:"))]
    first = errors[0] if errors else (lines[0] if lines else "")
    return Outcome(code, traceback or "Traceback" in stderr, len(errors), seconds, first[:110])


def split(text: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``."""
    return [item.strip() for item in text.split(",") if item.strip()]


def main() -> None:
    """Builds the fixtures, runs every case, prints the table and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subprocess", action="store_true", help="one process per case")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    parser.add_argument(
        "--skip", default="", help="comma-separated case names to skip (e.g. long runs)"
    )
    options = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    base = Path(tempfile.mkdtemp(prefix="byolbench-cases-"))
    os.environ.setdefault("BYOLBENCH_DATA", str(base / "data-home"))
    f = fixtures(base)
    results = base / "results"
    from byolbench.cli.main import main as cli_main

    setup = [
        "run",
        "--backbones",
        "test_resnet",
        "--datasets",
        f"imagefolder:{f['good']}",
        "--results-dir",
        str(base / "setup"),
        "--seeds",
        "0",
        *_sets(),
    ]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli_main(setup)
    run_dir = next((base / "setup" / "runs").iterdir())
    all_cases = cases(f, results, run_dir)
    print(
        "| group | case | exit wanted | exit got | traceback | error lines | ok | first line |",
        flush=True,
    )
    print("|---|---|---|---|---|---|---|---|")
    good = 0
    ran = 0
    for case in all_cases:
        if options.only and options.only not in case.name:
            continue
        if case.name in split(options.skip):
            print(f"| {case.group} | {case.name} | {case.expected} | skipped | | | | |")
            continue
        print(f"running: {case.group} / {case.name}", file=sys.stderr, flush=True)
        if options.subprocess and case.in_process_only:
            outcome = run_in_process(case)
        else:
            outcome = run_subprocess(case) if options.subprocess else run_in_process(case)
        ran += 1
        ok = outcome.code == case.expected and not outcome.traceback
        good += ok
        first = outcome.first_line.replace("|", "\\|")
        print(
            f"| {case.group} | {case.name} | {case.expected} | {outcome.code} | "
            f"{'yes' if outcome.traceback else 'no'} | {outcome.error_lines} | "
            f"{'yes' if ok else '**NO**'} | {first} |",
            flush=True,
        )
    print(
        f"\n{good} of {ran} cases end with the wanted exit status and no traceback "
        f"(fixtures in {base})"
    )
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
