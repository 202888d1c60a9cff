"""Each batched op equals torchvision's per-image op for the same parameters."""

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from byolbench.augment import ops
from byolbench.augment.view import ViewParams, ViewSpec, apply_view

N = 6


@pytest.fixture
def images() -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.rand(N, 3, 20, 20)
    x[0] = 0.5  # a flat grey image (hue and saturation corner cases)
    x[1, 0] = 1.0  # saturated red channel
    return x


def _per_image(fn, x, factors):
    return torch.stack([fn(x[i], float(factors[i])) for i in range(x.shape[0])])


@pytest.mark.parametrize(
    "ours, theirs, low, high",
    [
        (ops.adjust_brightness, TF.adjust_brightness, 0.6, 1.4),
        (ops.adjust_contrast, TF.adjust_contrast, 0.6, 1.4),
        (ops.adjust_saturation, TF.adjust_saturation, 0.8, 1.2),
        (ops.adjust_hue, TF.adjust_hue, -0.1, 0.1),
    ],
)
def test_colour_ops_match_torchvision(images, ours, theirs, low, high):
    factors = torch.linspace(low, high, N)
    torch.testing.assert_close(
        ours(images, factors), _per_image(theirs, images, factors), rtol=0, atol=2e-5
    )


def test_grayscale_and_solarize_match_torchvision(images):
    expected = torch.stack([TF.rgb_to_grayscale(img, num_output_channels=3) for img in images])
    torch.testing.assert_close(ops.to_grayscale_rgb(images), expected, rtol=0, atol=1e-6)
    expected = torch.stack([TF.solarize(img, threshold=0.5) for img in images])
    torch.testing.assert_close(ops.solarize(images, 0.5), expected)


@pytest.mark.parametrize("kernel", [3, 23])
def test_gaussian_blur_matches_torchvision(kernel):
    torch.manual_seed(1)
    images = torch.rand(N, 3, 32, 32)
    sigmas = torch.linspace(0.1, 2.0, N)
    expected = torch.stack(
        [
            TF.gaussian_blur(images[i], kernel_size=[kernel, kernel], sigma=[float(sigmas[i])] * 2)
            for i in range(N)
        ]
    )
    torch.testing.assert_close(
        ops.gaussian_blur(images, sigmas, kernel), expected, rtol=0, atol=1e-5
    )


def test_resized_crop_and_flip_match_torchvision():
    torch.manual_seed(2)
    images = torch.rand(N, 3, 32, 32)
    boxes = torch.tensor(
        [
            [0, 0, 32, 32],
            [3, 5, 10, 14],
            [10, 2, 20, 16],
            [0, 0, 5, 5],
            [7, 11, 25, 21],
            [16, 16, 16, 16],
        ],
        dtype=torch.float32,
    )
    flips = torch.tensor([False, True, False, True, True, False])
    out = ops.resized_crop(images, boxes, 32, flips)
    for i in range(N):
        top, left, h, w = (int(v) for v in boxes[i])
        expected = TF.resized_crop(images[i], top, left, h, w, [32, 32], antialias=False)
        if flips[i]:
            expected = TF.horizontal_flip(expected)
        torch.testing.assert_close(out[i], expected, rtol=0, atol=1e-5)


def test_jitter_applies_factors_in_each_samples_own_order(images):
    spec = ViewSpec(grayscale_p=0.0, blur_p=0.0, solarize_p=0.0)
    orders = torch.tensor(
        [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1], [0, 3, 1, 2], [3, 1, 2, 0]]
    )
    params = ViewParams(
        boxes=torch.tensor([[0.0, 0.0, 20.0, 20.0]]).repeat(N, 1),
        flip=torch.zeros(N, dtype=torch.bool),
        jitter=torch.ones(N, dtype=torch.bool),
        jitter_order=orders,
        brightness=torch.linspace(0.7, 1.3, N),
        contrast=torch.linspace(1.3, 0.7, N),
        saturation=torch.linspace(0.8, 1.2, N),
        hue=torch.linspace(-0.1, 0.1, N),
        grayscale=torch.zeros(N, dtype=torch.bool),
        blur=torch.zeros(N, dtype=torch.bool),
        sigma=torch.ones(N),
        solarize=torch.zeros(N, dtype=torch.bool),
    )
    out = apply_view(images, params, spec, 20)
    fns = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    factors = [params.brightness, params.contrast, params.saturation, params.hue]
    for i in range(N):
        expected = images[i]
        for op in orders[i].tolist():
            expected = fns[op](expected, float(factors[op][i]))
        torch.testing.assert_close(out[i], expected, rtol=0, atol=5e-5)
