"""A ``torch.utils.data.Dataset`` over ``(img_path, pid, camid)`` items, after torchreid's
``ImageDataset``, that refuses truncated or unreadable images instead of training on them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from PIL import Image, ImageFile
from torch.utils.data import Dataset

from dmlrepro.data.reid_dataset import Item
from dmlrepro.errors import UserError


class CorruptImageError(UserError, OSError):
    """An image that cannot be fully decoded; the one-line message names the file and the fix.
    Also an OSError, what PIL raises for such files, for callers that catch that."""


# LOAD_TRUNCATED_IMAGES is a process-wide PIL switch that other libraries set to True; hold it at
# False around each decode, under a lock so that threads reading images do not race on it.
_TRUNCATION_LOCK = threading.Lock()


@contextmanager
def _refuse_truncated_images() -> Iterator[None]:
    with _TRUNCATION_LOCK:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def read_image(path: str) -> Image.Image:
    """The RGB image at ``path``, fully decoded; ``CorruptImageError`` if it is truncated,
    unreadable or missing."""
    try:
        with _refuse_truncated_images(), Image.open(path) as image:
            # Image.open is lazy: only load() decodes the pixel data and detects truncation.
            image.load()
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise CorruptImageError(
            f"cannot decode image {path} ({reason}); re-extract the dataset archive, or "
            "regenerate the synthetic dataset with `python -m dmlrepro.data.synthetic`"
        ) from error


class ImageDataset(Dataset):
    """``(transform(image), pid, camid)`` for each ``(img_path, pid, camid)`` in ``items``."""

    def __init__(self, items: Sequence[Item], transform: Callable[[Image.Image], Any] | None = None):
        self.items = list(items)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        path, pid, camid = self.items[index]
        image = read_image(path)
        if self.transform is not None:
            image = self.transform(image)
        return image, pid, camid
