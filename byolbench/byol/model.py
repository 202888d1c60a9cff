"""The BYOL module: online backbone + projector + predictor, EMA target backbone + projector."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from byolbench.byol.loss import multicrop_byol_loss, symmetric_byol_loss
from byolbench.byol.momentum import ema_update_
from byolbench.models.heads import MLPHead


@dataclass
class ByolOutput:
    """Result of one BYOL forward pass.

    Attributes:
        loss: The symmetric BYOL loss (0 at perfect agreement, at most 8; with small views
            the mean over all pairs times 2, the same range).
        projection_std: Std over the batch of L2-normalised online projections, averaged over
            dimensions (detached). Healthy runs sit near ``1/sqrt(d)``; collapse sends it to 0.
        features: The ONLINE backbone's features of each view, detached (for the online
            linear probe and RankMe; no gradient can flow back through them).
    """

    loss: torch.Tensor
    projection_std: torch.Tensor
    features: tuple[torch.Tensor, ...] = ()


class BYOL(nn.Module):
    """Bootstrap Your Own Latent (Grill et al. 2020).

    The target (``target_backbone``, ``target_projector``) is an EMA copy of the online
    backbone and projector: it never receives gradients and must be kept out of the optimizer
    (use ``online_parameters``). Its BatchNorm layers keep their own running statistics.

    Args:
        backbone: Maps images to pooled features ``(B, feature_dim)``.
        feature_dim: Width of the backbone's features.
        projector_hidden_dim: Hidden width of the projector.
        projector_dim: Output width of projector and predictor.
        predictor_hidden_dim: Hidden width of the predictor.
        use_predictor: Without a predictor BYOL collapses; only for demonstrations.
        fuse_views: Both views through each network in one pass of twice the batch, so
            BatchNorm normalises over both views (``byol.fuse_views``); off: one pass per view.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        projector_hidden_dim: int = 4096,
        projector_dim: int = 256,
        predictor_hidden_dim: int = 4096,
        use_predictor: bool = True,
        fuse_views: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = MLPHead(feature_dim, projector_hidden_dim, projector_dim)
        self.predictor: nn.Module = (
            MLPHead(projector_dim, predictor_hidden_dim, projector_dim)
            if use_predictor
            else nn.Identity()
        )
        self.target_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.feature_dim = feature_dim
        self.projector_dim = projector_dim
        self.fuse_views = fuse_views

    def online_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimizer updates: online backbone, projector and predictor."""
        return [
            *self.backbone.parameters(),
            *self.projector.parameters(),
            *self.predictor.parameters(),
        ]

    def target_parameters(self) -> list[nn.Parameter]:
        """Parameters of the EMA target (backbone and projector)."""
        return [*self.target_backbone.parameters(), *self.target_projector.parameters()]

    def forward(
        self,
        view1: torch.Tensor,
        view2: torch.Tensor,
        local_views: Sequence[torch.Tensor] = (),
    ) -> ByolOutput:
        """Computes the BYOL loss for two augmented views of the same images.

        Each view goes through each network in its own pass, so BatchNorm statistics are
        per view as in the reference implementation; with ``fuse_views`` both views share one
        pass of twice the batch. Small views (``local_views``, multi-crop) go through the
        online network only, all in one pass, and are regressed onto both target projections
        (``multicrop_byol_loss``).
        """
        if self.fuse_views:
            both = torch.cat((view1, view2))
            f = self.backbone(both)
            f1, f2 = f.chunk(2)
            z = self.projector(f)
            z1, z2 = z.chunk(2)
            p1, p2 = self.predictor(z).chunk(2)
            with torch.no_grad():
                t1, t2 = self.target_projector(self.target_backbone(both)).chunk(2)
        else:
            f1 = self.backbone(view1)
            f2 = self.backbone(view2)
            z1 = self.projector(f1)
            z2 = self.projector(f2)
            p1 = self.predictor(z1)
            p2 = self.predictor(z2)
            with torch.no_grad():
                t1 = self.target_projector(self.target_backbone(view1))
                t2 = self.target_projector(self.target_backbone(view2))
        if local_views:
            batch = view1.shape[0]
            local = self.predictor(self.projector(self.backbone(torch.cat(list(local_views)))))
            loss = multicrop_byol_loss(p1, p2, t1, t2, local.split(batch))
        else:
            loss = symmetric_byol_loss(p1, p2, t1, t2)
        with torch.no_grad():
            std = F.normalize(z1.detach().float(), dim=-1).std(dim=0).mean()
        return ByolOutput(loss=loss, projection_std=std, features=(f1.detach(), f2.detach()))

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """One EMA step: ``target = tau * target + (1 - tau) * online`` for every parameter.

        Call once per optimizer step (under ``accelerator.sync_gradients``), on the unwrapped
        module when the model is wrapped for distributed training.
        """
        online = [*self.backbone.parameters(), *self.projector.parameters()]
        ema_update_(self.target_parameters(), online, tau)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features of the ONLINE backbone, the network that is evaluated."""
        return self.backbone(images)
