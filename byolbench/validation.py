"""Range checks of every ``RunConfig`` setting, all problems at once, one line each.

Types are checked when a config is built (``byolbench.config.coerce``); this module checks what
types cannot: ranges, finiteness and choices. Each problem line names the key, the value
received, what is valid and how to fix it, e.g.::

    train.log_every=0: expected an integer >= 1; e.g. --set train.log_every=10
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from byolbench.config import RunConfig

SEED_MAX = 2**32 - 1  # numpy's seed range, which accelerate's set_seed uses


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def at_least(low: float) -> Callable[[Any], bool]:
    """A check that a finite number is ``>= low``."""
    return lambda v: _finite(v) and v >= low


def above(low: float) -> Callable[[Any], bool]:
    """A check that a finite number is ``> low``."""
    return lambda v: _finite(v) and v > low


def between(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Any:
    """A check that a finite number lies in the interval (open or closed at either end)."""

    def check(v: Any) -> bool:
        if not _finite(v):
            return False
        lower = v > low if low_open else v >= low
        upper = v < high if high_open else v <= high
        return lower and upper

    return check


@dataclass(frozen=True)
class Rule:
    """One setting's valid values.

    Attributes:
        key: Dotted key, e.g. ``train.log_every``.
        check: ``check(value) -> bool``.
        valid: What is valid, for the message.
        example: A valid value to suggest (the default when empty).
    """

    key: str
    check: Callable[[Any], bool]
    valid: str
    example: str = ""


def _rules() -> list[Rule]:
    from byolbench.config import (
        EMBEDDING_MAP_CHOICES,
        FINETUNE_OPTIMIZER_CHOICES,
        GLOBAL_POOL_CHOICES,
        MIXED_PRECISION_CHOICES,
        OPTIMIZER_CHOICES,
        PROTOCOL_CHOICES,
        SCHEDULE_CHOICES,
    )

    def choice(options: tuple[str, ...]) -> Callable[[Any], bool]:
        return lambda v: v in options

    integer_ge1 = "an integer >= 1"
    return [
        Rule("data.image_size", lambda v: v == 0 or 8 <= v <= 4096, "0 (native) or 8..4096"),
        Rule("data.max_train_samples", at_least(0), "0 (all) or a positive integer"),
        Rule("data.num_workers", at_least(0), "an integer >= 0"),
        Rule("augment.crop_min_scale", between(0, 1, low_open=True), "a number in (0, 1]"),
        # Above 2.5 the brightness range 0.4 * s would reach below a factor of 0.
        Rule("augment.jitter_strength", between(0, 2.5), "a number in [0, 2.5]"),
        Rule("model.small_image_stem", choice(("auto", "on", "off")), "auto, on or off"),
        Rule("model.projector_hidden_dim", at_least(1), integer_ge1),
        Rule("model.projector_dim", at_least(1), integer_ge1),
        Rule("model.predictor_hidden_dim", at_least(1), integer_ge1),
        Rule(
            "model.global_pool",
            choice(GLOBAL_POOL_CHOICES),
            "'' (the model's own), " + ", ".join(GLOBAL_POOL_CHOICES[1:]),
            "avg",
        ),
        Rule(
            "model.patch_drop_rate",
            between(0.0, 1.0, high_open=True),
            "a fraction in [0, 1) of the patch tokens",
            "0.5",
        ),
        Rule(
            "model.channels",
            lambda v: all(isinstance(c, int) and c >= 1 for c in v),
            "empty (the model's own) or one integer >= 1 per stage",
            "32,64,128,256",
        ),
        Rule(
            "model.stem_width",
            at_least(0),
            "0 (the model's own) or an integer >= 1",
            "16",
        ),
        Rule("optim.name", choice(OPTIMIZER_CHOICES), ", ".join(OPTIMIZER_CHOICES)),
        Rule("optim.schedule", choice(SCHEDULE_CHOICES), ", ".join(SCHEDULE_CHOICES)),
        Rule("optim.lr", above(0), "a finite number > 0"),
        Rule("optim.weight_decay", at_least(0), "a finite number >= 0"),
        Rule("optim.momentum", between(0, 1, high_open=True), "a number in [0, 1)"),
        Rule(
            "optim.betas",
            lambda v: len(v) == 2 and all(_finite(b) and 0 <= b < 1 for b in v),
            "two numbers beta1,beta2 in [0, 1)",
            "0.9,0.99",
        ),
        Rule("optim.lars_eta", above(0), "a finite number > 0"),
        Rule("optim.warmup_epochs", at_least(0), "a finite number >= 0"),
        Rule("optim.grad_clip", at_least(0), "0 (off) or a finite number > 0"),
        Rule("optim.predictor_lr_scale", above(0), "a finite number > 0 (1.0: one rate)"),
        Rule("byol.tau_base", between(0, 1), "a number in [0, 1]"),
        Rule("byol.tau_final", between(0, 1), "a number in [0, 1]"),
        Rule("train.epochs", at_least(1), integer_ge1),
        Rule("train.batch_size", at_least(2), "an integer >= 2 (BatchNorm needs 2 images)"),
        Rule("train.grad_accum_steps", at_least(1), integer_ge1),
        Rule(
            "train.mixed_precision",
            choice(MIXED_PRECISION_CHOICES),
            ", ".join(MIXED_PRECISION_CHOICES),
        ),
        Rule("train.seed", between(0, SEED_MAX), f"an integer in 0..{SEED_MAX}"),
        Rule("train.max_steps", at_least(0), "0 (all epochs) or a positive integer"),
        Rule("train.log_every", at_least(1), integer_ge1),
        Rule("train.checkpoint_every", at_least(0), "0 (epoch ends only) or a positive integer"),
        Rule("train.keep_checkpoints", at_least(1), integer_ge1),
        Rule("train.collapse_threshold", at_least(0), "a finite number >= 0"),
        Rule("train.collapse_window", at_least(1), integer_ge1),
        Rule(
            "eval.protocols",
            lambda v: len(v) >= 1 and all(p in PROTOCOL_CHOICES for p in v),
            f"one or more of {', '.join(PROTOCOL_CHOICES)}",
            ",".join(PROTOCOL_CHOICES),
        ),
        Rule("eval.knn_k", at_least(1), integer_ge1),
        Rule("eval.knn_temperature", above(0), "a finite number > 0"),
        Rule(
            "eval.linear_val_fraction",
            between(0, 1, low_open=True, high_open=True),
            "a number in (0, 1)",
        ),
        Rule(
            "eval.linear_l2_grid",
            lambda v: len(v) >= 1 and all(_finite(x) and x >= 0 for x in v),
            "one or more finite numbers >= 0",
        ),
        Rule("eval.linear_max_iter", at_least(1), integer_ge1),
        Rule("eval.batch_size", at_least(1), integer_ge1),
        Rule("eval.monitor_every", at_least(0), "0 (off) or a positive integer"),
        Rule("eval.knn_sweep", lambda v: all(_finite(k) and k >= 1 for k in v), "integers >= 1"),
        Rule(
            "eval.fewshot_fractions",
            lambda v: len(v) >= 1 and all(_finite(f) and 0 < f <= 1 for f in v),
            "fractions in (0, 1]",
            "0.01,0.1",
        ),
        Rule(
            "eval.fewshot_val_fraction",
            between(0, 1, low_open=True, high_open=True),
            "a number in (0, 1)",
        ),
        Rule("eval.finetune_epochs", at_least(1), integer_ge1),
        Rule(
            "eval.finetune_lr_grid",
            lambda v: all(_finite(lr) and lr > 0 for lr in v),
            "finite numbers > 0 (empty: the family recipe)",
        ),
        Rule(
            "eval.finetune_optimizer",
            choice(FINETUNE_OPTIMIZER_CHOICES),
            ", ".join(FINETUNE_OPTIMIZER_CHOICES),
        ),
        Rule("eval.finetune_layer_decay", between(0, 1, low_open=True), "a number in (0, 1]"),
        Rule("eval.finetune_batch_size", at_least(2), "an integer >= 2"),
        Rule("eval.finetune_warmup_epochs", at_least(0), "a finite number >= 0"),
        Rule(
            "eval.finetune_val_fraction",
            between(0, 1, low_open=True, high_open=True),
            "a number in (0, 1)",
        ),
        Rule("eval.finetune_crop_min_scale", between(0, 1, low_open=True), "a number in (0, 1]"),
        Rule("eval.online_lr", above(0), "a finite number > 0"),
        Rule("eval.online_weight_decay", at_least(0), "a finite number >= 0"),
        Rule("eval.rankme_every", at_least(0), "0 (off) or a number of steps"),
        Rule("eval.rankme_samples", at_least(2), "an integer >= 2"),
        Rule("eval.embedding_map", choice(EMBEDDING_MAP_CHOICES), ", ".join(EMBEDDING_MAP_CHOICES)),
        Rule("eval.embedding_map_samples", at_least(10), "an integer >= 10"),
        Rule(
            "train.time_budget",
            _duration_ok,
            "empty (off) or a duration such as 90s, 10m, 1.5h",
            "10m",
        ),
        Rule(
            "augment.view_size_fraction",
            between(0, 1, low_open=True),
            "a number in (0, 1], e.g. 0.75 for 24 px views of 32 px images",
        ),
        Rule(
            "augment.progressive_min_size",
            lambda v: v == 0 or 8 <= v <= 4096,
            "0 (off) or a side of at least 8 px",
        ),
        Rule(
            "augment.progressive_fraction",
            between(0, 1, low_open=True),
            "a number in (0, 1]",
        ),
        Rule(
            "augment.progressive_step",
            lambda v: 1 <= v <= 4096,
            "a number of pixels of at least 1, e.g. 4 or 8",
        ),
        Rule("augment.local_crops", lambda v: 0 <= v <= 16, "an integer from 0 (off) to 16"),
        Rule(
            "augment.local_size",
            lambda v: v == 0 or 8 <= v <= 4096,
            "0 (half the training size) or a side of at least 8 px",
        ),
        Rule(
            "augment.local_crop_scale",
            lambda v: len(v) == 2 and 0 < v[0] <= v[1] <= 1,
            "two area fractions low,high with 0 < low <= high <= 1",
            "0.05,0.4",
        ),
    ]


def _duration_ok(value: Any) -> bool:
    if value == "":
        return True
    from byolbench.errors import ConfigError
    from byolbench.train.budget import parse_duration

    try:
        parse_duration(value)
    except ConfigError:
        return False
    return True


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) if value else "''"
    return repr(value) if isinstance(value, str) else str(value)


def _example(rule: Rule, defaults: dict[str, Any]) -> str:
    if rule.example:
        return rule.example
    default = defaults[rule.key]
    return ",".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)


def problem_line(key: str, value: Any, valid: str, fix: str) -> str:
    """``key=value: expected VALID; FIX`` (the shape of every config problem)."""
    return f"{key}={_show(value)}: expected {valid}; {fix}"


def _unknown_protocols(value: Any) -> list[str]:
    """The names in an ``eval.protocols`` value that are not protocols."""
    from byolbench.config import PROTOCOL_CHOICES

    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(p).strip() for p in items if str(p).strip()]
    return [p for p in names if p not in PROTOCOL_CHOICES]


def _unknown_protocols_line(value: Any) -> str:
    """``eval.protocols=knn,probe: unknown protocol 'probe'; valid: ...; e.g. ...``."""
    from byolbench.config import PROTOCOL_CHOICES

    unknown = _unknown_protocols(value)
    what = f"unknown protocol{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
    return (
        f"eval.protocols={_show(value)}: {what}; valid: {', '.join(PROTOCOL_CHOICES)}; "
        "e.g. --set eval.protocols=knn,linear"
    )


def config_problems(config: RunConfig) -> list[str]:
    """Every invalid setting of ``config``, one line each (empty when all are valid)."""
    from byolbench.config import RunConfig

    flat = config.flat()
    defaults = RunConfig().flat()
    problems = []
    for rule in _rules():
        if rule.key not in flat:
            continue
        value = flat[rule.key]
        if isinstance(value, list):
            value = tuple(value)
        if rule.check(value):
            continue
        if rule.key == "eval.protocols" and _unknown_protocols(value):
            problems.append(_unknown_protocols_line(value))
            continue
        fix = f"e.g. --set {rule.key}={_example(rule, defaults)}"
        if rule.key == "train.seed":
            fix = "e.g. --seeds 0,1,2"
        problems.append(problem_line(rule.key, value, rule.valid, fix))
    if (
        tuple(flat["optim.betas"]) != tuple(defaults["optim.betas"])
        and flat["optim.name"] != "adamw"
    ):
        problems.append(
            f"optim.betas={_show(flat['optim.betas'])}: AdamW's setting, but "
            f"optim.name={flat['optim.name']}; use optim.momentum for LARS and SGD, or "
            "--set optim.name=adamw"
        )
    tau_base, tau_final = flat["byol.tau_base"], flat["byol.tau_final"]
    if _finite(tau_base) and _finite(tau_final) and tau_final < tau_base:
        problems.append(
            f"byol.tau_final={_show(tau_final)} is below byol.tau_base={_show(tau_base)}: the "
            f"target's EMA rate only rises; e.g. --set byol.tau_base={_show(tau_final)} for a "
            "fixed tau"
        )
    return problems
