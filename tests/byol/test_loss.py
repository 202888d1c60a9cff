import torch
import torch.nn.functional as F

from byolbench.byol.loss import regression_loss, symmetric_byol_loss


def _hand_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """2 - 2 cos per sample, computed row by row."""
    values = []
    for a, b in zip(p, z, strict=True):
        cos = (a @ b) / (a.norm() * b.norm())
        values.append(2 - 2 * cos)
    return torch.stack(values).mean()


def test_regression_loss_equals_two_minus_two_cosine():
    torch.manual_seed(0)
    p, z = torch.randn(6, 5), torch.randn(6, 5)
    torch.testing.assert_close(regression_loss(p, z), _hand_loss(p, z))
    # also the squared distance of the normalised vectors
    expected = (F.normalize(p, dim=1) - F.normalize(z, dim=1)).pow(2).sum(1).mean()
    torch.testing.assert_close(regression_loss(p, z), expected)


def test_symmetric_loss_sums_both_directions():
    torch.manual_seed(1)
    p1, p2, z1, z2 = (torch.randn(4, 8) for _ in range(4))
    expected = _hand_loss(p1, z2) + _hand_loss(p2, z1)
    torch.testing.assert_close(symmetric_byol_loss(p1, p2, z1, z2), expected)
    # summed, not averaged: identical predictions and targets give 0, opposite give 8
    assert symmetric_byol_loss(z1, z2, z1, z2).item() > 0
    same = torch.ones(3, 4)
    assert symmetric_byol_loss(same, same, -same, -same).item() == 8.0


def test_loss_gives_no_gradient_to_target():
    p = torch.randn(4, 3, requires_grad=True)
    z = torch.randn(4, 3, requires_grad=True)
    regression_loss(p, z).backward()
    assert p.grad is not None
    assert z.grad is None
