"""How each protocol is run, in words: the statement every report table is shown with.

``protocol_statement`` keeps the lines of the protocols a report shows (and always the lines
about the random-init baseline, the cells and the published references).
"""

from __future__ import annotations

from collections.abc import Iterable

PROTOCOL_TEXT: dict[str, str] = {
    "knn": "kNN: cosine similarity on L2-normalised frozen online-backbone features, k=200 "
    "neighbours, votes weighted by exp(sim/0.1); k=10, 20 and 100 come from the same pass "
    "(`byolbench report --variants` shows them).",
    "linear": "Linear: multinomial logistic regression on frozen standardised features; the "
    "L2 penalty is chosen on a held-out 10% of the training split, the probe is refit on the "
    "whole training split and tested once.",
    "fewshot": "Few-shot: the same linear probe trained on 1% and 10% of the training labels "
    "(class-balanced, seeded subsets); its L2 penalty is chosen on a held-out 20% of the "
    "subset itself, never on the rest of the labels or the test set.",
    "finetune": "Fine-tune: the whole backbone plus a linear head trained with the labels for "
    "a few epochs (SGD with Nesterov momentum for convnets, AdamW for transformers; random "
    "crops and flips); the learning rate is chosen from a small grid on a held-out 10% of the "
    "training split and the chosen network is tested once; the random row runs the same "
    "recipe from scratch.",
    "online-linear": "Online linear: a linear classifier on detached online-backbone features "
    "trained during pretraining on the pretraining batches' labels (solo-learn's protocol), "
    "tested once at the end; its random row trains the same recipe, on the same batches for "
    "the same steps, on the frozen random-init backbone.",
    "rankme": "RankMe: the effective rank of the test-set features (Garrido et al. 2023), "
    "needing no labels; it is at most the feature width, and a collapsing representation "
    "drives it towards 1.",
    "transfer": "Transfer: the backbone pretrained on one dataset, evaluated on another "
    "dataset's own train/test split (images normalised with the pretraining statistics), "
    "beside the same backbone at random init evaluated the same way.",
    "random": "random: the same backbone at random initialisation, evaluated the same way; "
    "gain = BYOL minus random, in points of top-1. pretrained init (runs with "
    "model.pretrained=true): the timm pretrained weights BYOL started from, evaluated the "
    "same way.",
    "cells": "Cells: top-1 accuracy (%) on the test split, mean ± sample std over the seeds "
    "of ONE configuration (n=k marks a cell with fewer seeds than its row; under a time budget "
    "each seed plans its own steps, and epochs is their mean); runs that differ "
    "in any other setting are separate rows, and `differs` names what tells rows with the "
    "same label apart; rows of `byolbench evaluate` are shown apart (source evaluate).",
    "published": "published: the nearest published BYOL result of the same dataset and "
    "protocol (kNN beside kNN; online-linear rows beside published online linear heads, offline "
    "probes beside offline probes; none where nothing was published that way), the same "
    "backbone family and closest epochs preferred, labelled with its protocol and epochs; its "
    "footnote gives batch size, source and caveats.",
}
PROTOCOL_ORDER = ("knn", "linear", "fewshot", "finetune", "online-linear")
ALWAYS = ("random", "cells", "published")
PROTOCOLS: tuple[str, ...] = tuple(PROTOCOL_TEXT.values())
PROTOCOL_NOTE = " ".join(PROTOCOLS)


def protocol_statement(
    protocols: Iterable[str], rankme: bool = False, transfer: bool = False
) -> tuple[str, ...]:
    """The statement lines of ``protocols`` (every protocol when none is given), RankMe and
    transfer when shown, then the lines about baseline, cells and references."""
    present = set(protocols)
    keys = [k for k in PROTOCOL_ORDER if k in present] if present else list(PROTOCOL_ORDER)
    keys += [k for k, shown in (("rankme", rankme or not present), ("transfer", transfer)) if shown]
    return tuple(PROTOCOL_TEXT[k] for k in (*keys, *ALWAYS))
