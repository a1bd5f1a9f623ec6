"""ImageDataset, strict image decoding, and the transforms."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile
from torch.utils.data import DataLoader

from dmlrepro.data import CorruptImageError, ImageDataset, build_transforms, read_image
from dmlrepro.data.transforms import IMAGENET_MEAN


def _image(tmp_path, name: str = "0001_c1s1_000001_00.jpg", size=(64, 128)) -> str:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    path = tmp_path / name
    Image.fromarray(pixels).save(path)
    return str(path)


def _truncate(path: str) -> None:
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def test_returns_transformed_image_pid_and_camid(tmp_path):
    items = [(_image(tmp_path, f"000{i}_c{i}s1_000001_00.jpg"), i, i - 1) for i in (1, 2, 3)]
    dataset = ImageDataset(items, build_transforms(256, 128, train=True))
    assert len(dataset) == 3
    image, pid, camid = dataset[1]
    assert image.shape == (3, 256, 128) and image.dtype == torch.float32
    assert (pid, camid) == (2, 1)
    images, pids, camids = next(iter(DataLoader(dataset, batch_size=3)))
    assert images.shape == (3, 3, 256, 128)
    assert pids.tolist() == [1, 2, 3] and camids.tolist() == [0, 1, 2]


def test_without_transform_returns_an_rgb_pil_image(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("L", (64, 128), 100).save(path)
    image, _, _ = ImageDataset([(str(path), 0, 0)])[0]
    assert image.mode == "RGB" and image.size == (64, 128)


@pytest.mark.parametrize("name", ["0001_c1s1_000001_00.jpg", "0001_c1_1.png"])
def test_truncated_image_is_refused_even_if_pil_is_told_to_allow_it(tmp_path, monkeypatch, name):
    path = _image(tmp_path, name)
    _truncate(path)
    # Another library may have switched PIL to fill truncated images with grey.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(CorruptImageError) as error:
        ImageDataset([(path, 1, 0)])[0]
    message = str(error.value)
    assert path in message and "\n" not in message
    assert "re-extract" in message and "regenerate" in message
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_unreadable_and_missing_files_are_refused(tmp_path):
    garbage = tmp_path / "0001_c1s1_000001_00.jpg"
    garbage.write_bytes(b"not an image at all")
    for path in (str(garbage), str(tmp_path / "missing.jpg")):
        with pytest.raises(CorruptImageError, match=re.escape(path)):
            read_image(path)


def test_corrupt_image_error_is_an_os_error():
    # DataLoader workers re-raise by exception type with one message argument.
    assert issubclass(CorruptImageError, OSError)
    assert str(CorruptImageError("x")) == "x"


def test_test_transform_is_deterministic_and_normalised(tmp_path):
    mean_colour = tuple(round(255 * m) for m in IMAGENET_MEAN)
    image = Image.new("RGB", (64, 128), mean_colour)
    transform = build_transforms(384, 128, train=False, random_erasing=True)
    out = transform(image)
    assert out.shape == (3, 384, 128)
    assert out.abs().max() < 0.02  # the ImageNet mean maps to zero
    assert torch.equal(out, transform(image))  # no flip, and no erasing at test time


def test_train_transform_flips_about_half_the_time(tmp_path):
    image = Image.open(_image(tmp_path))
    plain = build_transforms(128, 64, train=False)(image)
    train = build_transforms(128, 64, train=True)
    torch.manual_seed(0)
    flips = []
    for _ in range(200):
        out = train(image)
        assert torch.equal(out, plain) or torch.equal(out, plain.flip(-1))
        flips.append(torch.equal(out, plain.flip(-1)))
    assert 0.35 < np.mean(flips) < 0.65


def test_random_erasing_is_optional(tmp_path):
    image = Image.open(_image(tmp_path))
    plain = build_transforms(128, 64, train=False)(image)
    erasing = build_transforms(128, 64, train=True, random_erasing=True)
    torch.manual_seed(0)
    erased = sum(not (torch.equal(o, plain) or torch.equal(o, plain.flip(-1)))
                 for o in (erasing(image) for _ in range(100)))
    assert 30 < erased < 70  # p = 0.5
