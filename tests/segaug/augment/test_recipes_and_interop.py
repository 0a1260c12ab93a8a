"""Recipes, the per-sample multi-view callable, geometry vs torchvision, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from helpers.numerics import assert_close
from PIL import Image
from torchvision import tv_tensors

from segaug import RandomResizedCropFlip, RegionAugment, RegionMultiViewTransform, recipes
from segaug.augment.ops import ColorJitter, GaussianBlur, RandomGrayscale
from segaug.registry import Registry


def test_thesis_recipe_matches_the_thesis_text():
    aug = recipes.thesis(output_size=224)
    (fg,) = aug.foreground
    assert isinstance(fg, ColorJitter) and fg.p == 0.8
    for rng in (fg.brightness, fg.contrast, fg.saturation):
        assert rng == pytest.approx((0.2, 1.8))
    assert fg.hue == pytest.approx((-0.2, 0.2))
    blur, gray = aug.background
    assert isinstance(blur, GaussianBlur) and blur.p == 0.85 and blur.kernel_for((224, 224)) == 23
    assert isinstance(gray, RandomGrayscale) and gray.p == 0.3
    assert aug.coverage == (0.05, 0.90)
    assert aug.geometric.scale == (0.08, 1.0) and aug.geometric.flip_p == 0.5
    cj, g, b = aug.fallback
    assert cj.brightness == pytest.approx((0.6, 1.4)) and cj.hue == pytest.approx((-0.1, 0.1))
    assert cj.p == 0.8
    assert g.p == 0.2 and b.p == 0.5
    # RegionAugment's defaults are the thesis recipe
    default = RegionAugment()
    assert repr(default) == repr(aug)


def test_small_images_drop_the_global_blur_as_in_the_thesis_cifar_setup():
    assert not any(isinstance(op, GaussianBlur) for op in recipes.simclr(output_size=32).fallback)
    assert any(isinstance(op, GaussianBlur) for op in recipes.simclr(output_size=96).fallback)
    assert any(
        isinstance(op, GaussianBlur) for op in recipes.simclr(output_size=32, blur=True).fallback
    )


@pytest.mark.parametrize("name", recipes.names())
def test_every_recipe_runs_on_photos(name, photos, center_masks):
    aug = recipes.build(name, output_size=32)
    v1, v2 = aug.pair(photos, center_masks)
    for v in (v1, v2):
        assert v.images.shape == (4, 3, 32, 32)
        assert v.images.min() >= 0 and v.images.max() <= 1
        assert v.masks.shape == (4, 1, 32, 32)


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(
        ValueError, match="unknown recipe 'fancy'; expected one of background_fill, background_swap"
    ):
        recipes.build("fancy")


def test_crop_matches_torchvision_resized_crop_in_the_interior():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 40, 40)
    geo = RandomResizedCropFlip(32)
    params = {"boxes": torch.tensor([[5, 7, 20, 16]]), "flip": torch.tensor([False])}
    out, _ = geo.apply(x, torch.ones(1, 1, 40, 40), params)
    ref = TF.resized_crop(x[0], top=7, left=5, height=16, width=20, size=[32, 32], antialias=False)
    # Borders differ only because grid_sample sees pixels outside the crop.
    assert_close(out[0, :, 1:-1, 1:-1], ref[:, 1:-1, 1:-1])


def test_multiview_transform_accepts_pil_numpy_and_tv_tensors(photos, center_masks):
    t = RegionMultiViewTransform(recipes.thesis(output_size=24), n_views=3)
    img = photos[0].permute(1, 2, 0).numpy()
    mask = center_masks[0, 0].numpy()
    for image, m in [
        (Image.fromarray(img), Image.fromarray(mask * 255)),
        (img, mask),
        (tv_tensors.Image(photos[0]), tv_tensors.Mask(center_masks[0])),
    ]:
        views = t(image, m)
        assert len(views) == 3
        assert all(v.shape == (3, 24, 24) for v in views)
    assert len(t((img, mask))) == 3


def test_multiview_transform_in_a_dataloader(photos, center_masks):
    class DS(torch.utils.data.Dataset):
        def __init__(self, transform):
            self.transform = transform

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return self.transform(photos[i], center_masks[i]), i

    loader = torch.utils.data.DataLoader(
        DS(RegionMultiViewTransform(recipes.thesis(output_size=16))), batch_size=2
    )
    (v1, v2), idx = next(iter(loader))
    assert v1.shape == (2, 3, 16, 16) and v2.shape == (2, 3, 16, 16)


def test_multiview_transform_bad_input():
    t = RegionMultiViewTransform(recipes.thesis(output_size=16))
    with pytest.raises(ValueError, match="mask is required"):
        t(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"image array must be \(H, W, 3\)"):
        t(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="augment must be a RegionAugment"):
        RegionMultiViewTransform(lambda x: x)


def test_registry_rejects_duplicates_and_unknown_names():
    reg = Registry("thing")

    @reg.register("a")
    def make_a():
        return 1

    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(make_a)
    with pytest.raises(ValueError, match="lower-case"):
        reg.register("B")
    with pytest.raises(ValueError, match="unknown thing 'b'; expected one of a"):
        reg.get("b")
    assert reg.create("a") == 1 and "a" in reg and reg.names() == ["a"]
