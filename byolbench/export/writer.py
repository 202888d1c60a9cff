"""``export_backbone``: write the online backbone as a folder timm loads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from byolbench.atomic import write_text
from byolbench.errors import CheckpointError, ConfigError
from byolbench.export.readme import readme_text
from byolbench.export.safe_io import write_safetensors
from byolbench.export.source import (
    CONFIG_FILE,
    HEADS_FILE,
    TRAINING_FILE,
    WEIGHTS_FILE,
    BackboneSource,
)
from byolbench.export.timm_config import loading_snippets, timm_config
from byolbench.hashing import sha256_file

README_FILE = "README.md"


@dataclass
class ExportResult:
    """What ``export_backbone`` wrote.

    Attributes:
        folder: The export folder.
        files: Every file written.
        config: The ``config.json`` content.
        snippets: Python code that loads the export with plain timm, best first.
    """

    folder: Path
    files: list[Path] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    snippets: list[str] = field(default_factory=list)


def _check_target(source: BackboneSource, out: Path, force: bool, with_heads: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder to write the export into")
    if out.exists() and out.resolve() == source.folder.resolve():
        raise ConfigError(f"--out {out} is the folder being exported; choose another folder")
    taken = [n for n in (WEIGHTS_FILE, CONFIG_FILE) if (out / n).exists()]
    if taken and not force:
        raise ConfigError(
            f"{out} already holds {', '.join(taken)}; pass --force to replace them or choose "
            "another --out"
        )
    if with_heads and not source.head_state:
        raise CheckpointError(
            f"{source.weights_file} holds no projector or predictor weights; export without "
            "--with-heads, or from the run folder or a training checkpoint"
        )


def export_backbone(
    source: BackboneSource, out: Path, with_heads: bool = False, force: bool = False
) -> ExportResult:
    """Writes ``model.safetensors``, ``config.json``, ``training.json`` and ``README.md``.

    Every file is written atomically. The weights are checked against the recorded
    architecture first, so a mismatched checkpoint writes nothing.

    Args:
        source: The weights to export (``open_source``).
        out: The export folder (created when missing).
        with_heads: Also write the projector and predictor to ``heads.safetensors``.
        force: Replace an existing export in ``out``.

    Raises:
        ConfigError: When ``out`` is unusable or already holds an export without ``force``.
        CheckpointError: When the weights do not fit, or heads are asked for but absent.
    """
    out = Path(out)
    _check_target(source, out, force, with_heads)
    model = source.load()
    out.mkdir(parents=True, exist_ok=True)
    result = ExportResult(out)
    weights = out / WEIGHTS_FILE
    write_safetensors(weights, model.state_dict(), {"format": "pt"})
    result.files.append(weights)
    heads_name = None
    if with_heads:
        heads_name = HEADS_FILE
        write_safetensors(
            out / HEADS_FILE,
            source.head_state,
            {"format": "pt", "content": "byol-projector-predictor"},
        )
        result.files.append(out / HEADS_FILE)
    elif (out / HEADS_FILE).exists():
        (out / HEADS_FILE).unlink()  # left by an earlier export into the same folder
    result.config = timm_config(source, model, sha256_file(weights), heads_name)
    write_text(out / CONFIG_FILE, json.dumps(result.config, indent=2) + "\n")
    training = {"config": source.config, "eval_rows": source.eval_rows}
    write_text(out / TRAINING_FILE, json.dumps(training, indent=2, default=str) + "\n")
    result.snippets = loading_snippets(result.config, out)
    write_text(out / README_FILE, readme_text(source, result.snippets, with_heads))
    result.files += [out / CONFIG_FILE, out / TRAINING_FILE, out / README_FILE]
    return result
