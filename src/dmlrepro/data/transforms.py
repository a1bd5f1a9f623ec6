"""Image transforms for re-ID training and testing.

The CSALR paper (000_6bea8c3e96cdf0f5.txt, Sec. 4.2) resizes to 384x128 and uses "random
horizontal flipping with 0.5 and normalization"; the CSA paper (001_5fbd5da13318fd56.txt,
Implementation Details) follows PCB's setting.  Neither mentions random erasing, but the public
CSA/CSALR code applies RandomErasing (p=0.5, area 0.02-0.2, aspect ratio >= 0.3, random Gaussian
fill; implementation-facts.md §1).  It is offered as the scale-preset option `random_erasing`
(config/presets/<paper>.yaml), off (null) at every scale.
"""

from __future__ import annotations

from typing import Any

from torchvision import transforms as T

from dmlrepro.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The public CSA/CSALR code's RandomErasing (Zhong et al. 2020 as used by open-reid): erase with
#: probability p a rectangle of `area` (fraction of the image, sampled uniformly) and aspect ratio
#: in [ratio, 1/ratio], filled with random values.
CSA_CODE_RANDOM_ERASING: dict[str, Any] = {"p": 0.5, "area": [0.02, 0.2], "ratio": 0.3}


def random_erasing_transform(options: dict[str, Any]) -> T.RandomErasing:
    """torchvision's RandomErasing from a preset's `random_erasing: {p, area: [lo, hi], ratio}`.

    torchvision samples the aspect ratio log-uniformly in [ratio, 1/ratio] (Zhong et al.'s code
    samples it uniformly) and fills with standard-normal values, which after normalisation have
    the statistics of the normalised pixels.
    """
    low, high = options["area"]
    ratio = options["ratio"]
    if not 0 < low <= high <= 1 or not 0 < ratio <= 1 or not 0 <= options["p"] <= 1:
        raise UserError(
            f"random_erasing {options}: need 0 <= p <= 1, 0 < area[0] <= area[1] <= 1 and 0 < ratio <= 1; "
            "fix it in config/presets/<paper>.yaml"
        )
    return T.RandomErasing(p=options["p"], scale=(low, high), ratio=(ratio, 1 / ratio), value="random")


def build_transforms(
    height: int, width: int, train: bool, random_erasing: dict[str, Any] | bool | None = None
) -> T.Compose:
    """PIL image -> normalised ``(3, height, width)`` tensor.

    Training adds a random horizontal flip (p=0.5) and, if ``random_erasing`` is given (a
    `{p, area, ratio}` mapping, or True for the public CSA code's settings), RandomErasing after
    normalisation (so its random fill matches the normalised pixel statistics).  Erasing is never
    applied at test time.
    """
    steps: list = [T.Resize((height, width), interpolation=T.InterpolationMode.BILINEAR)]
    if train:
        steps.append(T.RandomHorizontalFlip(p=0.5))
    steps += [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if train and random_erasing:
        options = CSA_CODE_RANDOM_ERASING if random_erasing is True else random_erasing
        steps.append(random_erasing_transform(options))
    return T.Compose(steps)
