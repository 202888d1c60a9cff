import math

import torch

from byolbench.byol.momentum import ema_update_, tau_schedule


def test_tau_schedule_endpoints_and_midpoint():
    base, total = 0.99, 1000
    assert tau_schedule(0, total, base) == base
    assert math.isclose(
        tau_schedule(total // 2, total, base), (1 + base) / 2, rel_tol=0, abs_tol=1e-12
    )
    assert tau_schedule(total, total, base) == 1.0
    values = [tau_schedule(k, total, base) for k in range(total + 1)]
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))


def test_ema_update_is_exact_for_representable_values():
    target = [torch.tensor([1.0, 2.0, -4.0]), torch.tensor([[0.5]])]
    online = [torch.tensor([3.0, -2.0, 4.0]), torch.tensor([[1.5]])]
    expected = [0.5 * t + 0.5 * o for t, o in zip(target, online, strict=True)]
    ema_update_(target, online, 0.5)
    for got, want in zip(target, expected, strict=True):
        assert torch.equal(got, want)


def test_ema_update_matches_formula():
    torch.manual_seed(0)
    target = [torch.randn(10, 7), torch.randn(3)]
    online = [torch.randn(10, 7), torch.randn(3)]
    tau = 0.996
    expected = [tau * t + (1 - tau) * o for t, o in zip(target, online, strict=True)]
    ema_update_(target, online, tau)
    for got, want in zip(target, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_ema_with_tau_zero_copies_and_one_keeps():
    target, online = [torch.zeros(4)], [torch.arange(4.0)]
    ema_update_(target, online, 1.0)
    assert torch.equal(target[0], torch.zeros(4))
    ema_update_(target, online, 0.0)
    assert torch.equal(target[0], online[0])
