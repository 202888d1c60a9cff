"""SLURM resources of a matrix: the ``[executor]`` table of a matrix file and command-line
options, validated once and turned into submitit's parameters.

::

    [executor]
    partition = "gpu"
    gpus_per_node = 4        # one process per GPU, Accelerate across them
    nodes = 1
    cpus_per_task = 8
    time = "12:00:00"        # minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS
    account = "my-lab"
    qos = "normal"
    mem = "64G"
    sbatch = { constraint = "a100", exclusive = true }   # any other sbatch option
    setup = ["module load cuda/12.1", "source .venv/bin/activate"]
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from byolbench.errors import ConfigError, close_matches

DEFAULT_TIME = "4:00:00"
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
_MEM = re.compile(r"^\d+(?:\.\d+)?[KMGT]?B?$", re.IGNORECASE)


@dataclass(frozen=True)
class SlurmSettings:
    """Resources of every job of a submission (one job per cell).

    Attributes:
        partition: ``--partition``; empty: the cluster's default.
        nodes: Nodes per job.
        gpus_per_node: GPUs per node; the cell runs one Accelerate process per GPU.
        tasks_per_node: Processes per node; 0: one per GPU (one without GPUs).
        cpus_per_task: CPUs per process; 0: the cluster's default.
        time: Time limit per job (SLURM formats, or minutes). A job warned before its limit
            checkpoints and is requeued (at most ``max_timeouts`` times).
        account: ``--account``.
        qos: ``--qos``.
        mem: Memory per node (``--mem``, e.g. ``64G``); empty: the cluster's default.
        job_name: ``--job-name`` (``byolbench status`` finds the jobs by it).
        array_parallelism: At most this many jobs of the array run at once; 0: no limit.
        signal_delay: Seconds before the time limit at which SLURM sends the warning signal.
        max_timeouts: Requeues after reaching the time limit (preemptions do not count).
        sbatch: Any other sbatch option (``{"constraint": "a100", "exclusive": True}``).
        setup: Shell lines run before the job starts (modules, environments).
        python: Command that starts Python in the job; empty: this interpreter.
    """

    partition: str = ""
    nodes: int = 1
    gpus_per_node: int = 0
    tasks_per_node: int = 0
    cpus_per_task: int = 0
    time: str = DEFAULT_TIME
    account: str = ""
    qos: str = ""
    mem: str = ""
    job_name: str = "byolbench"
    array_parallelism: int = 0
    signal_delay: int = 90
    max_timeouts: int = 3
    sbatch: dict[str, Any] = field(default_factory=dict)
    setup: tuple[str, ...] = ()
    python: str = ""

    @property
    def processes_per_node(self) -> int:
        """Processes (SLURM tasks) per node."""
        return self.tasks_per_node or max(self.gpus_per_node, 1)

    @property
    def time_minutes(self) -> int:
        """The time limit in whole minutes (rounded up)."""
        return parse_time(self.time)

    def submitit_parameters(self) -> dict[str, Any]:
        """Keyword arguments of ``submitit.SlurmExecutor.update_parameters``."""
        params: dict[str, Any] = {
            "job_name": self.job_name,
            "nodes": self.nodes,
            "ntasks_per_node": self.processes_per_node,
            "time": self.time_minutes,
            "signal_delay_s": self.signal_delay,
        }
        optional = {
            "partition": self.partition,
            "gpus_per_node": self.gpus_per_node,
            "cpus_per_task": self.cpus_per_task,
            "account": self.account,
            "qos": self.qos,
            "mem": self.mem,
            "array_parallelism": self.array_parallelism,
        }
        params.update({k: v for k, v in optional.items() if v})
        if self.setup:
            params["setup"] = list(self.setup)
        if self.sbatch:
            params["additional_parameters"] = dict(self.sbatch)
        return params

    def describe(self) -> dict[str, str]:
        """What each job gets, for people (empty entries left out)."""
        gpus = f"{self.gpus_per_node} per node" if self.gpus_per_node else "none"
        shown = {
            "partition": self.partition or "(cluster default)",
            "nodes": str(self.nodes),
            "GPUs": gpus,
            "processes": f"{self.processes_per_node} per node (Accelerate)",
            "CPUs per process": str(self.cpus_per_task or "(cluster default)"),
            "time limit": f"{self.time} ({self.time_minutes} min; warned {self.signal_delay} s "
            f"before, checkpointed and requeued up to {self.max_timeouts} times)",
            "account": self.account,
            "qos": self.qos,
            "memory": self.mem,
            "job name": self.job_name,
            "at once": str(self.array_parallelism or ""),
            "sbatch": " ".join(_sbatch_flag(k, v) for k, v in self.sbatch.items()),
            "setup": "; ".join(self.setup),
        }
        return {k: v for k, v in shown.items() if v}


def _sbatch_flag(key: str, value: Any) -> str:
    key = key.replace("_", "-")
    return f"--{key}" if value is True else f"--{key}={value}"


def parse_time(value: Any, source: str = "time") -> int:
    """A SLURM time limit (``90``, ``30:00``, ``1:30:00``, ``2-00:00:00``) in minutes.

    Raises:
        ConfigError: For anything else, or a limit of zero.
    """
    text = str(value).strip()
    match = _TIME.match(text)
    hint = "e.g. 90 (minutes), 1:30:00, 2-00:00:00"
    if isinstance(value, bool) or match is None:
        raise ConfigError(f"{source} {value!r} is not a SLURM time limit; {hint}")
    days, first, second, third = match.groups()
    numbers = [int(x) for x in (first, second, third) if x is not None]
    if days is not None:
        hours, minutes, seconds = (numbers + [0, 0])[:3]
        total = int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
    elif len(numbers) == 1:
        total = numbers[0] * 60
    elif len(numbers) == 2:
        total = numbers[0] * 60 + numbers[1]
    else:
        total = numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
    if total <= 0:
        raise ConfigError(f"{source} {value!r} is zero; {hint}")
    return math.ceil(total / 60)


_INT_FIELDS = (
    "nodes",
    "gpus_per_node",
    "tasks_per_node",
    "cpus_per_task",
    "array_parallelism",
    "signal_delay",
    "max_timeouts",
)
_STR_FIELDS = ("partition", "time", "account", "qos", "mem", "job_name", "python")
FIELDS = tuple(f.name for f in dataclasses.fields(SlurmSettings))


def _int(key: str, value: Any, source: str, minimum: int) -> int:
    try:
        number = int(value) if not isinstance(value, (bool, float)) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum:
        raise ConfigError(f"{key} = {value!r} in {source} must be an integer >= {minimum}")
    return number


def parse_sbatch_options(items: list[str], source: str = "--sbatch") -> dict[str, Any]:
    """``["constraint=a100", "exclusive"]`` -> ``{"constraint": "a100", "exclusive": True}``.

    Raises:
        ConfigError: For an empty key.
    """
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not key:
            raise ConfigError(
                f"{source} {item!r} names no option; e.g. {source} constraint=a100 or "
                f"{source} exclusive"
            )
        options[key] = value.strip() if sep else True
    return options


def settings_from(
    table: Mapping[str, Any], overrides: Mapping[str, Any], source: str
) -> SlurmSettings:
    """Settings from a matrix file's ``[executor]`` table, then command-line ``overrides``
    (``None`` values are ignored; ``sbatch`` entries are added to the table's).

    Raises:
        ConfigError: For unknown keys and invalid values, naming the key and its source.
    """
    values: dict[str, Any] = {}
    for origin, entries in ((f"{source} [executor]", table), ("the command line", overrides)):
        for key, value in entries.items():
            if value is None:
                continue
            name = key.replace("-", "_")
            if name not in FIELDS:
                hint = close_matches(name, FIELDS)
                did = f" (did you mean {hint[0]}?)" if hint else ""
                raise ConfigError(
                    f"unknown key executor.{key} in {origin}{did}; valid: {', '.join(FIELDS)}"
                )
            values[name] = _checked(name, value, origin, values.get(name))
    settings = SlurmSettings(**values)
    parse_time(settings.time, f"time in {source}")
    if settings.mem and not _MEM.match(settings.mem):
        raise ConfigError(f"mem = {settings.mem!r} is not a SLURM memory size; e.g. 64G or 64000M")
    return settings


def _checked(name: str, value: Any, origin: str, earlier: Any) -> Any:
    if name in _INT_FIELDS:
        return _int(name, value, origin, 1 if name == "nodes" else 0)
    if name in _STR_FIELDS:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ConfigError(f"{name} = {value!r} in {origin} must be a string")
        text = str(value).strip()
        if name == "time":
            parse_time(text, f"time in {origin}")
        return text
    if name == "sbatch":
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"sbatch = {value!r} in {origin} must be a table, e.g. "
                'sbatch = { constraint = "a100", exclusive = true }'
            )
        return {**(earlier or {}), **{str(k): v for k, v in value.items()}}
    # setup
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"setup = {value!r} in {origin} must be a list of shell lines, e.g. "
            'setup = ["module load cuda"]'
        )
    return tuple(value)
