"""The BYOL step as the Lightly SSL library documents it (examples/pytorch/byol.py).

Lightly's heads, loss, momentum update and BYOL transforms, run in DataLoader workers on
PIL images, fp32, as the peer reference for throughput. The backbone is the same module
byolbench trains, so only the surrounding pipeline differs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset


class _PILDataset(Dataset):
    """The in-memory uint8 images as PIL images, transformed in the workers."""

    def __init__(self, images: torch.Tensor, transform: Callable) -> None:
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> object:
        array = self.images[index].permute(1, 2, 0).numpy()
        return self.transform(Image.fromarray(array)), 0


class LightlyBYOL(nn.Module):
    """Lightly's documented BYOL module (paper head sizes 4096 -> 256 by default)."""

    def __init__(
        self, backbone: nn.Module, feature_dim: int, hidden_dim: int = 4096, out_dim: int = 256
    ) -> None:
        from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        super().__init__()
        self.backbone = backbone
        self.projection_head = BYOLProjectionHead(feature_dim, hidden_dim, out_dim)
        self.prediction_head = BYOLPredictionHead(out_dim, hidden_dim, out_dim)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_head_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Online prediction."""
        return self.prediction_head(self.projection_head(self.backbone(x).flatten(start_dim=1)))

    def forward_momentum(self, x: torch.Tensor) -> torch.Tensor:
        """Target projection."""
        y = self.backbone_momentum(x).flatten(start_dim=1)
        return self.projection_head_momentum(y).detach()


def lightly_loader(
    images: torch.Tensor,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int,
    workers: int,
    min_scale: float = 0.08,
) -> DataLoader:
    """Lightly's BYOL transforms (no blur at 32 px, as its CIFAR examples) in workers."""
    from lightly.transforms.byol_transform import (
        BYOLTransform,
        BYOLView1Transform,
        BYOLView2Transform,
    )

    blur = 0.0 if image_size <= 64 else 1.0
    normalize = {"mean": list(mean), "std": list(std)}
    transform = BYOLTransform(
        view_1_transform=BYOLView1Transform(
            input_size=image_size, gaussian_blur=blur, normalize=normalize, min_scale=min_scale
        ),
        view_2_transform=BYOLView2Transform(
            input_size=image_size,
            gaussian_blur=blur * 0.1,
            normalize=normalize,
            min_scale=min_scale,
        ),
    )
    return DataLoader(
        _PILDataset(images, transform),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
    )


def run_lightly_steps(
    model: LightlyBYOL,
    loader: DataLoader,
    device: torch.device,
    steps: int,
    on_step: Callable[[], None],
) -> None:
    """The documented training loop (SGD lr 0.06, cosine momentum 0.996 -> 1)."""
    from lightly.loss import NegativeCosineSimilarity
    from lightly.models.utils import update_momentum
    from lightly.utils.scheduler import cosine_schedule

    criterion = NegativeCosineSimilarity()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.06)
    done = 0
    while done < steps:
        for (x0, x1), _ in loader:
            momentum = cosine_schedule(done, steps, 0.996, 1)
            update_momentum(model.backbone, model.backbone_momentum, m=momentum)
            update_momentum(model.projection_head, model.projection_head_momentum, m=momentum)
            x0, x1 = x0.to(device), x1.to(device)
            p0, z0 = model(x0), model.forward_momentum(x0)
            p1, z1 = model(x1), model.forward_momentum(x1)
            loss = 0.5 * (criterion(p0, z1) + criterion(p1, z0))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            on_step()
            done += 1
            if done >= steps:
                return
