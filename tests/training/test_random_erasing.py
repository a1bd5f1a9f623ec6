"""`random_erasing` is a training-preset option (off at every scale, as in the papers) that reaches
the training transform, and only the training transform."""

from __future__ import annotations

import copy

import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from dmlrepro.config import ConfigError, _validate
from dmlrepro.data.transforms import build_transforms
from dmlrepro.errors import UserError
from dmlrepro.training.reid_trainer import train_transform

ALWAYS = {"p": 1.0, "area": [0.1, 0.2], "ratio": 0.5}


def erasers(transform: T.Compose) -> list[T.RandomErasing]:
    return [step for step in transform.transforms if isinstance(step, T.RandomErasing)]


def test_off_at_every_scale_of_every_reid_paper(reid_presets):
    assert all(preset["random_erasing"] is None for presets in reid_presets.values() for preset in presets.values())


def test_the_trainer_builds_the_presets_random_erasing(tiny_cell):
    cell = tiny_cell(attention="none")
    assert erasers(train_transform(cell)) == []
    cell["training"]["random_erasing"] = {"p": 0.25, "area": [0.02, 0.2], "ratio": 0.3}
    (eraser,) = erasers(train_transform(cell))
    assert eraser.p == 0.25 and eraser.scale == (0.02, 0.2) and eraser.ratio == pytest.approx((0.3, 1 / 0.3))


def test_erasing_changes_the_area_asked_for_and_never_at_test_time():
    image = Image.new("RGB", (32, 64), (120, 90, 60))
    plain = build_transforms(64, 32, train=False, random_erasing=ALWAYS)(image)
    erase = build_transforms(64, 32, train=True, random_erasing=ALWAYS)
    torch.manual_seed(0)
    for _ in range(20):
        out = erase(image)  # a uniform image: flipping changes nothing, erasing does
        fraction = (out != plain).any(dim=0).float().mean().item()
        assert 0.08 <= fraction <= 0.22
    assert torch.equal(build_transforms(64, 32, train=False, random_erasing=ALWAYS)(image), plain)


def test_schema_accepts_the_public_codes_setting_and_rejects_nonsense(reid_presets):
    scales = reid_presets["csa"]
    good = copy.deepcopy(scales)
    good["smoke"]["random_erasing"] = {"p": 0.5, "area": [0.02, 0.2], "ratio": 0.3}
    _validate(good, "reid_preset.schema.yaml", "re-ID training presets")
    for bad in ({"p": 2, "area": [0.02, 0.2], "ratio": 0.3}, {"p": 0.5, "area": [0.02], "ratio": 0.3}, True):
        wrong = copy.deepcopy(scales)
        wrong["smoke"]["random_erasing"] = bad
        with pytest.raises(ConfigError, match="random_erasing"):
            _validate(wrong, "reid_preset.schema.yaml", "re-ID training presets")
    missing = copy.deepcopy(scales)
    del missing["smoke"]["random_erasing"]
    with pytest.raises(ConfigError, match="random_erasing"):
        _validate(missing, "reid_preset.schema.yaml", "re-ID training presets")


def test_an_inverted_area_range_is_a_user_error():
    with pytest.raises(UserError, match="area"):
        build_transforms(64, 32, train=True, random_erasing={"p": 0.5, "area": [0.3, 0.1], "ratio": 0.3})

