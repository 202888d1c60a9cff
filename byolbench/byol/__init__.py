"""The BYOL core: loss, target-momentum schedule and EMA, and the BYOL module.

It knows nothing of Accelerate: the trainer calls ``model(v1, v2).loss`` and
``update_target(tau)``.
"""

from byolbench.byol.loss import multicrop_byol_loss, regression_loss, symmetric_byol_loss
from byolbench.byol.model import BYOL, ByolOutput
from byolbench.byol.momentum import ema_update_, tau_schedule

__all__ = [
    "BYOL",
    "ByolOutput",
    "ema_update_",
    "multicrop_byol_loss",
    "regression_loss",
    "symmetric_byol_loss",
    "tau_schedule",
]
