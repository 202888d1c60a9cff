import torch

from byolbench.byol.model import BYOL
from byolbench.config import OptimConfig
from byolbench.models.backbone import backbone_spec, create_backbone
from byolbench.train.optim import build_optimizer


def _byol(seed: int = 0) -> BYOL:
    torch.manual_seed(seed)
    backbone = create_backbone("test_resnet", 16)
    return BYOL(backbone, backbone_spec(backbone).num_features, 32, 16, 32)


def _views(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    return torch.randn(n, 3, 16, 16), torch.randn(n, 3, 16, 16)


def test_target_gets_no_gradient_and_is_not_optimised():
    model = _byol()
    out = model(*_views())
    out.loss.backward()
    for name, param in model.named_parameters():
        if name.startswith("target_"):
            assert param.grad is None, name
            assert not param.requires_grad, name
        else:
            assert param.grad is not None, name
    online = [(n, p) for n, p in model.named_parameters() if not n.startswith("target_")]
    optimizer = build_optimizer(online, OptimConfig(), global_batch=8)
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not in_optimizer & {id(p) for p in model.target_parameters()}
    assert in_optimizer == {id(p) for p in model.online_parameters()}


def test_target_starts_as_copy_and_excludes_predictor():
    model = _byol()
    for t, o in zip(
        model.target_parameters(),
        [*model.backbone.parameters(), *model.projector.parameters()],
        strict=True,
    ):
        assert torch.equal(t, o) and t.data_ptr() != o.data_ptr()
    assert not hasattr(model, "target_predictor")


def test_update_target_moves_parameters_not_batchnorm_statistics():
    model = _byol()
    model(*_views())  # train-mode forward updates both networks' BN running stats
    before_buffers = {
        k: v.clone() for k, v in model.target_backbone.state_dict().items() if "running" in k
    }
    with torch.no_grad():
        for p in model.online_parameters():
            p.add_(1.0)
    targets_before = [t.clone() for t in model.target_parameters()]
    online = [*model.backbone.parameters(), *model.projector.parameters()]
    model.update_target(0.9)
    for t, before, o in zip(model.target_parameters(), targets_before, online, strict=True):
        torch.testing.assert_close(t, 0.9 * before + 0.1 * o, rtol=0, atol=1e-6)
    after_buffers = model.target_backbone.state_dict()
    for key, value in before_buffers.items():
        assert torch.equal(after_buffers[key], value), key


def test_evaluation_features_come_from_online_backbone():
    model = _byol()
    optimizer = torch.optim.SGD(model.online_parameters(), lr=0.5)
    out = model(*_views())
    out.loss.backward()
    optimizer.step()
    model.update_target(0.99)
    model.eval()
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        features = model.features(x)
        online = model.backbone(x)
        target = model.target_backbone(x)
    assert torch.equal(features, online)
    assert not torch.allclose(features, target)


def test_projection_std_is_healthy_at_init_and_zero_when_collapsed():
    model = _byol()
    out = model(*_views(32))
    assert 0.5 / 16**0.5 < out.projection_std.item() < 1.5 / 16**0.5
    same = torch.randn(1, 3, 16, 16).expand(32, -1, -1, -1)
    model.eval()  # identical inputs and fixed BN statistics give identical projections
    out = model(same, same)
    assert out.projection_std.item() < 1e-3


def test_fused_views_are_one_pass_with_batchnorm_over_both_views():
    from byolbench.byol.loss import symmetric_byol_loss

    separate, fused = _byol(), _byol()
    fused.fuse_views = True
    view1, view2 = _views()
    out = fused(view1, view2)
    both = torch.cat((view1, view2))  # what one pass of twice the batch computes
    p1, p2 = separate.predictor(separate.projector(separate.backbone(both))).chunk(2)
    with torch.no_grad():
        t1, t2 = separate.target_projector(separate.target_backbone(both)).chunk(2)
    torch.testing.assert_close(out.loss, symmetric_byol_loss(p1, p2, t1, t2))
    width = backbone_spec(fused.backbone).num_features
    assert [tuple(f.shape) for f in out.features] == [(8, width), (8, width)]
    per_view = _byol()(view1, view2).loss  # BatchNorm per view: another loss
    assert not torch.allclose(out.loss, per_view)
    separate.eval(), fused.eval()  # running statistics: the passes no longer matter
    torch.testing.assert_close(fused(view1, view2).loss, separate(view1, view2).loss)


def test_fused_views_train_only_the_online_network():
    model = _byol()
    model.fuse_views = True
    model(*_views()).loss.backward()
    assert all(p.grad is None for p in model.target_parameters())
    assert all(p.grad is not None for p in model.online_parameters())
